"""The import graph: the library at the bottom, the workflow layer above it, the front ends on top.

Every import statement of the shipped packages is read (top level and inside functions), so
a lazy import that runs back up is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRONT_ENDS = {"CardiacSSLWeb", "CardiacSSLPanel", "CardiacSSL"}
GUI = {"qt", "ctk", "PythonQt", "trame", "trame_slicer", "trame_client", "trame_vuetify"}
# package folder -> top-level names it must never import
NEVER = {
    "CardiacSSLLib": {"CardiacSSLWorkflow", "slicer", "vtk", *FRONT_ENDS, *GUI},
    "CardiacSSLWorkflow": {*FRONT_ENDS, *GUI},
    "CardiacSSLWeb": {"CardiacSSLPanel", "CardiacSSL", "qt", "ctk"},
    "CardiacSSL/CardiacSSLPanel": {"CardiacSSLWeb"},
}


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(NEVER))
def test_no_import_runs_back_up(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, package
    offenders = {
        str(p.relative_to(ROOT)): sorted(imported_names(p) & NEVER[package])
        for p in files
        if imported_names(p) & NEVER[package]
    }
    assert not offenders, offenders


def test_the_check_sees_lazy_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from CardiacSSLWeb.app import serve\n    import qt\n")
    assert imported_names(probe) == {"CardiacSSLWeb", "qt"}


def test_workflow_layer_imports_without_torch():
    """The panel lists models and start points before torch is installed: the layer must import without it."""
    import subprocess
    import sys

    pytest.importorskip("slicer", reason="the workflow layer is MRML-level (slicer-core)")
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "CardiacSSLWorkflow").rglob("*.py")
    )
    code = (
        f"import sys, importlib; [importlib.import_module(m) for m in {modules!r}]; "
        "bad = [m for m in ('torch', 'monai', 'qt', 'trame') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(modules) >= 12
