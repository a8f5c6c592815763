"""The panel's "Quality and propagation" section: the ranked quality table and Propagate / Undo.

Logic lives in CardiacSSLWorkflow (qc_logic, qc_process, curve_flags, propagate_logic,
propagate_process); this file binds it to the widgets of CardiacSSL.ui. The quality check (with
the model-confidence flag) and propagation run in worker processes polled by the controller's
timer, like segmentation: only a finished check fills the table (and marks its flagged frames
on the volume curve), only a finished propagation changes the scene, and Undo writes back the
labels it replaced. Imported only inside Slicer (needs qt).
"""

from __future__ import annotations

import importlib.util
import logging

import qt
import slicer

from CardiacSSLLib.errors import InputError
from CardiacSSLWorkflow.finetune_runner import RunResult, SubprocessRunner, python_executable

logger = logging.getLogger(__name__)

COLUMNS = ("frame", "slice", "score", "flags")


class QualityPanel:
    """Owned by ``CardiacSSLWidgetController``; reads its parameter node, reports on its status line."""

    def __init__(self, controller) -> None:
        self.controller = controller
        self.ui = controller.ui
        self.rows: list[dict] = []
        self.rowsOf = None  # the segmentation node the rows describe
        self.job = None  # the running PropagateProcess
        self.qcJob = None  # the running QualityProcess
        self._qcTarget = None  # the segmentation node the running check reads
        self.undo = None  # (segmentation, input, frames, labels before the last propagation)
        self.ui.qualityButton.connect("clicked()", self.onQuality)
        self.ui.qualityTable.connect("cellClicked(int,int)", lambda row, _col: self.goToRow(row))
        self.ui.nextToCorrectButton.connect("clicked()", lambda: self.goToRow(0))
        self.ui.propagateButton.connect("clicked()", self.onPropagate)
        self.ui.undoPropagateButton.connect("clicked()", self.onUndo)
        self.ui.undoPropagateButton.enabled = False

    def _logic(self):
        from CardiacSSLWorkflow.segment_logic import SegmentLogic

        return SegmentLogic(slicer.mrmlScene)

    def _selection(self):
        p = self.controller.parameterNode
        if p is None or p.segmentation is None or p.inputVolume is None:
            slicer.util.errorDisplay("Select the input and its segmentation (segment first).")
            return None
        return p.segmentation, p.inputVolume

    # --- quality table -------------------------------------------------------------

    def jobs(self) -> list:
        """This section's worker jobs (the controller's timer polls those running)."""
        return [job for job in (self.job, self.qcJob) if job is not None]

    def onQuality(self) -> None:
        """Rank the slices of the current result in a worker process (all flags, model confidence
        included); while it runs the button stops it. Without PyTorch: the other flags, here."""
        from CardiacSSLWorkflow import qc_logic
        from CardiacSSLWorkflow.qc_process import QualityProcess

        if self.qcJob is not None and self.qcJob.runner.is_running():
            self.qcJob.cancel()
            self.controller._status("Stopping the quality check...")
            return
        selected = self._selection()
        if selected is None:
            return
        if importlib.util.find_spec("torch") is None:
            self._qualityWithoutModel(selected)
            return
        p = self.controller.parameterNode
        with slicer.util.tryWithErrorDisplay("Could not start the quality check."):
            request = qc_logic.prepare(self._logic(), *selected, model=p.model or "default", device=p.device)
            self.qcJob = QualityProcess(SubprocessRunner(), python=python_executable())
            self.qcJob.runner.progress.connect(self._onQualityProgress)
            self.qcJob.runner.finished.connect(self._onQualityFinished)
            self.qcJob.start(request)
            self._qcTarget = selected[0]
            self.ui.qualityButton.text = "Stop"
            self.controller._status("Checking quality (with the model's confidence) in a separate process...")
            self.controller._timer.start()

    def _qualityWithoutModel(self, selected) -> None:
        """The anatomy and volume-curve flags on the GUI thread (quick: no model run)."""
        from CardiacSSLWorkflow import qc_logic

        with slicer.util.tryWithErrorDisplay("Could not assess the segmentation.", waitCursor=True):
            rows = qc_logic.rows(qc_logic.assess(self._logic(), *selected, confidence=False))
            self._showRows(rows, selected[0])
            self.controller._status(
                f"{self._flaggedText()} (without the model-confidence flag: PyTorch is not installed)"
            )

    def _onQualityProgress(self, event: dict) -> None:
        if event.get("event") == "step" and event.get("total"):
            stage = f" ({event['stage']})" if event.get("stage") else ""
            self.controller._status(f"Checking quality: step {event['step']}/{event['total']}{stage}")

    def _onQualityFinished(self, result: RunResult) -> None:
        from CardiacSSLWorkflow.qc_process import QualityProcess

        self.ui.qualityButton.text = "Check quality"
        ok, rows = self.controller._attempt("Could not read the quality table.", self.qcJob.finish, result)
        if not ok:
            return
        if rows is None:  # stopped or failed: the previous table stays
            self.controller._status(QualityProcess.summary(result))
            if result.state.value != "cancelled":
                slicer.util.errorDisplay(QualityProcess.summary(result), detailedText=result.message)
            return
        self._showRows(rows, self._qcTarget)
        self.controller._status(self._flaggedText())

    def _showRows(self, rows: list[dict], segmentation) -> None:
        self.rows, self.rowsOf = rows, segmentation
        self._fillTable()
        self.markCurve()

    def _flaggedText(self) -> str:
        flagged = sum(1 for r in self.rows if r["flags"])
        return f"Quality: {flagged} of {len(self.rows)} slice(s) flagged"

    def markCurve(self) -> None:
        """Red markers on the volume curve (when one is shown) at the frames the table flags."""
        from CardiacSSLWorkflow.curve_flags import show_flags

        metrics = self.controller._metrics
        if metrics is not None:
            self.controller._attempt("Could not mark the flagged frames on the volume curve.", show_flags,
                                     slicer.mrmlScene, metrics, self.rowsOf, self.rows)  # fmt: skip

    def _fillTable(self) -> None:
        table = self.ui.qualityTable
        table.setRowCount(len(self.rows))
        for row, values in enumerate(self.rows):
            for col, key in enumerate(COLUMNS):
                table.setItem(row, col, qt.QTableWidgetItem(str(values[key])))
        top = self.rows[0] if self.rows else None
        self.ui.nextToCorrectButton.text = (
            f"Next to correct: frame {top['frame']}, slice {top['slice']}" if top else "Next to correct"
        )

    def goToRow(self, row: int) -> None:
        """Show the row's frame and centre the slice views on its slice."""
        from CardiacSSLWorkflow import qc_logic

        if not 0 <= row < len(self.rows):
            return
        frame, z = self.rows[row]["frame"], self.rows[row]["slice"]
        with slicer.util.tryWithErrorDisplay("Could not go to the slice."):
            r, a, s = qc_logic.go_to(self._logic(), self.controller.parameterNode.inputVolume, frame, z)
            slicer.vtkMRMLSliceNode.JumpAllSlices(slicer.mrmlScene, r, a, s)
            self.controller._status(f"Frame {frame}, slice {z}: {self.rows[row]['flags'] or 'no flag'}")

    # --- propagation -----------------------------------------------------------------

    def _corrected(self, logic, segmentation, input_node) -> list[int]:
        from CardiacSSLWorkflow.propagate_logic import corrected_frames
        from CardiacSSLWorkflow.trainingset_logic import case_source

        frames = [f for f, _ in logic.frame_labels(segmentation, input_node)]
        try:
            cases = self.controller.training.trainingSet().cases()
        except Exception:  # noqa: BLE001 - an unreadable training set: fall back on the frame shown
            logger.debug("training set unreadable", exc_info=True)
            cases = []
        source = case_source(logic.input_cine(input_node), input_node)
        return corrected_frames(cases, source, frames, logic.current_frame(input_node))

    def onPropagate(self) -> None:
        """Carry the corrected frames to the others in a worker process; while it runs the button stops it."""
        from CardiacSSLWorkflow import propagate_logic
        from CardiacSSLWorkflow.propagate_process import PropagateProcess

        if self.job is not None and self.job.runner.is_running():
            self.job.cancel()
            self.controller._status("Stopping the propagation...")
            return
        selected = self._selection()
        if selected is None:
            return
        from CardiacSSLLib.propagation.methods import MODEL_METHODS

        p, logic = self.controller.parameterNode, self._logic()
        if p.propagateMethod in MODEL_METHODS and not self.controller._dependenciesReady():
            return  # the model's methods need PyTorch; the registration ones do not
        with slicer.util.tryWithErrorDisplay("Could not start the propagation."):
            corrected = self._corrected(logic, *selected)
            request = propagate_logic.prepare(
                logic, *selected, corrected, p.propagateMethod, model=p.model or "default", device=p.device
            )
            self.job = PropagateProcess(SubprocessRunner(), python=python_executable())
            self.job.runner.progress.connect(self._onProgress)
            self.job.runner.finished.connect(self._onFinished)
            self.job.start(request)
            self._target = selected
            self.ui.propagateButton.text = "Stop"
            self.ui.propagateProgressBar.setValue(0)
            self.controller._status(f"Propagating from corrected frame(s) {corrected} in a separate process...")
            self.controller._timer.start()

    def _onProgress(self, event: dict) -> None:
        if event.get("event") == "step" and event.get("total"):
            self.ui.propagateProgressBar.setValue(int(100 * event["step"] / event["total"]))

    def _onFinished(self, result: RunResult) -> None:
        from CardiacSSLWorkflow import propagate_logic
        from CardiacSSLWorkflow.propagate_process import PropagateProcess

        self.ui.propagateButton.text = "Propagate correction"
        ok, proposal = self.controller._attempt("Could not read the propagation.", self.job.finish, result)
        if not ok:
            return
        if proposal is None:  # stopped or failed: nothing was applied
            self.ui.propagateProgressBar.setValue(0)
            self.controller._status(PropagateProcess.summary(result))
            if result.state.value != "cancelled":
                slicer.util.errorDisplay(PropagateProcess.summary(result), detailedText=result.message)
            return
        segmentation, input_node = self._target
        ok, _ = self.controller._attempt("Could not apply the propagation.", propagate_logic.apply, self._logic(),
                                         segmentation, input_node, proposal.frames, proposal.after)  # fmt: skip
        if not ok:
            return
        self.undo = (segmentation, input_node, proposal.frames, proposal.before)
        self.ui.undoPropagateButton.enabled = True
        self._showRows([], None)  # the table described the labels before the propagation
        self.ui.propagateProgressBar.setValue(100)
        self.controller._status(f"Propagated from frame(s) {proposal.corrected} to frame(s) {proposal.changed}")

    def onUndo(self) -> None:
        """Write back the labels the last propagation replaced."""
        from CardiacSSLWorkflow import propagate_logic

        if self.undo is None:
            return
        segmentation, input_node, frames, before = self.undo
        with slicer.util.tryWithErrorDisplay("Could not undo the propagation."):
            if segmentation.GetScene() is None or input_node.GetScene() is None:
                self.undo = None
                self.ui.undoPropagateButton.enabled = False
                raise InputError("the propagated segmentation or its input was removed: nothing to undo")
            propagate_logic.apply(self._logic(), segmentation, input_node, frames, before)
            self.undo = None
            self.ui.undoPropagateButton.enabled = False
            self.controller._status("Propagation undone: the previous labels are back")
