"""Quality table of a cine: segment it (or take given labels), run the flipped predictions, flag, rank."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.progress import CancelToken, Progress
from CardiacSSLLib.quality.score import QualityTable, QualityWeights, quality_table


def assess_cine(
    model,
    cine: Cine,
    labels: np.ndarray | None = None,
    frames: Sequence[int] | None = None,
    ed_frame: int | None = 0,
    confidence: bool = True,
    device: str = "auto",
    weights: QualityWeights | None = None,
    cancel: CancelToken | None = None,
    progress: Progress | None = None,
) -> tuple[QualityTable, np.ndarray]:
    """``(table, labels of frames)``: flags of ``labels`` (the model's segmentation when None).

    ``labels`` is ``(len(frames), Z, Y, X)``; ``ed_frame`` is a frame number of the cine (0 by
    default: ECG-triggered cines start at the R wave, i.e. at end-diastole), ignored when it is
    not among ``frames``. Confidence runs the model twice more (flipped images).
    ``progress`` gets one step per model run (segmenting, each flipped pass) and one for the table.
    """
    from CardiacSSLLib.errors import InputError
    from CardiacSSLLib.quality.confidence import FLIP_AXES, flip_disagreement, flipped_predictions

    frames = list(range(cine.n_frames)) if frames is None else [int(f) for f in frames]
    if labels is not None and labels.shape != (len(frames), *cine.frame_shape):
        raise InputError(f"labels {labels.shape} do not match {len(frames)} frame(s) of shape {cine.frame_shape}")
    step = 0
    if progress is not None:
        progress.total = (labels is None) + (len(FLIP_AXES) if confidence else 0) + 1
    if labels is None:
        from CardiacSSLLib.inference import segment_cine  # torch: only when the model runs

        labels = segment_cine(model, cine, frames, device=device, cancel=cancel)
        step += 1
        if progress is not None:
            progress.step(step, stage="segment")
    disagreement = None
    if confidence:
        flipped = flipped_predictions(
            model, cine, frames, device, cancel=cancel, progress=progress, first_step=step + 1
        )
        disagreement = flip_disagreement(labels, flipped)
        step += len(flipped)
    ed_index = frames.index(ed_frame) if ed_frame in frames else None
    table = quality_table(labels, disagreement, frames, ed_index, weights)
    if progress is not None:
        progress.step(step + 1, stage="quality table")
    return table, labels
