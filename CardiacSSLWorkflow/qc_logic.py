"""Quality flags of a segmentation in the scene: a ranked table and where to look.

:func:`assess` reads the segmentation (with the user's edits) and its input cine and returns
CardiacSSLLib's quality table (flags, score, ranking); :func:`rows` is what a front end lists
(rank 1 = correct this first); :func:`go_to` shows a row's frame and returns the point to
centre the slice views on. Errors are raised, never shown.
"""

from __future__ import annotations

import numpy as np

from CardiacSSLWorkflow import mrml_convert


def assess(segment_logic, segmentation_node, input_node, model="default", confidence=True, device="auto", cancel=None):
    """:class:`CardiacSSLLib.quality.score.QualityTable` of the segmentation's frames (model runs for confidence)."""
    from CardiacSSLLib.quality.run import assess_cine

    pairs = sorted(segment_logic.frame_labels(segmentation_node, input_node))
    frames = [f for f, _ in pairs]
    cine = segment_logic.input_cine(input_node)
    table, _ = assess_cine(
        model, cine, np.stack([lab for _, lab in pairs]), frames, confidence=confidence, device=device, cancel=cancel
    )
    return table


def rows(table) -> list[dict]:
    from CardiacSSLLib.quality.report import qc_rows

    return qc_rows(table)


def go_to(segment_logic, input_node, frame: int, slice_index: int) -> tuple[float, float, float]:
    """Select ``frame`` in the input's sequence browser; the RAS centre of ``slice_index`` to jump the views to."""
    browser = mrml_convert.browser_for_node(input_node)
    if browser is not None:
        browser.SetSelectedItemNumber(int(frame))
    cine = segment_logic.input_cine(input_node)
    _, n_y, n_x = cine.frame_shape
    lps = cine.geometry.index_to_world(np.array([(n_x - 1) / 2, (n_y - 1) / 2, slice_index]))
    return float(-lps[0]), float(-lps[1]), float(lps[2])
