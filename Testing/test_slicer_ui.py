"""The module's static wiring: .ui names vs widget code, parameter names, CMake lists, dependencies."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "CardiacSSL"
UI = MODULE / "Resources" / "UI" / "CardiacSSL.ui"
PANEL = MODULE / "CardiacSSLPanel"
WORKFLOW = ROOT / "CardiacSSLWorkflow"
SHIPPED = ("CardiacSSLLib", "CardiacSSLWorkflow", "CardiacSSLWeb", "CardiacSSL")


def _ui_widgets() -> dict[str, ET.Element]:
    tree = ET.parse(UI)
    return {w.get("name"): w for w in tree.iter("widget") if w.get("name")}


def _parameter_fields() -> dict[str, str]:
    """Field name -> annotation source of the parameterNodeWrapper class (parsed, slicer-core has none)."""
    tree = ast.parse((PANEL / "parameters.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "CardiacSSLParameterNode":
            return {
                s.target.id: ast.unparse(s.annotation)
                for s in node.body
                if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
            }
    raise AssertionError("CardiacSSLParameterNode not found in parameters.py")


def _bound(widget: ET.Element) -> str | None:
    for prop in widget.findall("property"):
        if prop.get("name") == "SlicerParameterName":
            return prop.findtext("string")
    return None


def test_every_widget_the_code_looks_up_exists_in_the_ui():
    names = set(_ui_widgets())
    used = set()
    for path in [MODULE / "CardiacSSL.py", *PANEL.glob("*.py")]:
        used |= set(re.findall(r"\bself\.ui\.(\w+)", path.read_text()))
    assert used, "no self.ui lookups found: the regex or the widget code changed"
    assert used <= names, f"widgets used in code but missing from the .ui: {sorted(used - names)}"


def test_bound_widgets_match_parameters_and_widget_types():
    fields = _parameter_fields()
    bound = {name: (w.get("class"), _bound(w)) for name, w in _ui_widgets().items() if _bound(w)}
    assert bound, "no widget carries a SlicerParameterName"
    expected_class = {"vtkMRML": "qMRMLNodeComboBox", "Choice": "QComboBox", "Path": "ctkPathLineEdit"}
    for widget, (cls, param) in bound.items():
        assert param in fields, f"{widget} binds to unknown parameter {param!r}"
        for marker, widget_class in expected_class.items():
            if marker in fields[param]:
                assert cls == widget_class, f"{widget} ({cls}) cannot show {param}: {fields[param]}"
        if fields[param].startswith("Annotated[int"):
            assert cls == "QSpinBox"
        if fields[param].startswith("Annotated[float"):
            assert cls == "QDoubleSpinBox"
        if fields[param] == "bool":
            assert cls == "QCheckBox"
    gui_params = {
        "inputVolume",
        "frames",
        "device",
        "segmentation",
        "trainingSetFolder",
        "finetuneName",
        "finetuneSteps",
        "finetuneRecommended",
        "finetunePretrainedLrScale",
        "finetuneFreezeSteps",
    }
    assert gui_params <= {p for _, p in bound.values()}


def test_finetune_start_point_selector():
    widgets = _ui_widgets()
    combo = widgets["finetuneInitSelector"]
    assert combo.get("class") == "QComboBox" and _bound(combo) is None  # filled by the widget, not bound
    tooltip = next(p.findtext("string") for p in combo.findall("property") if p.get("name") == "toolTip")
    assert "backbone" in tooltip and "scratch" in tooltip
    section = widgets["finetuneCollapsibleButton"]
    assert combo in list(section.iter("widget")) and widgets["finetuneInitLabel"] in list(section.iter("widget"))
    assert _parameter_fields()["finetuneInit"] == "str"
    source = (PANEL / "training_panel.py").read_text()
    assert "list_start_points" in source and "start_from(\n                p.finetuneInit, p.model" in source


def _property(widget: ET.Element, name: str) -> str:
    prop = next(p for p in widget.findall("property") if p.get("name") == name)
    return next(iter(prop)).text


def _parameter_default_and_range(param: str) -> tuple[float, float, float]:
    """(default, low, high) of an ``Annotated[..., WithinRange(low, high)] = default`` parameter."""
    tree = ast.parse((PANEL / "parameters.py").read_text())
    stmt = next(n for n in ast.walk(tree) if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") == param)
    within = next(n for n in ast.walk(stmt.annotation) if isinstance(n, ast.Call) and n.func.id == "WithinRange")
    return ast.literal_eval(stmt.value), *(ast.literal_eval(a) for a in within.args)


def _parameter_default(param: str):
    tree = ast.parse((PANEL / "parameters.py").read_text())
    stmt = next(n for n in ast.walk(tree) if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") == param)
    return ast.literal_eval(stmt.value)


def test_advanced_finetune_options_default_to_the_starts_recommended_recipe():
    """Layer-wise LR and warm-up: "Recommended for this start" (checked by default, as its parameter)
    sends no option, so `cardiacssl finetune` applies the start's recipe (its defaults are None);
    unchecked, the two spin boxes (the parameter node's defaults and ranges) are sent."""
    import argparse

    from CardiacSSLLib.cli.finetune import add_parser
    from CardiacSSLWorkflow import finetune_logic

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    cli_defaults = vars(parser.parse_args(["finetune"]))
    widgets, fields = _ui_widgets(), _parameter_fields()
    section = list(widgets["finetuneAdvancedCollapsibleButton"].iter("widget"))
    box = widgets["finetuneRecommendedCheckBox"]
    assert box in section and box.get("class") == "QCheckBox" and _bound(box) == "finetuneRecommended"
    assert fields["finetuneRecommended"] == "bool" and _parameter_default("finetuneRecommended") is True
    assert _property(box, "checked") == "true" and _property(box, "text") == "Recommended for this start"
    assert widgets["finetuneRecipeLabel"] in section  # where the recipe's source is shown
    assert cli_defaults["pretrained_lr_scale"] is None and cli_defaults["freeze_pretrained_steps"] is None
    assert finetune_logic.transfer_options(0.5, 10, recommended=True) == []
    for name, param, kind, words in (
        ("finetunePretrainedLrScaleSpinBox", "finetunePretrainedLrScale", "float",
         ("Learning-rate factor", "start model or backbone", "Recommended for this start")),
        ("finetuneFreezeStepsSpinBox", "finetuneFreezeSteps", "int",
         ("only the new layers", "steps first", "Recommended for this start")),
    ):  # fmt: skip
        widget = widgets[name]
        assert widget in section and _bound(widget) == param and fields[param].startswith(f"Annotated[{kind}")
        assert all(w in _property(widget, "toolTip") for w in words)
        default, low, high = _parameter_default_and_range(param)
        assert float(_property(widget, "value")) == default
        assert (float(_property(widget, "minimum")), float(_property(widget, "maximum"))) == (low, high)
    # what the boxes show without a recipe (scratch, the selected model) is the parameters' default
    defaults = (_parameter_default("finetunePretrainedLrScale"), _parameter_default("finetuneFreezeSteps"))
    assert finetune_logic.recommended_recipe(finetune_logic.START_SCRATCH)[:2] == defaults
    assert _parameter_default_and_range("finetunePretrainedLrScale")[2] == finetune_logic.MAX_PRETRAINED_LR_SCALE
    assert _parameter_default_and_range("finetuneFreezeSteps")[2] == finetune_logic.MAX_SHOWN_FREEZE_STEPS
    source = (PANEL / "training_panel.py").read_text()
    assert "recommended=p.finetuneRecommended" in source and "recommended_recipe(p.finetuneInit)" in source


def test_model_card_buttons_sit_beside_their_selectors():
    tree = ET.parse(UI)
    widgets = {w.get("name"): w for w in tree.iter("widget") if w.get("name")}
    for button, combo, section in (
        ("modelCardButton", "modelSelector", "segmentCollapsibleButton"),
        ("finetuneInitCardButton", "finetuneInitSelector", "finetuneCollapsibleButton"),
    ):
        assert widgets[button].get("class") == "QPushButton"
        assert widgets[button] in list(widgets[section].iter("widget"))
        row = next(layout for layout in tree.iter("layout") if widgets[combo] in layout.findall("item/widget"))
        assert widgets[button] in row.findall("item/widget"), f"{button} is not in the row of {combo}"
    source = (PANEL / "widget.py").read_text()
    assert "from CardiacSSLWorkflow.model_card import model_card" in source and "showMarkdown(" in source
    assert "setMarkdown" in (PANEL / "dialogs.py").read_text()


def test_ui_choices_match_the_logic():
    from CardiacSSLLib.segment_frames import FRAME_MODES
    from CardiacSSLPanel import parameters

    assert tuple(parameters.FRAME_CHOICES) == FRAME_MODES
    tooltip = next(
        p.findtext("string") for p in _ui_widgets()["framesSelector"].findall("property") if p.get("name") == "toolTip"
    )
    assert all(f"{mode}:" in tooltip for mode in FRAME_MODES)
    assert set(parameters.DEVICE_CHOICES) == {"auto", "gpu", "cpu"}
    from CardiacSSLWorkflow.propagate_logic import METHODS

    assert parameters.PROPAGATE_CHOICES == METHODS


def test_quality_section_has_its_widgets():
    widgets = _ui_widgets()
    section = list(widgets["qualityCollapsibleButton"].iter("widget"))
    for name, cls in (
        ("qualityButton", "QPushButton"), ("qualityTable", "QTableWidget"), ("nextToCorrectButton", "QPushButton"),
        ("propagateMethodSelector", "QComboBox"), ("propagateButton", "QPushButton"),
        ("undoPropagateButton", "QPushButton"), ("propagateProgressBar", "QProgressBar"),
    ):  # fmt: skip
        assert widgets[name].get("class") == cls and widgets[name] in section, name
    tree = ast.parse((PANEL / "quality_panel.py").read_text())  # imports qt: parsed, not imported
    columns = next(
        ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "COLUMNS"
    )
    headers = [c.findtext("property/string") for c in widgets["qualityTable"].findall("column")]
    assert [h.lower() for h in headers] == list(columns)
    assert _bound(widgets["propagateMethodSelector"]) == "propagateMethod"


def test_cmake_lists_every_module_file_and_resource():
    cmake = (MODULE / "CMakeLists.txt").read_text()
    for path in PANEL.glob("*.py"):
        assert f"CardiacSSLPanel/{path.name}" in cmake, f"{path.name} is not installed by CMakeLists.txt"
    # the packages the panel imports are copied whole, beside the module's scripts
    assert "foreach(_package CardiacSSLLib CardiacSSLWorkflow)" in cmake
    resources = cmake.split("set(MODULE_PYTHON_RESOURCES", 1)[1].split(")", 1)[0].split()
    assert len(resources) == 3
    for resource in resources:
        resolved = MODULE / resource.replace("${MODULE_NAME}", "CardiacSSL")
        assert resolved.is_file(), f"{resource} listed in CMakeLists.txt does not exist"
    top = (ROOT / "CMakeLists.txt").read_text()
    assert 'EXTENSION_DEPENDS "PyTorch"' in top and 'EXTENSION_CATEGORY "Segmentation"' in top
    assert "add_subdirectory(CardiacSSL)" in top


def test_module_file_stays_thin_and_clean():
    source = (MODULE / "CardiacSSL.py").read_text()
    assert len(source.splitlines()) <= 160
    for banned in ("sys.path", "from __main__", "import *", "import imp\n"):
        assert banned not in source
    shipped = [p for folder in SHIPPED for p in (ROOT / folder).rglob("*.py") if "Testing" not in p.parts]
    assert len(shipped) > 50
    for path in shipped:
        assert not re.search(r"sys\.path\.(insert|append)|sys\.path\s*[+]?=", path.read_text()), (
            f"{path} edits sys.path"
        )
    top_level = "\n".join(
        line
        for p in [*PANEL.glob("*.py"), *WORKFLOW.glob("*.py")]
        for line in p.read_text().splitlines()
        if not line.startswith((" ", "\t"))
    )
    assert "import torch" not in top_level, "torch must be imported lazily (inside functions)"


def test_library_has_no_slicer_qt_or_vtk_imports():
    pattern = re.compile(r"^\s*(import|from)\s+(slicer|qt|ctk|vtk|PythonQt)\b", re.M)
    offenders = [p.name for p in (ROOT / "CardiacSSLLib").rglob("*.py") if pattern.search(p.read_text())]
    assert not offenders


def test_missing_requirements_skips_slicer_bundled_packages(tmp_path):
    from CardiacSSLPanel.install_logic import missing_requirements, read_requirements

    req = tmp_path / "requirements.txt"
    req.write_text(
        "# comment\nnumpy>=999\nSimpleITK>=999\ntqdm>=0.1  # present\ncardiacssl-no-such-pkg>=1\ntqdm>=999\n"
    )
    assert missing_requirements(req) == ["cardiacssl-no-such-pkg>=1", "tqdm>=999"]
    shipped = read_requirements(MODULE / "Resources" / "requirements.txt")
    assert not any(re.match(r"(?i)(torch|numpy|simpleitk|pydicom)\b", r) for r in shipped)


def test_parameter_node_wrapper_import_is_guarded():
    from CardiacSSLPanel import parameters

    try:
        import slicer.parameterNodeWrapper  # noqa: F401
    except ImportError:
        assert parameters.CardiacSSLParameterNode is None
    else:  # pragma: no cover - inside Slicer
        pytest.skip("running inside Slicer")


def test_case_table_selects_whole_rows():
    """``selectionModel().selectedRows()`` (what removing cases reads) only sees rows selected whole."""
    table = _ui_widgets()["casesTable"]
    behaviour = next(p for p in table.findall("property") if p.get("name") == "selectionBehavior")
    assert behaviour.findtext("enum") == "QAbstractItemView::SelectRows"
