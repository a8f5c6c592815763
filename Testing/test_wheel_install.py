"""The project as a user installs it: a wheel (not editable) in a fresh venv, used from outside the checkout.

Nothing is downloaded: the wheel is built without build isolation, and the fresh venv sees
the heavy dependencies (torch, slicer-core, trame-slicer) of the environment running the
tests through a .pth file; only the wheel's own packages are installed into it.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "CardiacSSLLib", "CardiacSSLWorkflow", "CardiacSSLWeb")

SMOKE = """
import json, sys
from pathlib import Path

import slicer
import torch

import CardiacSSLLib, CardiacSSLWeb, CardiacSSLWorkflow
from CardiacSSLLib.checkpoint import save_checkpoint
from CardiacSSLLib.models.unet import UNetConfig, build_unet
from CardiacSSLLib.phantom import make_phantom
from CardiacSSLWeb.session import Session

work = Path(sys.argv[1])
torch.manual_seed(0)
config = UNetConfig(features=(4, 8, 16))
save_checkpoint(work / "tiny", build_unet(config).state_dict(),
                {"kind": "segmentation", "network": config.to_dict(), "preprocess": {"target_spacing": None}})
session = Session(slicer.vtkMRMLScene(), train_set=work / "trainingset")
session.show_cine(make_phantom(n_frames=3, n_slices=2, size=48, seed=0))
job = session.prepare_prediction(str(work / "tiny"), "all", "cpu", False)
result = session.add_prediction(job, Session.predict(job))
cases = session.add_to_training_set("current")
metrics = session.compute_metrics()
name, data = session.segmentation_file()
print(json.dumps({
    "modules": [m.__file__ for m in (CardiacSSLLib, CardiacSSLWorkflow, CardiacSSLWeb)],
    "frames": result.frames, "cases": len(cases), "rows": metrics.table.GetNumberOfRows(),
    "download": name, "bytes": len(data),
}))
"""


def _run(command: list, cwd: Path, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(venv python, venv bin, a work folder outside the checkout, env)`` with the wheel installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["CARDIACSSL_HOME"] = str(tmp / "home")
    src = tmp / "src"  # a copy: building writes build/ and *.egg-info beside the sources
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    dist = tmp / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", dist, src],
        tmp,
        env,
    )
    (wheel,) = dist.glob("*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp, env)
    python = venv / "bin" / "python"
    purelib = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp, env).stdout.strip()
    )
    # the dependencies of this environment, read-only and after the venv's own site-packages
    here = [p for p in {*site.getsitepackages(), sysconfig.get_paths()["purelib"]} if Path(p).is_dir()]
    (purelib / "_cardiacssl_test_deps.pth").write_text("\n".join(sorted(here)) + "\n")
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", wheel], tmp, env)
    work = tmp / "work"
    work.mkdir()
    return python, venv / "bin", work, env


@pytest.mark.slow
def test_cardiacssl_web_help_from_the_wheel(installed):
    python, bin_dir, work, env = installed
    top = _run([bin_dir / "cardiacssl", "--help"], work, env, timeout=120).stdout
    assert "web" in top and "segment" in top
    web = _run([bin_dir / "cardiacssl", "web", "--help"], work, env, timeout=120).stdout
    assert "--allow-remote" in web and "--train-set" in web
    same = _run([python, "-m", "CardiacSSLWeb", "--help"], work, env, timeout=120).stdout
    assert same == web  # python -m CardiacSSLWeb is the same subcommand


@pytest.mark.slow
def test_web_session_smoke_from_the_wheel(installed):
    python, _, work, env = installed
    done = _run([python, "-c", SMOKE, work], work, env)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    venv = python.parent.parent.resolve()
    for module in report["modules"]:  # the installed wheel, not the checkout
        assert Path(module).resolve().is_relative_to(venv), module
    assert report["frames"] == [0, 1, 2] and report["cases"] == 1 and report["rows"] >= 9
    assert report["download"].endswith("_seg.nii.gz") and report["bytes"] > 0
