"""A registry model's card as Markdown, for the module panel and the web app.

Bundled models ship a written card (``models.json`` "card"); the user's fine-tuned models may
have none, and then a short card is built from their checkpoint config. Plain JSON reading:
this works before torch is installed (``CardiacSSLLib.checkpoint`` imports it). No GUI here.
"""

from __future__ import annotations

import json
from pathlib import Path

from CardiacSSLLib.errors import InputError, ModelError

TRAINING_KEYS = (  # the few training settings worth a line, in this order
    "steps",
    "batch_size",
    "lr",
    "patch_size",
    "target_spacing",
    "train_set",
    "train_slices",
    "val_cases",
    "seed",
)


def model_card(name: str | None) -> str:
    """The Markdown card of a registry model (bundled or user) or checkpoint path.

    The written card when there is one, else a card built from the config by :func:`config_card`.
    An empty or unknown name is an ``InputError``; an unreadable config a ``ModelError``.
    """
    from CardiacSSLLib.registry import list_models, resolve

    if not name:
        raise InputError("no model selected: pick one from the list to see its card")
    list_models()  # a broken models.json is a ModelError of its own, not an unknown name
    try:
        entry = resolve(name)
    except ModelError as exc:
        raise InputError(str(exc)) from exc
    if entry.card is not None and entry.card.is_file():
        return entry.card.read_text(encoding="utf-8")
    config_path = Path(f"{entry.path}.json")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"model {entry.name!r} has no card and its config {config_path} is unreadable: {exc}") from exc
    if not isinstance(config, dict):
        raise ModelError(f"model {entry.name!r} has no card and its config {config_path} is not a JSON object")
    return config_card(entry.name, config, origin=entry.origin, summary=entry.summary)


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return f"{len(value)} items"
    return "none" if value is None else str(value)


def _dice_line(scores: dict) -> str:
    """'LV 0.934, MYO 0.874, RV 0.819, mean 0.876' from a Dice section (other keys, e.g. step, left out)."""
    return ", ".join(
        f"{k} {float(v):.3f}"
        for k, v in scores.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step"
    )


def config_card(name: str, config: dict, origin: str = "user", summary: dict | None = None) -> str:
    """A short Markdown card from a checkpoint config: what it is, how it was trained, how well, when."""
    kind = str(config.get("kind", "segmentation"))
    lines = [f"# {name}", "", "_No written model card: summary of the model's configuration._", ""]
    lines.append(f"- kind: {kind}; origin: {origin}")
    if config.get("method"):
        lines.append(f"- pretraining method: {config['method']}")
    init = config.get("init")
    if init:
        start = f"{init}" if init == "scratch" else f"`{init}`"
        details = ", ".join(str(config[k]) for k in ("init_kind", "init_method") if config.get(k))
        lines.append(f"- started from: {start}" + (f" ({details})" if details else ""))
    features = (config.get("network") or {}).get("features")
    if features:
        lines.append(f"- network: 2D U-Net, features {list(features)}")
    validation = config.get("validation") or (summary or {}).get("validation") or {}
    if isinstance(validation, dict) and _dice_line(validation):
        at = f" (step {validation['step']})" if "step" in validation else ""
        lines.append(f"- validation Dice{at}: {_dice_line(validation)}")
    elif isinstance((summary or {}).get("dice"), dict):
        lines.append(f"- Dice: {_dice_line(summary['dice'])}")
    from CardiacSSLLib.engine.run_record import recorded_commit

    commit = recorded_commit(config)
    provenance = [f"commit {commit}"] if commit else []
    provenance += [f"{key} {config[key]}" for key in ("created", "hardware") if config.get(key)]
    if isinstance(config.get("wall_time_s"), (int, float)):
        provenance.append(f"wall time {float(config['wall_time_s']):.0f} s")
    if provenance:
        lines.append("- " + "; ".join(provenance))
    training = config.get("training") if isinstance(config.get("training"), dict) else {}
    rows = [f"| {key} | {_value(training[key])} |" for key in TRAINING_KEYS if key in training]
    if rows:
        lines += ["", "## Training", "", "| setting | value |", "| --- | --- |", *rows]
    return "\n".join(lines) + "\n"
