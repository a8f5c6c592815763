"""The model registry: bundled models (``Resources/Models/models.json``) and the user's own.

Bundled entries carry a sha256 that is checked on every load. User models (written by
fine-tuning) live under ``$CARDIACSSL_HOME/models/<name>/`` (default
``~/.cardiacssl``); their config records the sha256 of their weights, which is checked too.
A name never resolves by scanning modules or guessing: bundled first, then user, then
an explicit path.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from CardiacSSLLib.errors import ModelError

MODELS_ENV = "CARDIACSSL_MODELS"
HOME_ENV = "CARDIACSSL_HOME"


@dataclass
class ModelEntry:
    name: str
    path: Path  # checkpoint stem: <path>.safetensors + <path>.json
    kind: str = "segmentation"
    origin: str = "bundled"  # bundled | user | file
    sha256: str | None = None
    card: Path | None = None
    summary: dict = field(default_factory=dict)


def bundled_dir() -> Path:
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV])
    # Source checkout / editable install / Slicer extension: Resources/ sits beside the package.
    return Path(__file__).resolve().parent.parent / "Resources" / "Models"


def user_dir() -> Path:
    return Path(os.environ.get(HOME_ENV, Path.home() / ".cardiacssl")) / "models"


def _bundled() -> list[ModelEntry]:
    index = bundled_dir() / "models.json"
    if not index.is_file():
        return []
    try:
        data = json.loads(index.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{index} is not valid JSON: {exc}") from exc
    entries = []
    for m in data.get("models", []):
        base = index.parent
        entries.append(
            ModelEntry(
                name=m["name"],
                path=base / Path(m["file"]).with_suffix(""),
                kind=m.get("kind", "segmentation"),
                origin="bundled",
                sha256=m.get("sha256"),
                card=base / m["card"] if m.get("card") else None,
                summary=m.get("summary", {}),
            )
        )
    return entries


def _user() -> list[ModelEntry]:
    root = user_dir()
    if not root.is_dir():
        return []
    entries = []
    for cfg_path in sorted(root.glob("*/model.json")):
        try:
            cfg = json.loads(cfg_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a half-deleted folder must not break the listing
        entries.append(
            ModelEntry(
                name=cfg_path.parent.name,
                path=cfg_path.with_suffix(""),
                kind=cfg.get("kind", "segmentation"),
                origin="user",
                card=cfg_path.parent / "model_card.md" if (cfg_path.parent / "model_card.md").exists() else None,
                summary={"validation": cfg.get("validation", {}), "method": cfg.get("init_method", "")},
            )
        )
    return entries


def default_model_name() -> str | None:
    index = bundled_dir() / "models.json"
    if index.is_file():
        return json.loads(index.read_text()).get("default")
    return None


def list_models(kind: str | None = None) -> list[ModelEntry]:
    entries = _bundled() + _user()
    return [e for e in entries if kind is None or e.kind == kind]


def resolve(name_or_path: str | None) -> ModelEntry:
    """Registry entry for a name (bundled, then user) or a checkpoint path; clear error otherwise."""
    if not name_or_path or name_or_path == "default":
        name_or_path = default_model_name()
        if not name_or_path:
            raise ModelError("no default model is bundled; pass --model with a checkpoint path")
    for entry in list_models():
        if entry.name == name_or_path:
            return entry
    p = Path(name_or_path)
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    if p.is_dir() and (p / "model.json").exists():
        stem = p / "model"
    if stem.with_suffix(".json").exists() or stem.with_suffix(".safetensors").exists():
        kind = "segmentation"
        try:
            kind = json.loads(stem.with_suffix(".json").read_text()).get("kind", kind)
        except (OSError, json.JSONDecodeError):
            pass
        return ModelEntry(name=stem.name, path=stem, kind=kind, origin="file")
    known = ", ".join(e.name for e in list_models()) or "none installed"
    raise ModelError(f"unknown model {name_or_path!r}: not a registered name ({known}) nor a checkpoint path")


def user_model_dir(name: str) -> Path:
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise ModelError(f"invalid model name {name!r}: use letters, digits, '-', '_' and '.'")
    return user_dir() / name
