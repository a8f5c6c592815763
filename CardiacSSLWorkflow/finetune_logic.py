"""Fine-tune a model on the training set in a separate process; the result joins the registry.

What a run starts from is one of :func:`list_start_points`: the segmentation model selected
for segmenting (continue training it, the default), a pretrained self-supervised backbone of
the registry, or random initialisation; :func:`init_for` turns that choice into the worker's
``--init`` (None: scratch).
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from CardiacSSLLib.errors import CardiacSSLError, InputError, OutputExistsError
from CardiacSSLLib.method_names import method_title
from CardiacSSLWorkflow.finetune_runner import ProcessRunner, RunResult, SubprocessRunner, finetune_command

logger = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
START_SELECTED = ""  # continue training the model selected for segmentation (the default)
START_SCRATCH = ":scratch"  # random initialisation; never a model name (those start with a letter or digit)
# The advanced transfer options when a start records no recipe (scratch, a segmentation model, a
# backbone without one): one learning rate, no warm-up (engine.finetune.with_transfer_recipe).
DEFAULT_PRETRAINED_LR_SCALE = 1.0
DEFAULT_FREEZE_PRETRAINED_STEPS = 0
MAX_PRETRAINED_LR_SCALE = 10.0
MAX_SHOWN_FREEZE_STEPS = 100000  # the module's warm-up spin box (parameters.py)


@dataclass
class StartChoice:
    """One "start from" entry: ``value`` (for :func:`init_for`) and the text shown to the user."""

    value: str
    label: str


def _method(entry) -> str:
    """The backbone's pretraining method, from its checkpoint config (the registry summary does not say).

    Plain JSON reading: listing must work before torch is installed (``checkpoint`` imports it).
    """
    try:
        config = json.loads(Path(f"{entry.path}.json").read_text())
    except (OSError, ValueError):
        config = {}
    method = config.get("method") if isinstance(config, dict) else None
    method = str(method or (entry.summary or {}).get("method") or "")
    return method_title(method)


def _measured(summary: dict) -> list[tuple[str, float, float | None]]:
    """(n, backbone Dice, scratch Dice or None) for every n its card measured, fewest patients first."""
    fewshot = summary.get("fewshot") or {}
    ours, scratch = fewshot.get("mean_dice") or {}, fewshot.get("scratch_mean_dice") or {}
    shots = sorted((n for n in ours if str(n).isdigit()), key=int)
    return [(n, float(ours[n]), float(scratch[n]) if n in scratch else None) for n in shots]


def _fewest_shots(summary: dict) -> tuple[str | None, float | None, float | None]:
    """(n, backbone Dice, scratch Dice) at the fewest labelled patients its card measured; Nones when absent."""
    measured = _measured(summary)
    return measured[0] if measured else (None, None, None)


def _fewshot(summary: dict) -> str:
    """'1 patient: Dice 0.61 vs scratch 0.75; 5 patients: Dice 0.80 vs scratch 0.79' (fewest and most patients)."""
    measured = _measured(summary)
    parts = []
    for n, ours, scratch in measured if len(measured) <= 2 else [measured[0], measured[-1]]:
        text = f"{n} patient{'' if int(n) == 1 else 's'}: Dice {ours:.2f}"
        parts.append(text + (f" vs scratch {scratch:.2f}" if scratch is not None else ""))
    return "; ".join(parts)


def backbone_label(entry) -> str:
    """'unet16-mim-backbone (pretrained MIM; 1 patient: Dice 0.61 vs scratch 0.75)' for a registry entry."""
    method = _method(entry)
    parts = ["user" if entry.origin != "bundled" else "", f"pretrained {method}" if method else "pretrained backbone"]
    parts.append(_fewshot(entry.summary or {}))
    return f"{entry.name} ({'; '.join(p for p in parts if p)})"


def list_start_points() -> list[StartChoice]:
    """What fine-tuning can start from, best measured start first after the selected model.

    The selected segmentation model (continue training it) comes first; then scratch and the
    backbones ordered by the few-shot Dice their cards measured against scratch on the same
    patients (unmeasured backbones last); a backbone measured below scratch says so.
    """
    from CardiacSSLLib.registry import list_models

    ranked: list[tuple[float, StartChoice]] = []
    scratch_dice: list[float] = []
    for e in list_models(kind="backbone"):
        _, ours, scratch = _fewest_shots(e.summary or {})
        label = backbone_label(e)
        if ours is not None and scratch is not None:
            scratch_dice.append(scratch)
            if ours < scratch:
                label += ": below scratch in few-shot tests"
        ranked.append((ours if ours is not None else -1.0, StartChoice(e.name, label)))
    scratch_label = "scratch (random init)"
    measured = [r for r, c in ranked if r >= 0]
    if measured and scratch_dice and max(measured) < min(scratch_dice):
        scratch_label += ": better than every pretrained backbone in few-shot tests"
    ranked.append((min(scratch_dice) if scratch_dice else -0.5, StartChoice(START_SCRATCH, scratch_label)))
    ranked.sort(key=lambda rc: -rc[0])  # stable: the registry's order among equals
    return [StartChoice(START_SELECTED, "the selected segmentation model (continue training it)")] + [
        c for _, c in ranked
    ]


def init_for(start: str | None, selected_model: str | None) -> str | None:
    """The ``--init`` of a run for a :func:`list_start_points` value: a model name or path, None for scratch."""
    if start == START_SCRATCH:
        return None
    if start in (None, START_SELECTED):
        if not selected_model:
            raise InputError(
                "no segmentation model is selected to continue training: pick one in the Segment step, "
                "or start from a pretrained backbone or from scratch"
            )
        return str(selected_model)
    return str(start)


def _number(value: float | str | None, default: float) -> float:
    """``value`` as a float (``default`` when empty); NaN when it is no number, so range checks refuse it."""
    try:
        return float(default if value is None or value == "" else value)
    except (TypeError, ValueError):
        return float("nan")


def transfer_options(
    pretrained_lr_scale: float | str | None = DEFAULT_PRETRAINED_LR_SCALE,
    freeze_pretrained_steps: int | str | None = DEFAULT_FREEZE_PRETRAINED_STEPS,
    *,
    recommended: bool = False,
) -> list[str]:
    """The ``cardiacssl finetune`` options for the advanced settings.

    ``recommended``: no options, so the worker uses the start's recommended recipe
    (:func:`recommended_recipe`); the two values are then only what the page shows and are
    ignored. Otherwise both options are always passed, as given. ``pretrained_lr_scale``
    multiplies the learning rate of the weights loaded from the start model or backbone;
    ``freeze_pretrained_steps`` trains only the new layers for that many steps first. Values
    may come as text (the web page's fields); bad ones raise InputError.
    """
    if recommended:
        return []
    scale = _number(pretrained_lr_scale, DEFAULT_PRETRAINED_LR_SCALE)
    if not 0.0 <= scale <= MAX_PRETRAINED_LR_SCALE:  # NaN fails too
        raise InputError(
            "the learning-rate factor for pretrained weights must be a number from 0 to "
            f"{MAX_PRETRAINED_LR_SCALE:g}, not {pretrained_lr_scale!r}"
        )
    steps = _number(freeze_pretrained_steps, DEFAULT_FREEZE_PRETRAINED_STEPS)
    if not (0 <= steps < 1e9 and steps.is_integer()):
        raise InputError(
            f"the warm-up steps (only new layers train) must be a whole number >= 0, not {freeze_pretrained_steps!r}"
        )
    # explicit even at 1 and 0: without them a backbone's recorded recipe would apply instead
    return ["--pretrained-lr-scale", f"{scale:g}", "--freeze-pretrained-steps", str(int(steps))]


class TransferRecipe(NamedTuple):
    """The transfer options a start recommends, and where they come from (shown to the user)."""

    pretrained_lr_scale: float
    freeze_pretrained_steps: int
    source: str


def _recorded_recipe(start: str) -> tuple[dict, str]:
    """(the ``"finetune"`` recipe the backbone ``start`` records, or {}; its name, or why there is none).

    Plain JSON reading, like :func:`_method`: no torch needed to show it.
    """
    from CardiacSSLLib.registry import resolve

    try:
        entry = resolve(start)
        config = json.loads(Path(f"{entry.path}.json").read_text())
    except (CardiacSSLError, OSError, ValueError):
        return {}, f"{start} is not found or unreadable"
    if not isinstance(config, dict):
        config = {}
    recipe = config.get("finetune")
    if config.get("kind") != "backbone" or not isinstance(recipe, dict) or not recipe:
        return {}, f"{entry.name} records no recipe"  # the worker applies a recipe only from a backbone
    return recipe, entry.name


def recommended_recipe(start: str | None) -> TransferRecipe:
    """What fine-tuning from ``start`` (a :func:`list_start_points` value) uses without transfer options.

    A backbone's recorded recipe (the one its card's few-shot numbers were measured with);
    otherwise one learning rate and no warm-up (also shown, with a warning in ``source``, for a
    recorded recipe out of the fields' ranges).
    """
    defaults = (DEFAULT_PRETRAINED_LR_SCALE, DEFAULT_FREEZE_PRETRAINED_STEPS)
    if start == START_SCRATCH:
        return TransferRecipe(*defaults, "defaults (scratch: no pretrained weights)")
    if start in (None, START_SELECTED):
        return TransferRecipe(*defaults, "defaults (continuing a segmentation model)")
    recipe, name = _recorded_recipe(start)
    if not recipe:
        return TransferRecipe(*defaults, f"defaults ({name})")
    scale = _number(recipe.get("pretrained_lr_scale"), DEFAULT_PRETRAINED_LR_SCALE)
    steps = _number(recipe.get("freeze_pretrained_steps"), DEFAULT_FREEZE_PRETRAINED_STEPS)
    if not (0.0 <= scale <= MAX_PRETRAINED_LR_SCALE and 0 <= steps <= MAX_SHOWN_FREEZE_STEPS and steps.is_integer()):
        # the worker would use it as recorded: say so rather than show values it will not use
        return TransferRecipe(*defaults, f"{name} records an out-of-range recipe {recipe}: uncheck and set the values")
    return TransferRecipe(scale, int(steps), f"recorded by {name} (its card's few-shot numbers used it)")


def describe_init(init: str | None) -> str:
    """How a run's start is named in messages: the model name, or 'scratch'."""
    return Path(str(init)).name if init else "scratch (random init)"


def worker_env() -> dict[str, str]:
    """PYTHONPATH for the worker: the folder that holds the CardiacSSLLib this process uses.

    Inside Slicer that is the extension's scripted-modules folder, which PythonSlicer
    does not necessarily put on its path by itself.
    """
    import CardiacSSLLib

    lib_parent = str(Path(CardiacSSLLib.__file__).resolve().parent.parent)
    existing = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": lib_parent + (os.pathsep + existing if existing else "")}


@dataclass
class FinetuneJob:
    name: str
    out: Path
    command: list[str]
    init: str | None = None  # None: scratch


class FinetuneLogic:
    """Starts ``cardiacssl finetune`` through a :class:`ProcessRunner` (injected in tests).

    ``init`` of :meth:`start` is a model or backbone (name or path), or None to train from scratch.
    """

    def __init__(self, runner: ProcessRunner | None = None, python: str | None = None) -> None:
        self.runner = runner or SubprocessRunner()
        self.python = python
        self.job: FinetuneJob | None = None

    def start(
        self,
        train_set: str | Path,
        init: str | None,
        name: str,
        steps: int,
        device: str = "auto",
        extra: list[str] | None = None,
    ) -> FinetuneJob:
        from CardiacSSLLib.io.trainingset import TrainingSet
        from CardiacSSLLib.registry import list_models, user_model_dir

        if self.runner.is_running():
            raise InputError("a fine-tuning run is already in progress: wait for it or cancel it")
        if init is not None and not init:  # None is scratch; an empty name is a missing choice
            raise InputError("choose the model to start from (the model list of the Segment step)")
        if not name:
            raise InputError("give the new model a name")
        if not NAME_PATTERN.match(name):
            raise InputError(f"invalid model name {name!r}: use letters, digits, '-', '_' and '.' (max 64)")
        if any(e.name == name for e in list_models()):
            raise OutputExistsError(f"a model named {name!r} exists already: choose another name")
        if len(TrainingSet(train_set)) == 0:
            raise InputError(f"the training set {train_set} has no cases yet: add corrected frames first")
        if steps < 1:
            raise InputError("the number of steps must be at least 1")
        out = user_model_dir(name)
        command = finetune_command(train_set, init, out, name, steps, device, python=self.python, extra=extra)
        self.runner.start(command, env=worker_env())
        self.job = FinetuneJob(name, out, command, init)
        return self.job

    def start_from(
        self,
        start: str | None,
        selected_model: str | None,
        train_set: str | Path,
        name: str,
        steps: int,
        device: str = "auto",
        extra: list[str] | None = None,
    ) -> FinetuneJob:
        """:meth:`start` from a :func:`list_start_points` value (default: continue training ``selected_model``)."""
        return self.start(train_set, init_for(start, selected_model), name, steps, device, extra=extra)

    def cancel(self) -> None:
        self.runner.cancel()

    @staticmethod
    def summary(result: RunResult) -> str:
        """One sentence for the user about how the run ended."""
        if result.ok:
            dice = (result.done or {}).get("val_dice")
            return "Fine-tuning finished" + (f": validation Dice {dice:.3f}" if isinstance(dice, float) else "") + "."
        if result.state.value == "cancelled":
            return "Fine-tuning cancelled; existing models are unchanged."
        last = result.message.strip().splitlines()[-1] if result.message.strip() else ""
        return f"Fine-tuning failed ({result.state.value}, exit code {result.returncode}): {last}"
