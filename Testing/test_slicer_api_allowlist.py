"""Every Slicer/MRML/VTK/CTK/Qt name the module and the workflow layer use is one Slicer 5.10 has.

The names are found with ``ast`` (``slicer_api_usage.py``); the allow-list
(``slicer_api_allowlist.py``) says where Slicer v5.10.0 declares each. A call added without
an entry fails here, so a name that the floor version lacks is caught in CI, not by users.
"""

from __future__ import annotations

import textwrap

import pytest
from slicer_api_allowlist import ALLOWED
from slicer_api_usage import ROOT, all_used_names, used_names


def test_every_used_name_is_allow_listed():
    used = all_used_names()
    unlisted = {name: files for name, files in used.items() if name not in ALLOWED}
    assert not unlisted, f"not in Testing/slicer_api_allowlist.py (check Slicer 5.10 has them): {unlisted}"


def test_no_stale_entries():
    stale = sorted(set(ALLOWED) - set(all_used_names()))
    assert not stale, f"allow-listed but no longer used: {stale}"


def test_names_the_floor_lacks_are_caught(tmp_path):
    """The collector sees a member Slicer 5.10 lacks, a 5.12-only helper, and Qt members through aliases."""
    code = textwrap.dedent(
        """
        import slicer

        def show(browser, ui):
            browser.SetMissingItemModeToHidden()
            slicer.util.launchConsoleProcess(["x"], blocking=False)
            combo = self.ui.modelSelector
            combo.setPlaceholderText("none")
        """
    )
    path = tmp_path / "new_code.py"
    path.write_text(code)
    found = used_names(path, {"modelSelector": "QComboBox"})
    new = {"method:SetMissingItemModeToHidden", "module:slicer.util.launchConsoleProcess",
           "qt:QComboBox.setPlaceholderText"}  # fmt: skip
    assert new <= found and not new & set(ALLOWED)


def test_allow_listed_members_exist_on_the_named_classes():
    """On slicer-core (MRML of Slicer 5.11): each ``Class: header`` entry's class has the member."""
    slicer = pytest.importorskip("slicer", reason="slicer-core is needed to check the MRML classes")
    import vtk

    checked = 0
    for name, where in ALLOWED.items():
        kind, member = name.split(":", 1)
        if kind == "method":
            cls = where.split(":", 1)[0]
            owner = getattr(slicer, cls, None) or getattr(vtk, cls)
            assert hasattr(owner, member), f"{cls} has no {member}"
            assert where.split(": ", 1)[1].startswith(("Libs/", "Modules/", "VTK 9")), where
            checked += 1
        elif kind == "module" and member.startswith("slicer.vtk"):
            parts = member.split(".")
            owner = getattr(slicer, parts[1])
            assert len(parts) == 2 or hasattr(owner, parts[2]), member
            checked += 1
    assert checked > 100


def test_the_only_newer_than_floor_name_is_guarded():
    """``slicer.packaging`` (5.12+) is imported only inside ``try: ... except ImportError``."""
    newer = [name for name, where in ALLOWED.items() if "v5.12" in where]
    assert newer == ["module:slicer.packaging"]
    source = (ROOT / "CardiacSSL" / "CardiacSSLPanel" / "install_logic.py").read_text()
    block = source.split("import slicer.packaging", 1)
    assert block[0].rstrip().endswith("try:") and block[1].split("\n", 2)[1].strip() == "except ImportError:"


def test_module_file_runs_on_the_floor_python():
    """Slicer 5.10 runs Python 3.12; the module file must at least parse on 3.9 to tell 5.8 users why it stops."""
    import ast

    source = (ROOT / "CardiacSSL" / "CardiacSSL.py").read_text()
    ast.parse(source, feature_version=(3, 9))
