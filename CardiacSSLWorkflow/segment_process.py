"""Segment in a separate process: the GUI stays responsive, shows progress, and can stop the run.

The request is prepared on the main thread (:meth:`SegmentLogic.prepare`: every check and the
input as a cine), the inference runs in ``CardiacSSLWorkflow.segment_worker`` through the same
:class:`~CardiacSSLWorkflow.finetune_runner.ProcessRunner` as fine-tuning, and only a
successful run touches the scene (:meth:`SegmentLogic.add_result`, on the thread that polls
the runner). A stopped or failed run leaves the scene as it was.
"""

from __future__ import annotations

import logging
from pathlib import Path

from CardiacSSLLib.errors import InputError
from CardiacSSLWorkflow.finetune_runner import ProcessRunner, RunResult
from CardiacSSLWorkflow.segment_logic import Prediction, SegmentationResult, SegmentLogic, SegmentRequest
from CardiacSSLWorkflow.segment_worker import read_prediction, segment_command, write_request
from CardiacSSLWorkflow.worker_job import WorkerJob

logger = logging.getLogger(__name__)


class SegmentProcess(WorkerJob):
    """``start(request)`` -> the runner reports progress -> ``finish(result)`` puts a success into the scene."""

    what = "Segmentation"

    def __init__(self, logic: SegmentLogic, runner: ProcessRunner | None = None, python: str | None = None) -> None:
        super().__init__(runner, python)
        self.logic = logic
        self.request: SegmentRequest | None = None

    def start(self, request: SegmentRequest) -> None:
        def write(folder: Path) -> None:
            write_request(folder, request.cine, request.model, request.frames, request.mode, request.device)
            self.request = request

        self._launch(write, segment_command)

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
