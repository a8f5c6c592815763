"""Panel 1: list the cines of a folder, load one as a sequence, browse its frames."""

from __future__ import annotations

from pathlib import Path

from CardiacSSLLib.errors import InputError
from CardiacSSLWeb.catalog import list_cines
from CardiacSSLWeb.jobs import in_thread
from CardiacSSLWeb.page import Page
from CardiacSSLWeb.session import Session


class CinePanel:
    def __init__(self, page: Page, session: Session, slicer_app, before_frame_change=None) -> None:
        self.page, self.session, self.slicer_app = page, session, slicer_app
        self.state = page.state
        self.before_frame_change = before_frame_change  # e.g. drop the editor's undo history

    def on_list(self) -> None:
        self.page.background(self._list())

    async def _list(self) -> None:
        async with self.page.task("listing cines") as ok:
            if not ok:
                return
            self.state.c_cines, self.state.c_cine = [], None
            entries = await in_thread(list_cines, self.state.c_data_dir.strip())
            self.state.c_cines = [{"title": e.title, "value": str(e.path)} for e in entries]
            self.state.c_cine = self.state.c_cines[0]["value"]
            self.page.message(f"{len(entries)} cine(s) found", "info")

    def on_load(self) -> None:
        self.page.background(self._load())

    async def _load(self) -> None:
        from CardiacSSLLib.io import load_cine

        async with self.page.task("loading the cine") as ok:
            if not ok:
                return
            path = self.state.c_cine
            if not path:
                raise InputError("pick a cine in the list first")
            cine = await in_thread(load_cine, path)  # reading files: off the event loop
            if cine.name in (None, "", "cine"):
                cine.name = Path(path).name.split(".")[0]
            self.slicer_app.segmentation_editor.deactivate_effect()
            nodes = self.session.show_cine(cine)
            self.show_volume(nodes.proxy)
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
            self.update_frame_text()
            sp = cine.geometry.spacing
            self.page.message(
                f"loaded {cine.name}: {cine.n_frames} frames, {cine.frame_shape[0]} slices of "
                f"{cine.frame_shape[1]}x{cine.frame_shape[2]}, spacing {sp[0]:.2f}x{sp[1]:.2f}x{sp[2]:.2f} mm",
                "success",
            )

    def show_volume(self, volume_node) -> None:
        """Show the cine in its own short-axis plane, centred and fitted, as overlay.png shows it
        (``display_axes``: radiological, the RV on the viewer's left)."""
        from CardiacSSLWorkflow.slice_view import stack_view_pose

        normal, across, centre = stack_view_pose(volume_node)  # the module's red view uses the same pose
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
        if self.before_frame_change is not None:
            self.before_frame_change()
        self.page.guarded("changing frame", self.session.set_frame, frame)
        self.update_frame_text()

    def update_frame_text(self) -> None:
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
