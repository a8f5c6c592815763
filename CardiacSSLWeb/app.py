"""The web app: trame server + trame-slicer views/editor + the CardiacSSL workflow panel.

Every MRML change happens on the server's event loop; inference runs in a worker thread
and fine-tuning in a separate process (CardiacSSLLogic's runner), so the page never blocks.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from contextlib import asynccontextmanager
from pathlib import Path

from CardiacSSLLib.errors import Cancelled, CardiacSSLError, InputError
from CardiacSSLWeb import plots
from CardiacSSLWeb.catalog import list_cines
from CardiacSSLWeb.jobs import FinetuneProgress, in_thread, watch_runner
from CardiacSSLWeb.session import Session
from CardiacSSLWeb.state import DEFAULTS, LOOPBACK_HOSTS, SEGMENTS, WebConfig

logger = logging.getLogger(__name__)

STATUS_ROUTE = "/cardiacssl/status"
LAYOUT = "Axial Only"


def _effects() -> dict:
    from trame_slicer.segmentation import (
        SegmentationEffectErase,
        SegmentationEffectIslands,
        SegmentationEffectPaint,
        SegmentationEffectScissors,
    )

    return {
        "Paint": SegmentationEffectPaint,
        "Erase": SegmentationEffectErase,
        "Scissors": SegmentationEffectScissors,
        "Islands": SegmentationEffectIslands,
    }


def _format(value: float | None, unit: str) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{int(value)}" if not unit and float(value).is_integer() else f"{value:.1f}"


class WebApp:
    """One server, one scene, one user session (a local, single-user tool)."""

    def __init__(self, config: WebConfig, server=None) -> None:
        from trame.app import get_server
        from trame_slicer import module as trame_slicer_module
        from trame_slicer.app.logic.segmentation import SegmentEditorLogic
        from trame_slicer.core import LayoutManager, SlicerApp
        from trame_slicer.rca_view import register_rca_factories

        from CardiacSSLWeb.ui import build_page

        self.config = config
        self.server = server or get_server(None, client_type="vue3")
        self.server.enable_module(trame_slicer_module)
        self.slicer_app = SlicerApp()
        register_rca_factories(self.slicer_app.view_manager, self.server)
        self.layout_manager = LayoutManager(self.slicer_app.scene, self.slicer_app.view_manager, self.server)
        self.layout_manager.register_layout_dict(LayoutManager.default_grid_configuration())
        self.layout_manager.set_layout(LAYOUT)
        self.editor_logic = SegmentEditorLogic(self.server, self.slicer_app)
        self.session = Session(self.slicer_app.scene, config.train_set)
        self.progress = FinetuneProgress()
        self.session.finetune.runner.progress.connect(self._on_finetune_event)
        self._watch: asyncio.Task | None = None
        self._stop = None  # CancelToken of the running segmentation
        self._tasks: set[asyncio.Task] = set()

        self.state.update(DEFAULTS)
        self.state.update(
            {
                "c_data_dir": str(config.data or ""),
                "c_device": config.device,
                "c_ft_steps": config.finetune_steps,
                "c_cases": len(self.session.training_set),
            }
        )
        self._refresh_models()
        ctrl = self.server.controller
        self.segmentation_trigger = ctrl.trigger_name(self.download_segmentation)
        self.csv_trigger = ctrl.trigger_name(self.download_csv)
        self.page = build_page(self.server, self.layout_manager, self)
        self.editor_logic.set_ui(self.page.editor_ui)
        self.state.change("c_frame")(self.on_frame)
        self.state.change("c_active_segment")(self.on_active_segment)
        self.state.change("c_active_tool")(self.on_tool)
        ctrl.on_server_bind.add(self._bind_routes)
        ctrl.on_server_ready.add(self._on_ready)

    @property
    def state(self):
        return self.server.state

    # --- plumbing ----------------------------------------------------------------------

    def _message(self, text: str, kind: str = "info") -> None:
        self.state.c_message, self.state.c_message_type = text, kind

    def _on_ready(self, **_) -> None:
        if self.config.data:
            self.on_list()

    def _background(self, coroutine) -> None:
        """Run page actions as tasks: wslink handles a client's messages one at a time, so an awaited
        handler would hold back every later click, slider move and view event of that client."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @asynccontextmanager
    async def _task(self, what: str):
        """Busy flag, and every error turned into a message on the page (the app keeps running)."""
        if self.state.c_busy:
            self._message("please wait: the previous action is still running", "warning")
            self.state.flush()
            yield False
            return
        self.state.c_busy, self.state.c_busy_text = True, what
        self.state.flush()
        try:
            yield True
        except Cancelled:
            self._message(f"{what} stopped", "info")
        except CardiacSSLError as exc:
            self._message(str(exc), "error")
        except Exception as exc:  # noqa: BLE001 - the page must survive any failure
            logger.exception("%s failed", what)
            self._message(f"{what} failed: {type(exc).__name__}: {exc}", "error")
        finally:
            self.state.c_busy, self.state.c_busy_text = False, ""
            self.state.flush()

    def _guarded(self, what: str, fn, *args):
        try:
            return fn(*args)
        except CardiacSSLError as exc:
            self._message(str(exc), "error")
        except Exception as exc:  # noqa: BLE001
            logger.exception("%s failed", what)
            self._message(f"{what} failed: {type(exc).__name__}: {exc}", "error")
        return None

    def _bind_routes(self, wslink_server) -> None:
        from aiohttp import web

        async def status(_request):
            return web.json_response(self.status())

        wslink_server.app.router.add_get(STATUS_ROUTE, status)

    def status(self) -> dict:
        out = self._guarded("status", self.session.status) or {}
        out.update(
            message=self.state.c_message,
            message_type=self.state.c_message_type,
            busy=self.state.c_busy,
            busy_text=self.state.c_busy_text,
            finetune_percent=self.state.c_ft_progress,
            finetune_step=self.progress.step,
            model=self.state.c_model,
            models=[m["value"] for m in self.state.c_models],
        )
        return out

    def _refresh_models(self, select: str | None = None) -> None:
        from CardiacSSLLib.registry import default_model_name
        from CardiacSSLLogic.segment_logic import list_models

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

    # --- 1. cines ------------------------------------------------------------------------

    def on_list(self) -> None:
        self._background(self._list())

    async def _list(self) -> None:
        async with self._task("listing cines") as ok:
            if not ok:
                return
            self.state.c_cines, self.state.c_cine = [], None
            entries = await in_thread(list_cines, self.state.c_data_dir.strip())
            self.state.c_cines = [{"title": e.title, "value": str(e.path)} for e in entries]
            self.state.c_cine = self.state.c_cines[0]["value"]
            self._message(f"{len(entries)} cine(s) found", "info")

    def on_load(self) -> None:
        self._background(self._load())

    async def _load(self) -> None:
        from CardiacSSLLib.io import load_cine

        async with self._task("loading the cine") as ok:
            if not ok:
                return
            path = self.state.c_cine
            if not path:
                raise InputError("pick a cine in the list first")
            cine = await in_thread(load_cine, path)
            if cine.name in (None, "", "cine"):
                cine.name = Path(path).name.split(".")[0]
            editor = self.slicer_app.segmentation_editor
            editor.deactivate_effect()
            nodes = self.session.show_cine(cine)
            self._show_volume(nodes.proxy)
            self.state.update(
                {
                    "c_loaded": True,
                    "c_cine_name": cine.name,
                    "c_n_frames": cine.n_frames,
                    "c_frame": 0,
                    "c_segmented": False,
                    "c_active_tool": "",
                    "c_has_metrics": False,
                    "c_metrics_rows": [],
                    "c_curve_svg": "",
                }
            )
            self._update_frame_text()
            sp = cine.geometry.spacing
            self._message(
                f"loaded {cine.name}: {cine.n_frames} frames, {cine.frame_shape[0]} slices of "
                f"{cine.frame_shape[1]}x{cine.frame_shape[2]}, spacing {sp[0]:.2f}x{sp[1]:.2f}x{sp[2]:.2f} mm",
                "success",
            )

    def _show_volume(self, volume_node) -> None:
        """Show the cine in its own short-axis plane (slice normal = the stack axis), centred and fitted."""
        import numpy as np

        from CardiacSSLLogic import mrml_convert

        cine = self.session.cine
        m = mrml_convert.ijk_to_ras(cine.geometry)
        normal, across = (m[:3, 2] / np.linalg.norm(m[:3, 2])), (m[:3, 0] / np.linalg.norm(m[:3, 0]))
        centre = m[:3, :3] @ ((np.array(cine.frame_shape[::-1], dtype=float) - 1) / 2) + m[:3, 3]
        for view in self.slicer_app.view_manager.get_slice_views():
            view.set_background_volume_id(volume_node.GetID())
            view.set_foreground_volume_id(None)
            view.reset_view()
            view.get_view_node().SetSliceToRASByNTP(*normal, *across, *centre, 0)
            view.fit_view_to_content()

    def on_frame(self, c_frame=0, **_) -> None:
        if self.session.cine is None:
            return
        try:
            frame = int(c_frame)
        except (TypeError, ValueError):
            return
        stack = self.slicer_app.segmentation_editor.undo_stack
        if stack is not None:
            stack.clear()  # undo entries belong to the frame they were made on
        self._guarded("changing frame", self.session.set_frame, frame)
        self._update_frame_text()

    def _update_frame_text(self) -> None:
        cine, frame = self.session.cine, self.session.current_frame()
        if cine is None:
            return
        text = f"frame {frame + 1}/{cine.n_frames}"
        if cine.trigger_times_ms is not None:
            text += f", {float(cine.trigger_times_ms[frame]):.0f} ms"
        if self.session.result is not None and frame not in self.session.predicted:
            text += " (not segmented)"
        self.state.c_frame_text = text
        self.state.c_seg_filename = self.session.segmentation_filename()

    # --- 2. segment ----------------------------------------------------------------------

    def on_segment(self) -> None:
        self._background(self._segment())

    async def _segment(self) -> None:
        async with self._task("segmenting") as ok:
            if not ok:
                return
            job = self.session.prepare_prediction(
                self.state.c_model, self.state.c_frames_mode, self.state.c_device, bool(self.state.c_replace)
            )
            self.state.c_busy_text = f"segmenting {len(job.frames)} frame(s) with {Path(str(job.model)).name}"
            self.state.flush()
            t0 = time.monotonic()
            label = await self._predict(job)
            result = self.session.add_prediction(job, label)
            self._activate_editor(result.segmentation)
            self.state.update({"c_segmented": True, "c_replace": False, "c_has_metrics": False, "c_curve_svg": ""})
            self._update_frame_text()
            self._message(
                f"segmented frames {result.frames[0]}-{result.frames[-1]} in {time.monotonic() - t0:.1f} s: "
                "paint corrections, then add the frame to the training set",
                "success",
            )

    async def _predict(self, job):
        """Inference in a worker thread, its progress shown and a Stop button offered meanwhile."""
        from CardiacSSLLib.engine.progress import CancelToken, Progress

        self._stop = CancelToken()
        done = [0, 0]
        progress = Progress(
            total=0, show_bar=False, callback=lambda e: done.__setitem__(slice(0, 2), [e["step"], e["total"]])
        )
        task = asyncio.ensure_future(in_thread(Session.predict, job, progress, self._stop))
        self.state.c_can_stop = True
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=0.5)
                if done[1]:
                    self.state.c_busy_text = f"segmenting {len(job.frames)} frame(s): batch {done[0]}/{done[1]}"
                    self.state.flush()
            return task.result()
        finally:
            self.state.c_can_stop = False

    def on_stop(self) -> None:
        if self._stop is not None:
            self._stop.cancel()
            self.state.c_busy_text = "stopping..."

    def _activate_editor(self, segmentation_node) -> None:
        editor = self.slicer_app.segmentation_editor
        editor.deactivate_effect()
        editor.set_active_segmentation(segmentation_node, self.session.input_node)
        self.state.c_active_tool = ""
        self.on_active_segment(self.state.c_active_segment)

    def on_active_segment(self, c_active_segment="LV", **_) -> None:
        node = self.session.segmentation_node
        if node is None or c_active_segment not in SEGMENTS:
            return
        segment_id = node.GetSegmentation().GetSegmentIdBySegmentName(c_active_segment)
        if segment_id:
            self.slicer_app.segmentation_editor.set_active_segment_id(segment_id)

    def on_tool(self, c_active_tool="", **_) -> None:
        editor = self.slicer_app.segmentation_editor
        if self.session.segmentation_node is None:
            return
        effect = _effects().get(c_active_tool or "")
        if effect is None:
            editor.deactivate_effect()
            return
        self.on_active_segment(self.state.c_active_segment)
        self._guarded("choosing a tool", editor.set_active_effect_type, effect)
        if c_active_tool in ("Scissors", "Islands"):  # their options live in the editor panel
            self._show_editor_panel(True)

    def _show_editor_panel(self, visible: bool) -> None:
        viewer = self.page.typed_state.data
        viewer.is_drawer_visible = visible
        viewer.active_tool = "SegmentEditorUI" if visible else None

    def on_toggle_editor(self) -> None:
        viewer = self.page.typed_state.data
        self._show_editor_panel(not (viewer.is_drawer_visible and viewer.active_tool == "SegmentEditorUI"))

    def on_undo(self) -> None:
        stack = self.slicer_app.segmentation_editor.undo_stack
        if stack is not None and stack.can_undo():
            stack.undo()

    def on_redo(self) -> None:
        stack = self.slicer_app.segmentation_editor.undo_stack
        if stack is not None and stack.can_redo():
            stack.redo()

    # --- 4. training set -------------------------------------------------------------------

    def on_add_case(self) -> None:
        self._background(self._add_case())

    async def _add_case(self) -> None:
        async with self._task("adding to the training set") as ok:
            if not ok:
                return
            case_ids = self.session.add_to_training_set("current")
            self.state.c_cases = len(self.session.training_set)
            self._message(f"added {', '.join(case_ids)} to {self.session.training_set.folder}", "success")

    # --- 5. fine-tune ------------------------------------------------------------------------

    def on_finetune(self) -> None:
        if self.session.finetune.runner.is_running():
            self._message("a fine-tuning run is already in progress", "warning")
            return
        name = (self.state.c_ft_name or "").strip() or time.strftime("web-%Y%m%d-%H%M%S")
        try:
            steps = int(self.state.c_ft_steps)
        except (TypeError, ValueError):
            steps = 0
        self.progress = FinetuneProgress(total=max(steps, 0))
        job = self._guarded(
            "starting fine-tuning",
            self.session.start_finetune,
            self.state.c_model,
            name,
            steps,
            self.state.c_device,
            list(self.config.finetune_args),
        )
        if job is None:
            return
        self.state.update(
            {
                "c_ft_running": True,
                "c_ft_progress": 0,
                "c_ft_text": f"fine-tuning {job.name} from {Path(str(self.state.c_model)).name}: starting",
                "c_loss_svg": "",
                "c_ft_name": "",
            }
        )
        self._ft_job = job
        self._watch = asyncio.ensure_future(
            watch_runner(self.session.finetune.runner, self._on_finetune_update, self._on_finetune_finished)
        )

    def _on_finetune_event(self, event: dict) -> None:
        self.progress.on_event(event)

    def _on_finetune_update(self) -> None:
        p = self.progress
        if p.step:
            last = p.last
            text = f"step {p.step}/{p.total}"
            if "loss" in last:
                text += f", loss {float(last['loss']):.4f}"
            if last.get("eta_s") is not None:
                text += f", {float(last['eta_s']):.0f} s left"
            with self.state:
                self.state.c_ft_progress = p.percent
                self.state.c_ft_text = text
                self.state.c_loss_svg = plots.svg_plot(
                    [("loss", p.steps, p.losses, "#ffb74d")], "step", "loss", from_zero=False
                )

    def _on_finetune_finished(self, result) -> None:
        from CardiacSSLLogic.finetune_logic import FinetuneLogic

        summary = FinetuneLogic.summary(result)
        kind = "success" if result.ok else ("info" if result.state.value == "cancelled" else "error")
        with self.state:
            self.state.c_ft_running = False
            self.state.c_ft_text = summary
            if result.ok:
                self.state.c_ft_progress = 100
                self._refresh_models(select=self._ft_job.name)
                summary += f" Model {self._ft_job.name!r} is selected for segmentation."
            self._message(summary, kind)

    def on_cancel(self) -> None:
        if self.session.finetune.runner.is_running():
            self.session.finetune.cancel()
            self.state.c_ft_text = "cancelling..."

    # --- 6. metrics, 7. downloads -------------------------------------------------------------

    def on_metrics(self) -> None:
        self._background(self._metrics())

    async def _metrics(self) -> None:
        async with self._task("computing metrics") as ok:
            if not ok:
                return
            metrics = self.session.compute_metrics()
            table = metrics.table
            rows = []
            for r in range(table.GetNumberOfRows()):
                value = table.GetTable().GetValue(r, 1).ToDouble()
                unit = table.GetCellText(r, 2)
                rows.append({"name": table.GetCellText(r, 0), "value": _format(value, unit), "unit": unit})
            self.state.c_metrics_rows = rows
            self.state.c_has_metrics = True
            if len(metrics.frames) > 1:
                x_label = "time (ms)" if self.session.cine.trigger_times_ms is not None else "frame"
                self.state.c_curve_svg = plots.svg_plot(
                    [
                        ("LV", metrics.times_ms, metrics.volumes_ml["LV"], "#ef5350"),
                        ("RV", metrics.times_ms, metrics.volumes_ml["RV"], "#42a5f5"),
                    ],
                    x_label,
                    "volume (ml)",
                )
            else:
                self.state.c_curve_svg = ""
            self._message(f"metrics of {len(metrics.frames)} segmented frame(s)", "success")

    def download_segmentation(self):
        found = self._guarded("writing the segmentation", self.session.segmentation_file)
        self.state.flush()
        return None if found is None else self.server.protocol.addAttachment(found[1])

    def download_csv(self):
        data = self._guarded("writing the CSV", self.session.metrics_csv)
        self.state.flush()
        return None if data is None else self.server.protocol.addAttachment(data)

    # --- serving -------------------------------------------------------------------------------

    def start(self, **kwargs) -> None:
        os.environ.setdefault("TRAME_ARGS", "")  # trame must not parse `cardiacssl web ...` arguments
        self.server.start(
            host=self.config.host,
            port=self.config.port,
            open_browser=False,
            timeout=0,
            show_connection_info=True,
            **kwargs,
        )


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS


def serve(config: WebConfig) -> int:
    """Build the app and serve it until interrupted."""
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    app = WebApp(config)
    app.start()
    return 0
