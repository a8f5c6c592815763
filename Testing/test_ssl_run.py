"""The one-command SSL run (pretrain every method, then the paired few-shot table) works end to end, tiny, on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_ssl_run_smoke_pretrains_and_pairs_every_start(tmp_path, acdc_dir, sunnybrook_dir):
    out = tmp_path / "ssl"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "ssl_run.py"), "--smoke", "--out", str(out)]
    cmd += ["--acdc", str(acdc_dir), "--sunnybrook", str(sunnybrook_dir)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    backbone = json.loads((out / "mim" / "backbone.json").read_text())
    assert {"passed", "drift", "rank"} <= set(backbone["health"])  # the checks ran on the backbone
    # pretraining saw the ACDC training split and Sunnybrook only, never validation or test patients
    assert backbone["data"]["sources"] == [f"acdc:{acdc_dir}:train", f"sunnybrook:{sunnybrook_dir}"]
    cells = sorted(p.parent.name for p in (out / "fewshot").rglob("result.json"))
    assert cells == sorted(
        ["scratch", "semi:mean_teacher", str(out / "mim" / "backbone.safetensors").replace("/", "_")]
    )
    assert "paired gain over scratch" in proc.stdout and "semi:mean_teacher" in proc.stdout
