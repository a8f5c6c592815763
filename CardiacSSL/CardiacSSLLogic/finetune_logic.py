"""Fine-tune a model on the training set in a separate process; the result joins the registry."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from CardiacSSLLib.errors import InputError, OutputExistsError
from CardiacSSLLogic.finetune_runner import ProcessRunner, RunResult, SubprocessRunner, finetune_command

logger = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


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


class FinetuneLogic:
    """Starts ``cardiacssl finetune`` through a :class:`ProcessRunner` (injected in tests)."""

    def __init__(self, runner: ProcessRunner | None = None, python: str | None = None) -> None:
        self.runner = runner or SubprocessRunner()
        self.python = python
        self.job: FinetuneJob | None = None

    def start(
        self,
        train_set: str | Path,
        init: str,
        name: str,
        steps: int,
        device: str = "auto",
        extra: list[str] | None = None,
    ) -> FinetuneJob:
        from CardiacSSLLib.io.trainingset import TrainingSet
        from CardiacSSLLib.registry import list_models, user_model_dir

        if self.runner.is_running():
            raise InputError("a fine-tuning run is already in progress: wait for it or cancel it")
        if not init:
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
        self.job = FinetuneJob(name, out, command)
        return self.job

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
