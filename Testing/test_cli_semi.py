"""``cardiacssl finetune --semi``: a Mean Teacher run from the command line, at the inference spacing, repeatable."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")


def _run(tmp_path, acdc_dir, name: str) -> dict:
    from safetensors.numpy import load_file

    from CardiacSSLLib.cli.main import main

    out = tmp_path / name
    argv = ["finetune", "--acdc", str(acdc_dir), "--acdc-patients", "patient001", "--acdc-val", "none"]
    argv += ["--semi", "mean_teacher", "--unlabelled", "phantom:1", "--steps", "3", "--batch-size", "2"]
    argv += ["--patch-size", "64", "--device", "cpu", "--seed", "4", "--out", str(out), "--json-progress"]
    assert main(argv) == 0
    cfg = json.loads((out / "model.json").read_text())
    return {"cfg": cfg, "weights": load_file(str(out / "model.safetensors"))}


def test_semi_supervised_command_line_run_is_consistent_and_repeatable(tmp_path, acdc_dir):
    a = _run(tmp_path, acdc_dir, "a")
    b = _run(tmp_path, acdc_dir, "b")
    assert a["cfg"]["semi_supervised"] == "mean_teacher"
    assert a["cfg"]["preprocess"]["target_spacing"] == 1.5  # inference sees what training saw
    assert a["cfg"]["training"]["acdc_train"] == ["patient001"]
    assert a["weights"].keys() == b["weights"].keys()
    assert all((a["weights"][k] == b["weights"][k]).all() for k in a["weights"])


def test_semi_needs_unlabelled_frames(tmp_path, capsys):
    from CardiacSSLLib.cli.main import main

    train_set = tmp_path / "empty"
    argv = ["finetune", "--train-set", str(train_set), "--semi", "cps", "--out", str(tmp_path / "m")]
    assert main(argv) == 2
    assert "unlabelled" in capsys.readouterr().err
