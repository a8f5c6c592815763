"""The panel's "Quality and propagation" section: the ranked quality table and Propagate / Undo.

Logic lives in CardiacSSLWorkflow (qc_logic, propagate_logic, propagate_process); this file binds
it to the widgets of CardiacSSL.ui. Propagation runs in a worker process polled by the
controller's timer, like segmentation; only a finished run changes the scene, and Undo writes
back the labels it replaced. Imported only inside Slicer (needs qt).
"""

from __future__ import annotations

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
        self.job = None  # the running PropagateProcess
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

    def onQuality(self) -> None:
        """Rank the slices of the current result (anatomy and volume-curve flags: no model run here)."""
        from CardiacSSLWorkflow import qc_logic

        selected = self._selection()
        if selected is None:
            return
        with slicer.util.tryWithErrorDisplay("Could not assess the segmentation.", waitCursor=True):
            table = qc_logic.assess(self._logic(), *selected, confidence=False)
            self.rows = qc_logic.rows(table)
            self._fillTable()
            flagged = sum(1 for r in self.rows if r["flags"])
            self.controller._status(f"Quality: {flagged} of {len(self.rows)} slice(s) flagged")

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
            cases = self.controller._trainingSet().cases()
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
        p, logic = self.controller.parameterNode, self._logic()
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
        self.rows = []  # the table described the labels before the propagation
        self._fillTable()
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
