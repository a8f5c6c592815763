"""The quality table's flagged frames as markers on the metrics' volume curve, through real MRML (slicer-core)."""

from __future__ import annotations

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is needed for the MRML tests")

from mrml_scenes import column, flag_series, static_heart_with_an_erased_slice  # noqa: E402

from CardiacSSLWorkflow import curve_flags, qc_logic  # noqa: E402
from CardiacSSLWorkflow.metrics_logic import MetricsLogic  # noqa: E402


def test_flagged_frames_are_marked_on_the_lv_curve_updated_and_removed():
    scene = slicer.vtkMRMLScene()
    logic, segmentation, input_node = static_heart_with_an_erased_slice(scene)
    metrics = MetricsLogic(scene).compute(segmentation, input_node)
    rows = qc_logic.rows(qc_logic.assess(logic, segmentation, input_node, confidence=False))
    flagged = qc_logic.flagged_frames(rows)
    assert flagged == [2, 3, 4]  # the erased slice's frame and, by the time-jump flag, its two neighbours

    series = curve_flags.show_flags(scene, metrics, segmentation, rows)
    assert flag_series(metrics.chart) == [series] and metrics.chart.GetNumberOfPlotSeriesNodes() == 3
    assert column(series, "frame") == flagged
    np.testing.assert_allclose(column(series, "LV_ml"), metrics.volumes_ml["LV"][flagged])  # on the LV curve
    np.testing.assert_allclose(column(series, series.GetXColumnName()), metrics.times_ms[flagged])
    assert series.GetLineStyle() == series.LineStyleNone and series.GetColor() == curve_flags.FLAG_COLOR

    metrics = MetricsLogic(scene).compute(segmentation, input_node, chart=metrics.chart)  # recomputed metrics
    again = curve_flags.show_flags(scene, metrics, segmentation, rows[:1])  # only the top row (frame 3)
    assert flag_series(metrics.chart) == [again] and column(again, "frame") == [3]
    assert scene.GetNumberOfNodesByClass("vtkMRMLPlotSeriesNode") == 3  # LV, RV, flags: none left behind
    tables = scene.GetNumberOfNodesByClass("vtkMRMLTableNode")

    other = slicer.vtkMRMLSegmentationNode()
    scene.AddNode(other)
    assert curve_flags.show_flags(scene, metrics, other, rows) is None  # a table of another segmentation
    assert flag_series(metrics.chart) == [] and scene.GetNumberOfNodesByClass("vtkMRMLTableNode") == tables - 1
    curve_flags.show_flags(scene, metrics, segmentation, rows)
    assert curve_flags.show_flags(scene, metrics, segmentation, []) is None  # the table cleared
    assert flag_series(metrics.chart) == [] and scene.GetNumberOfNodesByClass("vtkMRMLPlotSeriesNode") == 2


def test_flag_points_keep_only_frames_on_the_curve():
    scene = slicer.vtkMRMLScene()
    _, segmentation, input_node = static_heart_with_an_erased_slice(scene)
    metrics = MetricsLogic(scene).compute(segmentation, input_node)
    frames, xs, ys = curve_flags.flag_points(metrics, [4, 9, 1])
    assert frames == [4, 1]
    assert xs == [float(metrics.times_ms[4]), float(metrics.times_ms[1])]
    assert ys == [float(metrics.volumes_ml["LV"][4]), float(metrics.volumes_ml["LV"][1])]
