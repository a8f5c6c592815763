"""Clinical metrics of a segmentation as MRML: a table, a volume-time chart, CSV export."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from CardiacSSLLib import labels
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.metrics.summary_rows import FRAME_KEYS, SUMMARY_ROWS
from CardiacSSLWorkflow.segment_logic import SegmentLogic

logger = logging.getLogger(__name__)

OWNER_ATTRIBUTE = "CardiacSSL.metricsOf"  # ID of the segmentation whose metrics a node shows
ROLE_ATTRIBUTE = "CardiacSSL.metricsRole"  # table | curve | chart | series-LV | series-RV (| flags, series-flags)


@dataclass
class MetricsResult:
    result: object  # CardiacSSLLib.metrics.clinical.ClinicalResult
    table: object  # vtkMRMLTableNode
    chart: object | None  # vtkMRMLPlotChartNode (None for one frame)
    frames: list[int]
    times_ms: np.ndarray
    volumes_ml: dict[str, np.ndarray]


def _rows(summary: dict) -> list[tuple[str, float | None, str]]:
    rows = []
    for key, name, unit in SUMMARY_ROWS:
        if key in summary:
            value = summary[key]
            rows.append((name, None if value is None else float(value), unit))
    if not rows:  # unknown layout of the library's dict: show its scalars as they are
        rows = [
            (k, float(v), "") for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
    return rows


class MetricsLogic:
    def __init__(self, scene) -> None:
        self.scene = scene

    def compute(self, segmentation_node, input_node, table=None, chart=None) -> MetricsResult:
        """Fill (or create) a table with EDV/ESV/SV/EF (LV, RV) and LV mass, and a volume-time chart."""
        from CardiacSSLLib.metrics.clinical import clinical_metrics

        seg_logic = SegmentLogic(self.scene)
        items = sorted(seg_logic.frame_labels(segmentation_node, input_node), key=lambda item: item[0])
        cine = seg_logic.input_cine(input_node)
        if not cine.geometry.spacing_known:
            raise InputError("this image has no pixel spacing: volumes in millilitres cannot be computed")
        frames = [f for f, _ in items]
        label = np.stack([lab for _, lab in items])
        times = None if cine.trigger_times_ms is None else cine.trigger_times_ms[frames]
        result = clinical_metrics(label, cine.geometry, times)  # its frame numbers index ``label``
        summary = dict(result.summary())
        for key in FRAME_KEYS:  # back to frame numbers of the cine
            if summary.get(key) is not None:
                summary[key] = frames[int(summary[key])]
        name, owner = segmentation_node.GetName(), segmentation_node.GetID()
        table = self.own(table, "vtkMRMLTableNode", owner, "table", f"{name} metrics")
        self._fill_table(table, _rows(summary))
        volumes = {"LV": np.asarray(result.lv_volume_ml), "RV": np.asarray(result.rv_volume_ml)}
        t = np.asarray(times if times is not None else frames, dtype=float)
        if len(frames) > 1:
            chart = self._fill_chart(chart, owner, name, t, volumes, times is not None)
        return MetricsResult(result, table, chart if len(frames) > 1 else None, frames, t, volumes)

    def find(self, class_name: str, owner: str, role: str):
        """The node this module made earlier for ``role`` of the segmentation ``owner``, or None."""
        for i in range(self.scene.GetNumberOfNodesByClass(class_name)):
            node = self.scene.GetNthNodeByClass(i, class_name)
            if node.GetAttribute(OWNER_ATTRIBUTE) == owner and node.GetAttribute(ROLE_ATTRIBUTE) == role:
                return node
        return None

    def own(self, node, class_name: str, owner: str, role: str, name: str):
        """``node`` (given by the caller), else the earlier one for ``owner``/``role``, else a new one; tagged."""
        node = node or self.find(class_name, owner, role)
        if node is None:
            node = self.scene.AddNewNodeByClass(class_name, name)
        elif node.GetAttribute(ROLE_ATTRIBUTE) == role:  # ours: follow the segmentation it shows now
            node.SetName(name)
        node.SetAttribute(OWNER_ATTRIBUTE, owner)
        node.SetAttribute(ROLE_ATTRIBUTE, role)
        return node

    @staticmethod
    def _fill_table(table, rows) -> None:
        import vtk

        table.RemoveAllColumns()
        columns = [vtk.vtkStringArray(), vtk.vtkDoubleArray(), vtk.vtkStringArray()]
        for array, name in zip(columns, ("Metric", "Value", "Unit"), strict=True):
            array.SetName(name)
        for name, value, unit in rows:
            columns[0].InsertNextValue(name)
            columns[1].InsertNextValue(np.nan if value is None else value)
            columns[2].InsertNextValue(unit)
        for array in columns:
            table.AddColumn(array)
        table.Modified()

    def _fill_chart(self, chart, owner, name, t, volumes, is_time):
        """Fill the volume-time chart, reusing its earlier curve table and series (none left orphaned)."""
        import vtk

        chart = self.own(chart, "vtkMRMLPlotChartNode", owner, "chart", f"{name} volume-time curve")
        earlier = [chart.GetNthPlotSeriesNode(i) for i in range(chart.GetNumberOfPlotSeriesNodes())]
        earlier = {s.GetAttribute(ROLE_ATTRIBUTE): s for s in earlier if s is not None}
        series_nodes = {
            structure: self.own(
                earlier.pop(f"series-{structure}", None),
                "vtkMRMLPlotSeriesNode",
                owner,
                f"series-{structure}",
                f"{name} {structure} volume",
            )
            for structure in volumes
        }
        old_tables = [s.GetTableNode() for s in series_nodes.values()]
        curve_table = next((tb for tb in old_tables if tb is not None and tb.GetAttribute(ROLE_ATTRIBUTE)), None)
        curve_table = self.own(curve_table, "vtkMRMLTableNode", owner, "curve", f"{name} volume curve")
        for stale in earlier.values():  # series of ours this chart does not show any more
            if stale.GetAttribute(ROLE_ATTRIBUTE) and stale.GetScene() is not None:
                self.scene.RemoveNode(stale)
        curve_table.RemoveAllColumns()
        x = vtk.vtkDoubleArray()
        x.SetName("time_ms" if is_time else "frame")
        for value in t:
            x.InsertNextValue(float(value))
        curve_table.AddColumn(x)
        for structure, vol in volumes.items():
            arr = vtk.vtkDoubleArray()
            arr.SetName(f"{structure}_ml")
            for value in vol:
                arr.InsertNextValue(float(value))
            curve_table.AddColumn(arr)
        curve_table.Modified()
        chart.RemoveAllPlotSeriesNodeIDs()
        for structure, series in series_nodes.items():
            series.SetAndObserveTableNodeID(curve_table.GetID())
            series.SetXColumnName(x.GetName())
            series.SetYColumnName(f"{structure}_ml")
            series.SetPlotType(series.PlotTypeScatter)
            series.SetColor(*labels.COLORS[labels.LV if structure == "LV" else labels.RV])
            chart.AddAndObservePlotSeriesNodeID(series.GetID())
        chart.SetTitle("Ventricular volume")
        chart.SetXAxisTitle("time (ms)" if is_time else "frame")
        chart.SetYAxisTitle("volume (ml)")
        return chart

    @staticmethod
    def export_csv(metrics: MetricsResult, path: str | Path, overwrite: bool = False) -> Path:
        """Write the metrics with the library's CSV writer (refuses to replace a file unless ``overwrite``)."""
        metrics.result.to_csv(Path(path), overwrite=overwrite)
        return Path(path)
