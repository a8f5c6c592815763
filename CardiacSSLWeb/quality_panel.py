"""Panel: the ranked quality table (a row click shows its frame and slice) and Propagate / Undo.

Reading the scene and changing it run on the event loop (MRML); the quality check
(:func:`CardiacSSLWorkflow.qc_logic.compute` with the model-confidence flag) and the propagation
(:func:`CardiacSSLWorkflow.propagate_logic.compute`), both without MRML, run in a worker thread with
progress and Stop. Only a finished check replaces the table (and marks its flagged frames on the
volume curve); only a finished propagation changes the segmentation; Undo writes back what it replaced.
"""

from __future__ import annotations

from CardiacSSLLib.propagation.methods import METHODS as PROPAGATE_METHODS
from CardiacSSLWeb.jobs import in_thread_with_progress
from CardiacSSLWeb.page import Page
from CardiacSSLWeb.session import Session

__all__ = ["PROPAGATE_METHODS", "QualityPanel"]  # ui.py takes the method list from here


class QualityPanel:
    def __init__(self, page: Page, session: Session, on_frame_shown, on_table=lambda: None) -> None:
        self.page, self.session = page, session
        self.state = page.state
        self.on_frame_shown = on_frame_shown  # called after a jump (the frame slider and text follow)
        self.on_table = on_table  # called when the table changed (the volume curve marks its flagged frames)
        self._stop = None  # CancelToken of the running check or propagation (one runs at a time)
        self.undo = None  # (frames, labels) the last propagation replaced

    def forget(self) -> None:
        """A new cine or segmentation: the table and the undo no longer apply."""
        self.undo = None
        self.state.update({"c_qc_rows": [], "c_has_qc": False, "c_can_undo": False})
        self.on_table()

    def on_quality(self) -> None:
        self.page.background(self._quality())

    async def _quality(self) -> None:
        from CardiacSSLWorkflow import qc_logic

        async with self.page.task("checking quality") as ok:
            if not ok:
                return
            request = self.session.quality_request(self.state.c_model or "default", self.state.c_device)
            self.state.c_busy_text = "checking quality (the model runs on flipped images)"
            self.state.flush()
            table = await self._in_thread(qc_logic.compute, request, "checking quality")
            rows = qc_logic.rows(table)
            keys = ("rank", "frame", "slice", "score", "flags")
            self.state.c_qc_rows = [{k: r[k] for k in keys} for r in rows]
            self.state.c_has_qc = True
            self.on_table()
            flagged = sum(1 for r in rows if r["flags"])
            self.page.message(f"{flagged} of {len(rows)} slice(s) flagged; click a row to go there", "success")

    def on_row(self, frame: int, slice_index: int) -> None:
        """Show a row's frame and slice (also "next to correct": the first row)."""
        done = self.page.guarded("going to the slice", self.session.go_to, frame, slice_index)
        if done is not None:
            self.state.c_frame = int(frame)
            self.on_frame_shown()
            self.page.message(f"frame {frame}, slice {slice_index}", "info")

    def on_next(self) -> None:
        rows = self.state.c_qc_rows
        if rows:
            self.on_row(rows[0]["frame"], rows[0]["slice"])

    def on_propagate(self) -> None:
        self.page.background(self._propagate())

    async def _propagate(self) -> None:
        from CardiacSSLWorkflow.propagate_logic import compute

        async with self.page.task("propagating") as ok:
            if not ok:
                return
            request = self.session.propagation_request(
                self.state.c_prop_method, self.state.c_model or "default", self.state.c_device
            )
            self.state.c_busy_text = f"propagating from corrected frame(s) {request.corrected}"
            self.state.flush()
            proposal = await self._in_thread(compute, request, "propagating")
            self.session.set_labels(proposal.frames, proposal.after)
            self.undo = (proposal.frames, proposal.before)
            self.state.update({"c_can_undo": True, "c_has_metrics": False, "c_has_qc": False, "c_qc_rows": []})
            self.on_table()
            self.page.message(
                f"propagated from frame(s) {proposal.corrected} to frame(s) {proposal.changed}; Undo puts them back",
                "success",
            )

    async def _in_thread(self, fn, request, what: str):
        """``fn(request, progress, cancel)`` in a worker thread, its steps on the busy line, Stop offered."""
        from CardiacSSLLib.progress import CancelToken

        self._stop = CancelToken()
        return await in_thread_with_progress(
            self.state, fn, (request,), self._stop, lambda step, total: f"{what}: step {step}/{total}"
        )

    def on_stop(self) -> None:
        if self._stop is not None:
            self._stop.cancel()
            self.state.c_busy_text = "stopping..."

    def on_undo(self) -> None:
        if self.undo is None:
            return
        frames, before = self.undo
        if self.page.guarded("undoing the propagation", self.session.set_labels, frames, before) is not None:
            self.undo = None
            self.state.update({"c_can_undo": False, "c_has_metrics": False, "c_has_qc": False, "c_qc_rows": []})
            self.on_table()
            self.page.message("propagation undone: the previous labels are back", "success")
