"""Every Slicer / MRML / VTK / CTK / Qt name that the module and the workflow layer use, found with ``ast``.

Five kinds, each returned as ``"kind:name"`` strings:

- ``module``: dotted names under ``slicer``, ``qt``, ``ctk``, ``vtk`` (``slicer.util.errorDisplay``,
  ``qt.QTimer``), and ``from slicer.X import Y`` / ``import slicer.X``;
- ``method``: CamelCase members used on objects (MRML/VTK methods and enum values such as
  ``GetNthDataNode``, ``MissingItemSetToDefault``): Python's own names start lower case or are
  reached through an imported Python module or class, which are left out;
- ``qt``: members of Qt/CTK/qMRML objects, as ``Class.member``: widgets of the ``.ui`` file
  (``self.ui.<name>``, and local names bound to them), objects built with ``qt.X(...)``, and the
  few objects listed in :data:`KNOWN_OBJECTS`;
- ``base``: members that the module's classes use from Slicer's scripted-module base classes
  (``ScriptedLoadableModuleWidget.layout``) and from the parameter node wrapper.
"""

from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = (ROOT / "CardiacSSL", ROOT / "CardiacSSLWorkflow")
UI_FILE = ROOT / "CardiacSSL" / "Resources" / "UI" / "CardiacSSL.ui"
ROOTS = ("slicer", "qt", "ctk", "vtk")
# Objects whose class the code does not name where it gets them (chain text -> class).
KNOWN_OBJECTS = {
    "slicer.modules.segmenteditor.widgetRepresentation().self().editor": "qMRMLSegmentEditorWidget",
    "self.layout": "QVBoxLayout",  # ScriptedLoadableModuleWidget.layout
    "self.parameterNode": "parameterNodeWrapper",
    "self.moduleWidget": "ScriptedLoadableModuleWidget",  # the controller's module widget
    "ui_widget": "qMRMLWidget",  # the root of CardiacSSL.ui
}
PARAMETERS = ROOT / "CardiacSSL" / "CardiacSSLPanel" / "parameters.py"


def parameter_fields() -> set[str]:
    """The module's own parameters (declared in parameters.py): not Slicer API."""
    tree = ast.parse(PARAMETERS.read_text(encoding="utf-8"))
    return {n.target.id for n in ast.walk(tree) if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


def source_files() -> list[Path]:
    return sorted(p for folder in SOURCES for p in folder.rglob("*.py") if "Testing" not in p.parts)


def ui_classes() -> dict[str, str]:
    return {w.get("name"): w.get("class") for w in ET.parse(UI_FILE).getroot().iter("widget")}


def _chain(node) -> list[str] | None:
    """``a.b.c`` -> ['a', 'b', 'c']; calls in the chain keep their ``()`` (``f().g``)."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            node = node.func
            inner = _chain(node)
            if inner is None:
                return None
            inner[-1] += "()"
            return inner + list(reversed(parts))
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return list(reversed(parts))
        else:
            return None


def _python_names(tree: ast.Module) -> set[str]:
    """Names bound to Python modules/classes that are not Slicer's (their CamelCase members are Python's)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] not in ROOTS}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] not in ROOTS:
            names |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
    return names


def _object_classes(tree: ast.Module, widgets: dict[str, str]) -> dict[str, str]:
    """Names (``combo``, ``self._timer``) bound to Qt objects: ``.ui`` widgets or ``qt.X(...)`` results."""
    bound = dict(KNOWN_OBJECTS)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        value = _chain(node.value.func) if isinstance(node.value, ast.Call) else _chain(node.value)
        if not value:
            continue
        text = ".".join(value)
        if value[:2] == ["self", "ui"] and len(value) == 3 and value[2] in widgets:
            cls = widgets[value[2]]
        elif value[0] == "qt" and len(value) == 2 and isinstance(node.value, ast.Call):
            cls = value[1]
        elif text in KNOWN_OBJECTS:
            cls = KNOWN_OBJECTS[text]
        else:
            continue
        for target in node.targets:
            name = _chain(target)
            if name:
                bound[".".join(name)] = cls
    return bound


def _base_members(tree: ast.Module) -> set[str]:
    """``Base.member`` for ``self.member`` that a class uses but neither defines nor assigns."""
    found = set()
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.bases):
        base = ast.unparse(cls.bases[0])
        own = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
        own |= {t.attr for n in ast.walk(cls) if isinstance(n, ast.Assign) for t in n.targets
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self"}  # fmt: skip
        for node in ast.walk(cls):
            chain = _chain(node) if isinstance(node, ast.Attribute) else None
            if chain and chain[0] == "self" and len(chain) >= 2:
                member = chain[1].removesuffix("()")
                if member == "parent" and len(chain) >= 3:
                    found.add(f"{base}.parent.{chain[2].removesuffix('()')}")
                elif member not in own:
                    found.add(f"{base}.{member}")
    return found


def used_names(path: Path, widgets: dict[str, str] | None = None) -> set[str]:
    widgets = ui_classes() if widgets is None else widgets
    tree = ast.parse(path.read_text(encoding="utf-8"))
    python = _python_names(tree)
    objects = _object_classes(tree, widgets)
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ROOTS:
            used |= {f"module:{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            used |= {f"module:{a.name}" for a in node.names if a.name.split(".")[0] in ROOTS and "." in a.name}
        if not isinstance(node, ast.Attribute):
            continue
        chain = _chain(node)
        if not chain:
            continue
        owner = ".".join(chain[:-1])
        if chain[0] in ROOTS and owner not in objects:
            used.add("module:" + ".".join(c.removesuffix("()") for c in chain))
        elif owner in objects:
            if not (objects[owner] == "parameterNodeWrapper" and node.attr in parameter_fields()):
                used.add(f"qt:{objects[owner]}.{node.attr}")
        elif chain[:2] == ["self", "ui"] and len(chain) == 4 and chain[2] in widgets:
            used.add(f"qt:{widgets[chain[2]]}.{node.attr}")
        elif node.attr[:1].isupper() and chain[0] not in python and chain[0] not in ROOTS:
            used.add(f"method:{node.attr}")
    used |= {f"base:{name}" for name in _base_members(tree)} if path.name == "CardiacSSL.py" else set()
    return used


def all_used_names() -> dict[str, list[str]]:
    """``{"kind:name": [files using it]}`` over the module and the workflow layer."""
    widgets = ui_classes()
    found: dict[str, list[str]] = {}
    for path in source_files():
        for name in used_names(path, widgets):
            found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found
