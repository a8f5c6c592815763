"""Segment in a separate process: the GUI stays responsive, shows progress, and can stop the run.

The request is prepared on the main thread (:meth:`SegmentLogic.prepare`: every check and the
input as a cine), the inference runs in ``CardiacSSLWorkflow.segment_worker`` through the same
:class:`~CardiacSSLWorkflow.finetune_runner.ProcessRunner` as fine-tuning, and only a
successful run touches the scene (:meth:`SegmentLogic.add_result`, on the thread that polls
the runner). A stopped or failed run leaves the scene as it was.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from CardiacSSLLib.errors import InputError
from CardiacSSLWorkflow.finetune_logic import worker_env
from CardiacSSLWorkflow.finetune_runner import ProcessRunner, RunResult, RunState, SubprocessRunner, python_executable
from CardiacSSLWorkflow.segment_logic import Prediction, SegmentationResult, SegmentLogic, SegmentRequest
from CardiacSSLWorkflow.segment_worker import read_prediction, segment_command, write_request

logger = logging.getLogger(__name__)


class SegmentProcess:
    """``start(request)`` -> the runner reports progress -> ``finish(result)`` puts a success into the scene."""

    def __init__(self, logic: SegmentLogic, runner: ProcessRunner | None = None, python: str | None = None) -> None:
        self.logic = logic
        self.runner = runner or SubprocessRunner()
        self.python = python or python_executable()
        self.request: SegmentRequest | None = None
        self._folder: Path | None = None

    def start(self, request: SegmentRequest) -> None:
        if self.runner.is_running():
            raise InputError("a segmentation is already running: wait for it or stop it")
        self._cleanup()
        self._folder = Path(tempfile.mkdtemp(prefix="cardiacssl-segment-"))
        write_request(self._folder, request.cine, request.model, request.frames, request.mode, request.device)
        self.request = request
        self.runner.start(segment_command(self._folder, self.python), env=worker_env())

    def cancel(self) -> None:
        self.runner.cancel()

    def finish(self, result: RunResult) -> SegmentationResult | None:
        """The scene's new segmentation after a successful run; None (scene untouched) otherwise."""
        try:
            if not result.ok:
                return None
            request = self.request
            if request.input_node.GetScene() is None:
                raise InputError("the input image was removed from the scene while it was being segmented")
            found = read_prediction(self._folder)
            prediction = Prediction(request.cine, found.frames, found.label, request.model, found.ed_es)
            return self.logic.add_result(request.input_node, prediction, overwrite=request.overwrite)
        finally:
            self._cleanup()

    def run(self, request: SegmentRequest, timeout: float | None = None) -> tuple[RunResult, SegmentationResult | None]:
        """Blocking :meth:`start` + wait + :meth:`finish` (scripts, tests, the self-test)."""
        self.start(request)
        result = self.runner.wait(timeout=timeout)
        return result, self.finish(result)

    @staticmethod
    def summary(result: RunResult) -> str:
        """One sentence for the user about a run that did not succeed."""
        if result.state is RunState.CANCELLED:
            return "Segmentation stopped; the scene is unchanged."
        last = result.message.strip().splitlines()[-1] if result.message.strip() else ""
        return f"Segmentation failed ({result.state.value}, exit code {result.returncode}): {last}"

    def _cleanup(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
