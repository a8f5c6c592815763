"""The inference precision a run names is the one it ran."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def test_inference_precision_follows_the_request_and_the_cpu():
    from CardiacSSLLib.device import cpu_has_bf16, inference_autocast, inference_precision
    from CardiacSSLLib.errors import InputError

    cpu = torch.device("cpu")
    assert inference_precision(cpu, "fp32") == "fp32"
    assert inference_precision(cpu, "bf16") == "bf16"
    # auto: bf16 only where this CPU computes it natively (so benchmark numbers differ by machine)
    assert inference_precision(cpu, "auto") == ("bf16" if cpu_has_bf16() else "fp32")
    with pytest.raises(InputError, match="unknown precision"):
        inference_precision(cpu, "fp16")
    x = torch.randn(4, 4)
    for precision in ("fp32", "bf16", "auto"):
        with inference_autocast(cpu, precision):
            dtype = (x @ x).dtype
        assert dtype == (torch.bfloat16 if inference_precision(cpu, precision) == "bf16" else torch.float32)
