"""Panels 4, 6, 7: add the corrected frame to the training set, metrics and volume curve, downloads."""

from __future__ import annotations

import math
from collections.abc import Sequence

from CardiacSSLWeb import plots
from CardiacSSLWeb.page import Page
from CardiacSSLWeb.session import Session

FLAG_COLOR = "#ff1744"  # the module's flag markers are pure red too (CardiacSSLWorkflow.curve_flags)


def volume_curve_svg(metrics, is_time: bool, flagged: Sequence[int] = ()) -> str:
    """The LV and RV volume curve with ED/ES marks and, as red dots on the LV curve, the ``flagged`` frames."""
    from CardiacSSLWorkflow.curve_flags import flag_points

    if len(metrics.frames) < 2:
        return ""
    phases = (("ED", metrics.result.ed_frame), ("ES", metrics.result.es_frame))
    marks = [(name, float(metrics.times_ms[i])) for name, i in phases if i is not None]
    _, xs, ys = flag_points(metrics, flagged)
    return plots.svg_plot(
        [
            ("LV", metrics.times_ms, metrics.volumes_ml["LV"], "#ef5350"),
            ("RV", metrics.times_ms, metrics.volumes_ml["RV"], "#42a5f5"),
        ],
        "time (ms)" if is_time else "frame",
        "volume (ml)",
        marks=marks,
        points=[("flagged", xs, ys, FLAG_COLOR)],
    )


def _format(value: float | None, unit: str) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{int(value)}" if not unit and float(value).is_integer() else f"{value:.1f}"


class ResultsPanel:
    def __init__(self, page: Page, session: Session, server) -> None:
        self.page, self.session, self.server = page, session, server
        self.state = page.state
        self.segmentation_trigger = server.controller.trigger_name(self.download_segmentation)
        self.csv_trigger = server.controller.trigger_name(self.download_csv)

    def on_add_case(self) -> None:
        self.page.background(self._add_case())

    async def _add_case(self) -> None:
        async with self.page.task("adding to the training set") as ok:
            if not ok:
                return
            case_ids = self.session.add_to_training_set("current")
            self.state.c_cases = len(self.session.training_set)
            self.page.message(f"added {', '.join(case_ids)} to {self.session.training_set.folder}", "success")

    def on_metrics(self) -> None:
        self.page.background(self._metrics())

    async def _metrics(self) -> None:
        async with self.page.task("computing metrics") as ok:
            if not ok:
                return
            metrics = self.session.compute_metrics()
            table = metrics.table
            rows = []
            for r in range(table.GetNumberOfRows()):
                unit = table.GetCellText(r, 2)
                value = table.GetTable().GetValue(r, 1).ToDouble()
                rows.append({"name": table.GetCellText(r, 0), "value": _format(value, unit), "unit": unit})
            self.state.c_metrics_rows = rows
            self.state.c_has_metrics = True
            self.redraw_curve()
            self.page.message(f"metrics of {len(metrics.frames)} segmented frame(s)", "success")

    def redraw_curve(self) -> None:
        """The volume curve of the last metrics, with the frames the quality table flags marked."""
        from CardiacSSLWorkflow.qc_logic import flagged_frames

        metrics = self.session.metrics
        if metrics is None or not self.state.c_has_metrics:
            self.state.c_curve_svg = ""
            return
        flagged = flagged_frames(self.state.c_qc_rows) if self.state.c_has_qc else []
        self.state.c_curve_svg = volume_curve_svg(metrics, self.session.cine.trigger_times_ms is not None, flagged)

    def download_segmentation(self):
        found = self.page.guarded("writing the segmentation", self.session.segmentation_file)
        self.state.flush()
        return None if found is None else self.server.protocol.addAttachment(found[1])

    def download_csv(self):
        data = self.page.guarded("writing the CSV", self.session.metrics_csv)
        self.state.flush()
        return None if data is None else self.server.protocol.addAttachment(data)
