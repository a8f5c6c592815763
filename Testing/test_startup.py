"""Light commands stay light: `--help`, `models` and `metrics` on a label map never import torch or MONAI.

Each command runs in a fresh interpreter (the test process itself has torch loaded), which
then reports the heavy packages it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "monai")

_PROBE = """
import contextlib, io, json, sys
from CardiacSSLLib.cli.main import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    rc = main(json.loads(sys.argv[1]))
heavy = sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)
print(json.dumps({"rc": rc, "out": out.getvalue(), "heavy": heavy}))
"""


def _run(argv: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argv), json.dumps(HEAVY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("argv", "expect"),
    [
        (["--help"], "segment"),
        (["pretrain", "--help"], "pix2rep"),  # the method choices are still listed
        (["models"], "acdc-unet16"),
    ],
)
def test_light_command_imports_no_torch(argv, expect):
    result = _run(argv)
    assert result["rc"] == 0
    assert expect in result["out"]
    assert result["heavy"] == [], f"`cardiacssl {' '.join(argv)}` imported {result['heavy']}"


def test_metrics_on_a_label_map_imports_no_torch(tmp_path):
    label = np.zeros((2, 4, 24, 24), dtype=np.uint8)
    label[:, 1:3, 6:16, 6:16] = 2
    label[0, 1:3, 8:14, 8:14] = 1
    label[1, 1:3, 10:12, 10:12] = 1
    img = sitk.JoinSeries([sitk.GetImageFromArray(f) for f in label])
    img.SetSpacing((1.5, 1.5, 8.0, 30.0))
    path = tmp_path / "seg.nii.gz"
    sitk.WriteImage(img, str(path))
    result = _run(["metrics", str(path), "--json"])
    assert result["rc"] == 0
    assert json.loads(result["out"])["summary"]["lv_edv_ml"] > 0
    assert result["heavy"] == []
