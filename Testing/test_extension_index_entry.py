"""``CardiacSSL.json`` passes the Extensions Index checks that can run offline.

The checks mirror Slicer/ExtensionsIndex ``scripts/check_description_files.py`` (main, commit
07f1d1b): ``check_json_file_format`` (JSON, LF only), ``check_json_schema`` (the entry's
``$schema``, validated with jsonschema), ``check_category``, ``check_scm_url_syntax``,
``check_cmakelists_content`` (project name = entry name, icon and screenshot URLs) and
``check_license_file``. Image URLs are checked against the files they name in this checkout.
"""

from __future__ import annotations

import ast
import json
import re
import struct
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENTRY = ROOT / "CardiacSSL.json"
SCHEMA = Path(__file__).parent / "schemas" / "slicer-extension-catalog-entry-schema-v1.0.1.json"
RAW_PREFIX = "https://raw.githubusercontent.com/CardiacSSL/CardiacSSL/main/"
# Keywords of draft-07 that the fallback validator below implements; the stored schema may use no other.
HANDLED = {"$schema", "$id", "type", "title", "description", "required", "additionalProperties", "properties",
           "enum", "default", "minimum", "maximum", "items", "additionalItems"}  # fmt: skip
TYPES = {"object": dict, "string": str, "array": list, "boolean": bool, "integer": int}


def _errors(value, schema: dict, path: str = "$") -> list[str]:
    """Draft-07 validation for the keywords in HANDLED (used when jsonschema is not installed)."""
    found = []
    kind = schema.get("type")
    if kind and (not isinstance(value, TYPES[kind]) or (kind == "integer" and isinstance(value, bool))):
        return [f"{path}: {value!r} is not of type {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"] or "maximum" in schema and value > schema["maximum"]:
        found.append(f"{path}: {value!r} is out of range")
    if isinstance(value, dict):
        found += [f"{path}: {key!r} is a required property" for key in schema.get("required", []) if key not in value]
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            found += [f"{path}: additional property {key!r}" for key in value if key not in props]
        for key, item in value.items():
            if key in props:
                found += _errors(item, props[key], f"{path}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found += _errors(item, schema["items"], f"{path}[{i}]")
    return found


def _keywords(schema: dict) -> set[str]:
    words = set(schema)
    for sub in list(schema.get("properties", {}).values()) + [schema.get("items")]:
        if isinstance(sub, dict):
            words |= _keywords(sub)
    return words


def validate(entry: dict, schema: dict) -> list[str]:
    try:
        import jsonschema
    except ImportError:
        assert _keywords(schema) <= HANDLED, f"schema keywords not handled: {_keywords(schema) - HANDLED}"
        return _errors(entry, schema)
    return [error.message for error in jsonschema.Draft7Validator(schema).iter_errors(entry)]


def _cmake_value(name: str) -> str:
    match = re.search(rf'set\s*\({name}\s*"([^"]+)"\s*\)', (ROOT / "CMakeLists.txt").read_text())
    assert match, f"{name} is not set in CMakeLists.txt"
    return match.group(1)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG file"
    return struct.unpack(">II", data[16:24])


def test_entry_is_valid_against_the_published_schema():
    entry = json.loads(ENTRY.read_text(encoding="utf-8"))
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert entry["$schema"] == schema["$id"]  # the schema the index downloads for this entry
    assert validate(entry, schema) == []
    assert b"\r" not in ENTRY.read_bytes()  # check_json_file_format: LF only


def test_the_validator_rejects_what_the_index_rejects():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    good = json.loads(ENTRY.read_text(encoding="utf-8"))
    for bad in (
        {k: v for k, v in good.items() if k != "scm_url"},  # a required key missing
        good | {"homepage": "https://example.org"},  # retired s4ext keys are extra keys now
        good | {"build_dependencies": "PyTorch"},  # a string, not a list
        good | {"tier": 9},
    ):
        assert validate(bad, schema), bad


def test_entry_matches_the_cmake_project_and_the_module():
    entry = json.loads(ENTRY.read_text(encoding="utf-8"))
    project = re.search(r"project\s*\(\s*([^\s\)]+)", (ROOT / "CMakeLists.txt").read_text(), re.IGNORECASE)
    assert project and project.group(1) == ENTRY.stem
    assert entry["category"] == _cmake_value("EXTENSION_CATEGORY")
    # check_category: one of ACCEPTED_EXTENSION_CATEGORIES (scripts/check_description_files.py)
    assert entry["category"] in {"Segmentation", "Cardiac", "Quantification"}
    module = ast.parse((ROOT / "CardiacSSL" / "CardiacSSL.py").read_text())
    categories = [
        ast.literal_eval(node.value)
        for node in ast.walk(module)
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "self.parent.categories"
    ]
    assert categories == [[entry["category"]]]
    assert entry["build_dependencies"] == _cmake_value("EXTENSION_DEPENDS").split()
    assert urlsplit(entry["scm_url"]).scheme in ("https", "git")
    assert _cmake_value("EXTENSION_HOMEPAGE").startswith(entry["scm_url"])


def test_icon_and_screenshots_exist_where_the_metadata_points():
    urls = [_cmake_value("EXTENSION_ICONURL"), *_cmake_value("EXTENSION_SCREENSHOTURLS").split()]
    assert len(urls) >= 2
    for url in urls:
        assert url.startswith(RAW_PREFIX), url
        path = ROOT / url[len(RAW_PREFIX) :]
        assert path.is_file(), f"{url} points to {path}, which does not exist"
        width, height = _png_size(path)
        assert width >= 128 and height >= 128, (url, width, height)
    assert _png_size(ROOT / urls[0][len(RAW_PREFIX) :]) == (128, 128)  # the index's icon size


def test_licence_file_and_model_licences_are_stated():
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in licence and "Version 2.0" in licence
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = "Apache-2.0"' in pyproject
    module = (ROOT / "CardiacSSL" / "CardiacSSL.py").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for text in (module, readme):
        assert "non-commercial" in text, "the ACDC-trained weights' licence must be stated"


@pytest.mark.parametrize("path", ["CardiacSSL.s4ext"])
def test_retired_description_format_is_gone(path):
    assert not (ROOT / path).exists()


def test_the_version_floor_is_stated_where_users_look():
    floor = "5.10"
    assert f"Needs Slicer {floor} or later" in _cmake_value("EXTENSION_DESCRIPTION")
    assert f"Needs Slicer {floor} or later" in (ROOT / "README.md").read_text(encoding="utf-8")
    module = ast.parse((ROOT / "CardiacSSL" / "CardiacSSL.py").read_text(encoding="utf-8"))
    assigns = [n for n in module.body if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)]
    minimum = next(ast.literal_eval(n.value) for n in assigns if n.targets[0].id == "MINIMUM_SLICER")
    assert ".".join(map(str, minimum)) == floor
