"""Installing the module's packages never replaces torch or Slicer's own packages; loading needs no torch.

The pip checks run real pip (``--dry-run``, offline, against wheels the test writes) with
the arguments the module gives Slicer's installer, so nothing in this environment changes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from CardiacSSLPanel import install_logic

ROOT = Path(__file__).resolve().parents[1]


def _wheel(folder: Path, name: str, version: str, requires: list[str]) -> Path:
    """A minimal valid pure-Python wheel (metadata only) that pip can resolve offline."""
    stem = f"{name.replace('-', '_')}-{version}"  # wheel file names use underscores
    dist = f"{stem}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    wheel = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    path = folder / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{dist}/METADATA", metadata)
        z.writestr(f"{dist}/WHEEL", wheel)
        z.writestr(f"{dist}/RECORD", f"{dist}/METADATA,,\n{dist}/WHEEL,,\n{dist}/RECORD,,\n")
    return path


def _pip_dry_run(folder: Path, args: list[str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--find-links", str(folder), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def index(tmp_path):
    """An offline index where a new package wants a newer numpy (and so a replaced Slicer numpy)."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    _wheel(folder, "numpy", "999.0", [])
    _wheel(folder, "cardiacssl-needs-new-numpy", "1.0", ["numpy>=999"])
    _wheel(folder, "cardiacssl-plain", "1.0", [])
    return folder


def test_plan_pins_torch_and_bundled_packages_at_their_versions(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy>=999\ntorch>=999\ncardiacssl-no-such-pkg>=1\n")
    plan = install_logic.install_plan(requirements)
    assert plan.packages == ["cardiacssl-no-such-pkg>=1"]  # numpy and torch are never installed from here
    import numpy

    assert plan.pinned["numpy"] == numpy.__version__
    constraints = plan.write_constraints(tmp_path).read_text().splitlines()
    assert f"numpy=={numpy.__version__}" in constraints
    message = plan.message()
    assert "cardiacssl-no-such-pkg>=1" in message and f"numpy {numpy.__version__}" in message


def test_without_constraints_pip_would_replace_numpy_with_them_it_refuses(tmp_path, index, monkeypatch):
    unprotected = _pip_dry_run(index, ["cardiacssl-needs-new-numpy"])
    assert unprotected.returncode == 0 and "numpy-999.0" in unprotected.stdout  # the danger is real
    plan = install_logic.InstallPlan(
        ["cardiacssl-needs-new-numpy", "cardiacssl-plain"], install_logic.pinned_versions()
    )
    runs = []
    monkeypatch.setitem(sys.modules, "slicer.packaging", None)  # Slicer 5.10/5.11: no slicer.packaging
    slicer = pytest.importorskip("slicer", reason="slicer-core provides the slicer package")
    util = SimpleNamespace(pip_install=lambda args: runs.append(_pip_dry_run(index, args)))
    monkeypatch.setattr(slicer, "util", util, raising=False)
    install_logic._install(plan, plan.write_constraints(tmp_path))
    assert len(runs) == 1 and runs[0].returncode != 0 and "numpy-999.0" not in runs[0].stdout
    plan.packages = ["cardiacssl-plain"]
    install_logic._install(plan, plan.write_constraints(tmp_path))
    assert runs[1].returncode == 0 and "cardiacssl-plain-1.0" in runs[1].stdout.replace("_", "-"), runs[1].stderr


def test_slicer_512_installs_through_pip_ensure_with_the_constraints(tmp_path, index, monkeypatch):
    slicer = pytest.importorskip("slicer", reason="slicer-core provides the slicer package")
    calls = []

    def pip_ensure(requirements, constraints=None, prompt_install=True, requester=None, **kwargs):
        calls.append((requirements, prompt_install, requester))
        return _pip_dry_run(index, ["-c", str(constraints), *requirements])

    packaging = SimpleNamespace(pip_ensure=pip_ensure)
    monkeypatch.setitem(sys.modules, "slicer.packaging", packaging)
    monkeypatch.setattr(slicer, "packaging", packaging, raising=False)
    plan = install_logic.InstallPlan(["cardiacssl-needs-new-numpy"], install_logic.pinned_versions())
    install_logic._install(plan, plan.write_constraints(tmp_path))
    assert calls == [(["cardiacssl-needs-new-numpy"], False, "CardiacSSL")]  # the module asked already


def test_torch_version_is_checked_not_just_its_presence(monkeypatch):
    versions = {"torch": "1.13.1"}
    monkeypatch.setattr(install_logic, "installed_version", lambda name: versions.get(name))
    assert "1.13.1" in install_logic.torch_problem()
    with pytest.raises(RuntimeError, match="does not replace an installed PyTorch"):
        install_logic.ensure_torch()
    versions["torch"] = "2.5.1+cu121"
    assert install_logic.torch_problem() is None and install_logic.ensure_torch()
    versions.clear()
    assert install_logic.torch_problem() == "PyTorch is not installed"


def test_loading_a_cine_into_the_scene_needs_neither_torch_nor_monai(tmp_path):
    pytest.importorskip("slicer", reason="slicer-core is needed for the MRML tests")
    from CardiacSSLLib.io import write_cine
    from CardiacSSLLib.phantom import make_phantom

    path = write_cine(make_phantom(n_frames=2, n_slices=2, size=32, seed=1), tmp_path / "cine.nii.gz")
    script = textwrap.dedent(
        f"""
        import sys
        for name in ("torch", "monai", "safetensors"):
            sys.modules[name] = None  # any import of them fails
        import slicer
        from CardiacSSLLib.io import load_cine
        from CardiacSSLWorkflow.mrml_convert import cine_to_sequence
        cine = load_cine({str(path)!r}, allow_single_frame=True)
        nodes = cine_to_sequence(cine, slicer.vtkMRMLScene(), name="c")
        print(nodes.sequence.GetNumberOfDataNodes())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
