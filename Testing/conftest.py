"""Shared fixtures: the real data beside the project, skipped clearly when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CARDIACSSL_DATA", ROOT.parent / "shared" / "data"))


def _require(path: Path) -> Path:
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the real data at {path}")
        pytest.skip(f"real data not found at {path} (set CARDIACSSL_DATA or place ../shared/data beside the clone)")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return _require(DATA)


@pytest.fixture(scope="session")
def acdc_dir() -> Path:
    return _require(DATA / "acdc")


@pytest.fixture(scope="session")
def sunnybrook_dir() -> Path:
    return _require(DATA / "sunnybrook")


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    try:
        import torch

        # OMP_NUM_THREADS wins: a second process on a small machine stalls 2-thread OpenMP runs
        threads = int(os.environ.get("OMP_NUM_THREADS") or 0) or max(1, min(2, os.cpu_count() or 1))
        torch.set_num_threads(threads)
    except ImportError:
        pass


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody can write into: chmod for a normal user, the immutable flag for root."""
    import shutil
    import subprocess

    folder = tmp_path / "readonly"
    folder.mkdir()
    undo = None
    if os.geteuid() != 0:
        folder.chmod(0o555)
        undo = lambda: folder.chmod(0o755)  # noqa: E731
    elif shutil.which("chattr") and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        undo = lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)  # noqa: E731
    else:
        pytest.skip("running as root on a file system without the immutable flag: cannot make a read-only folder")
    try:
        yield folder
    finally:
        undo()
