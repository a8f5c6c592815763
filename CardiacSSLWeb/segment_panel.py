"""Panel 2: pick a model, segment the loaded cine in a worker thread (progress, Stop)."""

from __future__ import annotations

import time
from pathlib import Path

from CardiacSSLLib.errors import OutputExistsError
from CardiacSSLWeb.jobs import in_thread_with_progress
from CardiacSSLWeb.page import Page
from CardiacSSLWeb.session import Session
from CardiacSSLWeb.state import WebConfig


def frames_text(result) -> str:
    """The frames of a result in words: "frame 3", "frames 0-19", or "ED frame 0 and ES frame 7"."""
    frames = result.frames
    if result.ed_es is not None:
        return f"ED frame {result.ed_es[0]} and ES frame {result.ed_es[1]}"
    return f"frame {frames[0]}" if len(frames) == 1 else f"frames {frames[0]}-{frames[-1]}"


class SegmentPanel:
    def __init__(self, page: Page, session: Session, config: WebConfig, on_segmented) -> None:
        self.page, self.session, self.config = page, session, config
        self.state = page.state
        self.on_segmented = on_segmented  # called with the SegmentationResult on the event loop
        self._stop = None  # CancelToken of the running inference

    def refresh_models(self, select: str | None = None) -> None:
        """Registry models (bundled, user) plus the checkpoints given with --model; keep or pick a selection."""
        from CardiacSSLLib.registry import default_model_name
        from CardiacSSLWorkflow.segment_logic import list_models

        items = [{"title": m.label, "value": m.name} for m in list_models()]
        items += [{"title": f"{Path(p).name} (file)", "value": str(p)} for p in self.config.models]
        self.state.c_models = items
        values = [i["value"] for i in items]
        current = select or self.state.c_model
        if current not in values:
            default = default_model_name()
            current = default if default in values else (str(self.config.models[0]) if self.config.models else None)
            current = current or (values[0] if values else None)
        self.state.c_model = current

    def on_segment(self) -> None:
        self.page.background(self._segment())

    async def _segment(self) -> None:
        async with self.page.task("segmenting") as ok:
            if not ok:
                return
            try:
                job = self.session.prepare_prediction(
                    self.state.c_model, self.state.c_frames_mode, self.state.c_device, bool(self.state.c_replace)
                )
            except OutputExistsError as exc:  # the module asks in a dialog; the page has a tick box
                raise OutputExistsError(f"{exc}: tick 'replace' to do so") from exc
            self.state.c_busy_text = f"segmenting {len(job.frames)} frame(s) with {Path(str(job.model)).name}"
            self.state.flush()
            t0 = time.monotonic()
            prediction = await self._predict(job)
            result = self.session.add_prediction(job, prediction)
            self.state.update({"c_segmented": True, "c_replace": False, "c_has_metrics": False, "c_curve_svg": ""})
            self.on_segmented(result)
            self.page.message(
                f"segmented {frames_text(result)} in {time.monotonic() - t0:.1f} s: "
                "paint corrections, then add the frame to the training set",
                "success",
            )

    async def _predict(self, job):
        """Inference in a worker thread; its progress is shown and Stop is offered meanwhile."""
        from CardiacSSLLib.progress import CancelToken

        self._stop = CancelToken()
        return await in_thread_with_progress(
            self.state,
            Session.predict,
            (job,),
            self._stop,
            lambda step, total: f"segmenting {len(job.frames)} frame(s): batch {step}/{total}",
        )

    def on_stop(self) -> None:
        if self._stop is not None:
            self._stop.cancel()
            self.state.c_busy_text = "stopping..."
