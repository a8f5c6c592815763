"""A job that a worker process runs in a temporary folder: start, cancel, wait, clean up, say why it failed.

Segmentation and propagation both write a request into a fresh folder, run a worker through
the fine-tuning :class:`~CardiacSSLWorkflow.finetune_runner.ProcessRunner` (progress, Stop) and
read the result back only when the run succeeded; this is that shared lifecycle.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from CardiacSSLLib.errors import InputError
from CardiacSSLWorkflow.finetune_logic import worker_env
from CardiacSSLWorkflow.finetune_runner import ProcessRunner, RunResult, RunState, SubprocessRunner, python_executable


class WorkerJob:
    """One worker run at a time; subclasses name it (``what``) and write / read its folder."""

    what = "Job"  # as the user reads it: "Segmentation", "Propagation"

    def __init__(self, runner: ProcessRunner | None = None, python: str | None = None) -> None:
        self.runner = runner or SubprocessRunner()
        self.python = python or python_executable()
        self._folder: Path | None = None

    def _launch(self, write: Callable[[Path], None], command: Callable[[Path, str], list[str]]) -> None:
        """A fresh folder, the request written into it by ``write``, and the worker started on it."""
        if self.runner.is_running():
            raise InputError(f"a {self.what.lower()} is already running: wait for it or stop it")
        self._cleanup()
        self._folder = Path(tempfile.mkdtemp(prefix=f"cardiacssl-{self.what.lower()}-"))
        write(self._folder)
        self.runner.start(command(self._folder, self.python), env=worker_env())

    def cancel(self) -> None:
        self.runner.cancel()

    def run(self, request, timeout: float | None = None):
        """Blocking ``start`` + wait + ``finish`` (scripts, tests, the self-test)."""
        self.start(request)
        result = self.runner.wait(timeout=timeout)
        return result, self.finish(result)

    @classmethod
    def summary(cls, result: RunResult) -> str:
        """One sentence for the user about a run that did not succeed."""
        if result.state is RunState.CANCELLED:
            return f"{cls.what} stopped; the scene is unchanged."
        last = result.message.strip().splitlines()[-1] if result.message.strip() else ""
        return f"{cls.what} failed ({result.state.value}, exit code {result.returncode}): {last}"

    def _cleanup(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
