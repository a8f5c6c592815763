"""Quality flags of a segmentation in the scene: a ranked table and where to look.

In steps like :mod:`~CardiacSSLWorkflow.propagate_logic`: :func:`prepare` reads the segmentation
(with the user's edits) and its input cine from the scene (main thread); :func:`compute` gives
CardiacSSLLib's quality table (flags, score, ranking) without MRML, so it can run in a worker
thread or process (:mod:`~CardiacSSLWorkflow.qc_process`) with progress and cancel; :func:`assess`
is both at once. :func:`rows` is what a front end lists (rank 1 = correct this first);
:func:`go_to` shows a row's frame and returns the point to centre the slice views on.
Errors are raised, never shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from CardiacSSLLib.cine import Cine


@dataclass
class QualityRequest:
    cine: Cine
    frames: list[int]  # cine frame numbers held by the segmentation, ascending
    labels: np.ndarray  # (len(frames), Z, Y, X) with the user's edits
    model: str = "default"  # runs only for the model-confidence flag
    device: str = "auto"


def prepare(
    segment_logic, segmentation_node, input_node, model: str = "default", device: str = "auto"
) -> QualityRequest:
    """The segmentation's frames and labels and the input cine, read from the scene."""
    pairs = sorted(segment_logic.frame_labels(segmentation_node, input_node))
    labels = np.stack([lab for _, lab in pairs])
    return QualityRequest(segment_logic.input_cine(input_node), [f for f, _ in pairs], labels, model, device)


def compute(request: QualityRequest, progress=None, cancel=None, confidence: bool = True):
    """:class:`CardiacSSLLib.quality.score.QualityTable` of the request (no MRML; the model runs for confidence)."""
    from CardiacSSLLib.quality.run import assess_cine

    table, _ = assess_cine(
        request.model, request.cine, request.labels, request.frames, confidence=confidence, device=request.device,
        cancel=cancel, progress=progress,
    )  # fmt: skip
    return table


def assess(segment_logic, segmentation_node, input_node, model="default", confidence=True, device="auto", cancel=None):
    """:func:`prepare` + :func:`compute` on the calling thread."""
    request = prepare(segment_logic, segmentation_node, input_node, model, device)
    return compute(request, cancel=cancel, confidence=confidence)


def rows(table) -> list[dict]:
    from CardiacSSLLib.quality.report import qc_rows

    return qc_rows(table)


def flagged_frames(rows_: list[dict]) -> list[int]:
    """Frame numbers that hold at least one flagged slice, ascending."""
    return sorted({int(r["frame"]) for r in rows_ if r["flags"]})


def go_to(segment_logic, input_node, frame: int, slice_index: int) -> tuple[float, float, float]:
    """Select ``frame`` in the input's sequence browser; the RAS centre of ``slice_index`` to jump the views to."""
    from CardiacSSLWorkflow import mrml_convert  # imports VTK: not needed by the worker process

    browser = mrml_convert.browser_for_node(input_node)
    if browser is not None:
        browser.SetSelectedItemNumber(int(frame))
    cine = segment_logic.input_cine(input_node)
    _, n_y, n_x = cine.frame_shape
    lps = cine.geometry.index_to_world(np.array([(n_x - 1) / 2, (n_y - 1) / 2, slice_index]))
    return float(-lps[0]), float(-lps[1]), float(lps[2])
