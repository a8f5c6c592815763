"""Quality table of a cine: segment it (or take given labels), run the flipped predictions, flag, rank."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.progress import CancelToken
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
) -> tuple[QualityTable, np.ndarray]:
    """``(table, labels of frames)``: flags of ``labels`` (the model's segmentation when None).

    ``labels`` is ``(len(frames), Z, Y, X)``; ``ed_frame`` is a frame number of the cine (0 by
    default: ECG-triggered cines start at the R wave, i.e. at end-diastole), ignored when it is
    not among ``frames``. Confidence runs the model twice more (flipped images).
    """
    from CardiacSSLLib.errors import InputError
    from CardiacSSLLib.inference import segment_cine
    from CardiacSSLLib.quality.confidence import flip_disagreement, flipped_predictions

    frames = list(range(cine.n_frames)) if frames is None else [int(f) for f in frames]
    if labels is None:
        labels = segment_cine(model, cine, frames, device=device, cancel=cancel)
    elif labels.shape != (len(frames), *cine.frame_shape):
        raise InputError(f"labels {labels.shape} do not match {len(frames)} frame(s) of shape {cine.frame_shape}")
    disagreement = None
    if confidence:
        disagreement = flip_disagreement(labels, flipped_predictions(model, cine, frames, device, cancel=cancel))
    ed_index = frames.index(ed_frame) if ed_frame in frames else None
    return quality_table(labels, disagreement, frames, ed_index, weights), labels
