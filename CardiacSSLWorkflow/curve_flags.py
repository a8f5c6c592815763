"""The frames a quality check flagged, as red markers on the metrics' LV volume-time curve.

One more plot series (markers only) in the chart :class:`~CardiacSSLWorkflow.metrics_logic.MetricsLogic`
builds, drawn from a small table of the flagged frames' time (or frame) and LV volume taken from the
same :class:`~CardiacSSLWorkflow.metrics_logic.MetricsResult`, so each marker sits on the LV curve.
Both nodes are tagged like the metrics nodes (owner, role): the next check updates them, and a table
without flags, or of another segmentation, removes them. :func:`flag_points` is the same selection
for a front end that draws the curve itself (the web app).
"""

from __future__ import annotations

from collections.abc import Sequence

from CardiacSSLWorkflow.metrics_logic import OWNER_ATTRIBUTE, MetricsLogic, MetricsResult
from CardiacSSLWorkflow.qc_logic import flagged_frames

FLAG_COLOR = (1.0, 0.0, 0.0)  # pure red: stands out from the LV curve's own red-brown
MARKER_SIZE = 12.0
SERIES_ROLE = "series-flags"
TABLE_ROLE = "flags"


def flag_points(metrics: MetricsResult, frames: Sequence[int]) -> tuple[list[int], list[float], list[float]]:
    """``(frames, x, LV ml)`` of those of ``frames`` that the curve holds (x: its time or frame axis)."""
    index = {int(f): i for i, f in enumerate(metrics.frames)}
    kept = [int(f) for f in frames if int(f) in index]
    xs = [float(metrics.times_ms[index[f]]) for f in kept]
    return kept, xs, [float(metrics.volumes_ml["LV"][index[f]]) for f in kept]


def show_flags(scene, metrics: MetricsResult, segmentation_node, rows: list[dict]):
    """Mark the frames of ``rows`` (a quality table of ``segmentation_node``) on ``metrics.chart``.

    Returns the marker series, or None when nothing is marked (its nodes are then removed).
    """
    chart = metrics.chart
    if chart is None or chart.GetScene() is None:
        return None
    owner = chart.GetAttribute(OWNER_ATTRIBUTE)
    logic = MetricsLogic(scene)
    series = logic.find("vtkMRMLPlotSeriesNode", owner, SERIES_ROLE)
    table = logic.find("vtkMRMLTableNode", owner, TABLE_ROLE)
    same = segmentation_node is not None and segmentation_node.GetID() == owner  # rows of the charted result
    frames, xs, ys = flag_points(metrics, flagged_frames(rows) if same else [])
    if not frames:
        _remove(scene, chart, series, table)
        return None
    name = segmentation_node.GetName()
    table = logic.own(table, "vtkMRMLTableNode", owner, TABLE_ROLE, f"{name} flagged frames")
    lv = logic.find("vtkMRMLPlotSeriesNode", owner, "series-LV")
    x_name = lv.GetXColumnName() if lv is not None else "x"  # the curve's own axis: time_ms or frame
    _fill_table(table, {"frame": frames, x_name: xs, "LV_ml": ys} if x_name != "frame" else {"frame": xs, "LV_ml": ys})
    series = logic.own(series, "vtkMRMLPlotSeriesNode", owner, SERIES_ROLE, f"{name} flagged frames")
    series.SetAndObserveTableNodeID(table.GetID())
    series.SetXColumnName(x_name)
    series.SetYColumnName("LV_ml")
    series.SetPlotType(series.PlotTypeScatter)
    series.SetLineStyle(series.LineStyleNone)  # markers only: the LV series draws the line
    series.SetMarkerStyle(series.MarkerStyleCircle)
    series.SetMarkerSize(MARKER_SIZE)
    series.SetColor(*FLAG_COLOR)
    if not chart.HasPlotSeriesNodeID(series.GetID()):
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
    return series


def _fill_table(table, columns: dict[str, list[float]]) -> None:
    import vtk

    table.RemoveAllColumns()
    for name, values in columns.items():
        array = vtk.vtkDoubleArray()
        array.SetName(name)
        for value in values:
            array.InsertNextValue(float(value))
        table.AddColumn(array)
    table.Modified()


def _remove(scene, chart, series, table) -> None:
    if series is not None:
        if chart.HasPlotSeriesNodeID(series.GetID()):
            chart.RemovePlotSeriesNodeID(series.GetID())
        scene.RemoveNode(series)
    if table is not None:
        scene.RemoveNode(table)
