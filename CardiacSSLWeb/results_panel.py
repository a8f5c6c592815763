"""Panels 4, 6, 7: add the corrected frame to the training set, metrics and volume curve, downloads."""

from __future__ import annotations

import math

from CardiacSSLWeb import plots
from CardiacSSLWeb.page import Page
from CardiacSSLWeb.session import Session


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
            self.state.c_curve_svg = ""
            if len(metrics.frames) > 1:
                x_label = "time (ms)" if self.session.cine.trigger_times_ms is not None else "frame"
                phases = (("ED", metrics.result.ed_frame), ("ES", metrics.result.es_frame))
                marks = [(name, float(metrics.times_ms[i])) for name, i in phases if i is not None]
                self.state.c_curve_svg = plots.svg_plot(
                    [
                        ("LV", metrics.times_ms, metrics.volumes_ml["LV"], "#ef5350"),
                        ("RV", metrics.times_ms, metrics.volumes_ml["RV"], "#42a5f5"),
                    ],
                    x_label,
                    "volume (ml)",
                    marks=marks,
                )
            self.page.message(f"metrics of {len(metrics.frames)} segmented frame(s)", "success")

    def download_segmentation(self):
        found = self.page.guarded("writing the segmentation", self.session.segmentation_file)
        self.state.flush()
        return None if found is None else self.server.protocol.addAttachment(found[1])

    def download_csv(self):
        data = self.page.guarded("writing the CSV", self.session.metrics_csv)
        self.state.flush()
        return None if data is None else self.server.protocol.addAttachment(data)
