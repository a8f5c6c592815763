"""Scenes and readers shared by the MRML tests (slicer-core, imported only when called)."""

from __future__ import annotations

import numpy as np


def static_heart_with_an_erased_slice(scene, n_frames: int = 6, n_slices: int = 3):
    """A phantom cine whose segmentation is one mid-ventricular slice everywhere (no stack or time
    changes to flag), except frame 3, slice 1, whose myocardium is erased: a few frames get flagged."""
    from CardiacSSLLib.phantom import make_phantom
    from CardiacSSLWorkflow import mrml_convert
    from CardiacSSLWorkflow.segment_logic import Prediction, SegmentLogic

    phantom = make_phantom(n_frames=n_frames, n_slices=n_slices, size=64, seed=1)
    nodes = mrml_convert.cine_to_sequence(phantom, scene, name="ph")
    logic = SegmentLogic(scene)
    label = np.broadcast_to(phantom.label[0, n_slices // 2], phantom.label.shape).copy()
    label[3, 1][label[3, 1] == 2] = 0
    frames = list(range(n_frames))
    result = logic.add_result(nodes.proxy, Prediction(logic.input_cine(nodes.proxy), frames, label, "phantom"))
    return logic, result.segmentation, nodes.proxy


def column(series, name: str) -> list[float]:
    """The values of one column of the table a plot series draws."""
    array = series.GetTableNode().GetTable().GetColumnByName(name)
    return [array.GetValue(i) for i in range(array.GetNumberOfTuples())]


def flag_series(chart) -> list:
    """The chart's quality-flag marker series (at most one is expected)."""
    from CardiacSSLWorkflow.curve_flags import SERIES_ROLE
    from CardiacSSLWorkflow.metrics_logic import ROLE_ATTRIBUTE

    series = [chart.GetNthPlotSeriesNode(i) for i in range(chart.GetNumberOfPlotSeriesNodes())]
    return [s for s in series if s.GetAttribute(ROLE_ATTRIBUTE) == SERIES_ROLE]


def scene_state(scene) -> list[tuple[str, str, int]]:
    """Every node with its modification time: any node added, removed or changed shows up here."""
    nodes = [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]
    return [(n.GetID(), n.GetClassName(), n.GetMTime()) for n in nodes]
