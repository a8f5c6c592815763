"""The web app: a trame server, trame-slicer's views and segment editor, and the CardiacSSL panels.

Every MRML change happens on the server's event loop; reading files and inference run in
worker threads and fine-tuning in a separate process (CardiacSSLWorkflow's runner), so the
page never blocks. ``GET /cardiacssl/status`` returns a JSON summary (tests, monitoring).
"""

from __future__ import annotations

import logging
import os

from CardiacSSLWeb.card_panel import CardPanel
from CardiacSSLWeb.cine_panel import CinePanel
from CardiacSSLWeb.editor_panel import EditorPanel
from CardiacSSLWeb.finetune_panel import FinetunePanel
from CardiacSSLWeb.page import Page
from CardiacSSLWeb.quality_panel import QualityPanel
from CardiacSSLWeb.results_panel import ResultsPanel
from CardiacSSLWeb.segment_panel import SegmentPanel
from CardiacSSLWeb.session import Session
from CardiacSSLWeb.state import DEFAULTS, WebConfig

__all__ = ["STATUS_ROUTE", "WebApp", "WebConfig", "serve"]

logger = logging.getLogger(__name__)

STATUS_ROUTE = "/cardiacssl/status"
LAYOUT = "Axial Only"  # one slice view in the cine's short-axis plane


class WebApp:
    """One server, one scene, one user (a local tool, like the Slicer module)."""

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
        self.editor_logic = SegmentEditorLogic(self.server, self.slicer_app)  # trame-slicer's editor state/undo

        state = self.server.state
        self.session = Session(self.slicer_app.scene, config.train_set)
        self.page = Page(state)
        self.editor = EditorPanel(self.page, self.session, self.slicer_app)
        self.cine = CinePanel(self.page, self.session, self.slicer_app, before_frame_change=self.editor.forget_history)
        self.segment = SegmentPanel(self.page, self.session, config, on_segmented=self._on_segmented)
        self.finetune = FinetunePanel(self.page, self.session, config, on_new_model=self._on_new_model)
        self.results = ResultsPanel(self.page, self.session, self.server)
        self.quality = QualityPanel(
            self.page, self.session, on_frame_shown=self.cine.update_frame_text, on_table=self.results.redraw_curve
        )
        self.cards = CardPanel(self.page)

        state.update(DEFAULTS)
        state.update(
            {
                "c_data_dir": str(config.data or ""),
                "c_device": config.device,
                "c_ft_steps": config.finetune_steps,
                "c_cases": len(self.session.training_set),
            }
        )
        self.segment.refresh_models()
        self.finetune.refresh_inits()
        self.layout = build_page(self.server, self.layout_manager, self)
        self.editor_logic.set_ui(self.layout.editor_ui)
        self.editor.attach(self.layout)
        state.change("c_frame")(self.cine.on_frame)
        state.change("c_active_segment")(self.editor.on_active_segment)
        state.change("c_active_tool")(self.editor.on_tool)
        state.change("c_ft_init", "c_ft_recommended")(self.finetune.show_recipe)
        self.server.controller.on_server_bind.add(self._bind_routes)
        self.server.controller.on_server_ready.add(self._on_ready)

    def _on_segmented(self, result) -> None:
        self.quality.forget()  # the table and the undo were of the previous segmentation
        self.editor.activate(result.segmentation)
        self.cine.update_frame_text()

    def on_stop(self) -> None:
        """The status line's Stop: the running inference, quality check or propagation (one runs at a time)."""
        self.segment.on_stop()
        self.quality.on_stop()

    def _on_new_model(self, name: str) -> None:
        self.segment.refresh_models(select=name)
        self.finetune.refresh_inits()

    def _on_ready(self, **_) -> None:
        if self.config.data:
            self.cine.on_list()

    def _bind_routes(self, wslink_server) -> None:
        from aiohttp import web

        async def status(_request):
            return web.json_response(self.status())

        wslink_server.app.router.add_get(STATUS_ROUTE, status)

    def status(self) -> dict:
        """The session's summary plus what the page shows (read-only)."""
        state = self.server.state
        out = self.page.guarded("status", self.session.status) or {}
        out.update(
            message=state.c_message,
            message_type=state.c_message_type,
            busy=state.c_busy,
            busy_text=state.c_busy_text,
            finetune_percent=state.c_ft_progress,
            finetune_step=self.finetune.progress.step,
            model=state.c_model,
            models=[m["value"] for m in state.c_models],
            inputs={
                "data_dir": state.c_data_dir,
                "ft_name": state.c_ft_name,
                "ft_steps": state.c_ft_steps,
                "ft_init": state.c_ft_init,
                "ft_recommended": state.c_ft_recommended,
                "ft_lr_scale": state.c_ft_lr_scale,
                "ft_freeze_steps": state.c_ft_freeze_steps,
            },
        )
        return out

    def start(self, **kwargs) -> None:
        os.environ.setdefault("TRAME_ARGS", "")  # trame must not parse the `cardiacssl web ...` arguments
        self.server.start(host=self.config.host, port=self.config.port, open_browser=False, timeout=0, **kwargs)


def serve(config: WebConfig) -> int:
    """Build the app and serve it until interrupted."""
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")  # offscreen rendering
    WebApp(config).start()
    return 0
