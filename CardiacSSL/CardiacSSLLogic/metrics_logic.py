"""Clinical metrics of a segmentation as MRML: a table, a volume-time chart, CSV export."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from CardiacSSLLib import labels
from CardiacSSLLib.errors import InputError
from CardiacSSLLogic.segment_logic import SegmentLogic

logger = logging.getLogger(__name__)

SUMMARY_KEYS = (  # (key in ClinicalResult.to_dict(), row label, unit)
    ("lv_edv_ml", "LV EDV", "ml"),
    ("lv_esv_ml", "LV ESV", "ml"),
    ("lv_sv_ml", "LV SV", "ml"),
    ("lv_ef_percent", "LV EF", "%"),
    ("rv_edv_ml", "RV EDV", "ml"),
    ("rv_esv_ml", "RV ESV", "ml"),
    ("rv_sv_ml", "RV SV", "ml"),
    ("rv_ef_percent", "RV EF", "%"),
    ("lv_mass_ed_g", "LV mass (ED)", "g"),
    ("ed_frame", "ED frame", ""),
    ("es_frame", "ES frame", ""),
)


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
    for key, name, unit in SUMMARY_KEYS:
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
        for key in ("ed_frame", "es_frame"):  # back to frame numbers of the cine
            if summary.get(key) is not None:
                summary[key] = frames[int(summary[key])]
        table = table or self.scene.AddNewNodeByClass("vtkMRMLTableNode", f"{segmentation_node.GetName()} metrics")
        self._fill_table(table, _rows(summary))
        volumes = {"LV": np.asarray(result.lv_volume_ml), "RV": np.asarray(result.rv_volume_ml)}
        t = np.asarray(times if times is not None else frames, dtype=float)
        if len(frames) > 1:
            chart = self._fill_chart(chart, segmentation_node.GetName(), t, volumes, times is not None)
        return MetricsResult(result, table, chart if len(frames) > 1 else None, frames, t, volumes)

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

    def _fill_chart(self, chart, name, t, volumes, is_time):
        import vtk

        curve_table = self.scene.AddNewNodeByClass("vtkMRMLTableNode", f"{name} volume curve")
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
        chart = chart or self.scene.AddNewNodeByClass("vtkMRMLPlotChartNode", f"{name} volume-time curve")
        chart.RemoveAllPlotSeriesNodeIDs()
        for structure in volumes:
            series = self.scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", f"{name} {structure} volume")
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
