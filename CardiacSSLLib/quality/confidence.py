"""Low confidence: how much the model's own prediction changes when the image is flipped.

The networks are trained with flips, so a confident prediction is flip-equivariant; where
the mirrored image gives a different answer, the model is guessing. Measured per slice as
1 - mean Dice between the plain and each flipped prediction, over the structures present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.labels import LV, MYO, RV
from CardiacSSLLib.progress import CancelToken, Progress

FLIP_AXES: tuple[int, ...] = (-1, -2)  # columns, rows of (T, Z, Y, X)


def flipped_predictions(
    model,
    cine: Cine,
    frames: Sequence[int] | None = None,
    device: str = "auto",
    axes: Sequence[int] = FLIP_AXES,
    cancel: CancelToken | None = None,
    progress: Progress | None = None,
    first_step: int = 1,
) -> list[np.ndarray]:
    """Label maps ``(len(frames), Z, Y, X)`` of the cine flipped along each of ``axes``, flipped back.

    ``progress`` gets one step per flipped pass, numbered from ``first_step`` (its total is the caller's).
    """
    from CardiacSSLLib.inference import segment_cine

    out = []
    for i, axis in enumerate(axes):
        mirrored = replace(cine, image=np.ascontiguousarray(np.flip(cine.image, axis)), label=None, labelled=None)
        label = segment_cine(model, mirrored, frames, device=device, cancel=cancel)
        out.append(np.ascontiguousarray(np.flip(label, axis)))
        if progress is not None:
            progress.step(first_step + i, stage=f"flipped pass {i + 1}/{len(axes)}")
    return out


def slice_dice(a: np.ndarray, b: np.ndarray, structures: Sequence[int] = (LV, MYO, RV)) -> np.ndarray:
    """Mean Dice over structures present in either map, per leading index ``(..., Y, X) -> (...)``.

    NaN where no structure is present in either (nothing to compare).
    """
    scores = []
    for s in structures:
        pa, pb = a == s, b == s
        inter = (pa & pb).sum((-2, -1))
        total = pa.sum((-2, -1)) + pb.sum((-2, -1))
        scores.append(np.where(total > 0, 2.0 * inter / np.maximum(total, 1), np.nan))
    stacked = np.stack(scores)
    with np.errstate(invalid="ignore"):
        present = ~np.isnan(stacked)
        return np.where(present.any(0), np.nansum(stacked, 0) / np.maximum(present.sum(0), 1), np.nan)


def flip_disagreement(label: np.ndarray, flipped: Sequence[np.ndarray]) -> np.ndarray:
    """``(T, Z)`` in 0..1: 1 - mean flip Dice per slice; 0 where no flip nor the plain map has a structure."""
    if not flipped:
        return np.zeros(label.shape[:2])
    agreement = np.stack([slice_dice(label, f) for f in flipped])
    return np.nan_to_num(1.0 - np.nanmean(np.where(np.isnan(agreement), 1.0, agreement), 0), nan=0.0)
