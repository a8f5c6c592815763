"""Calibration: weigh the model's classes so it agrees with the corrected frame, then re-segment the others.

A user's correction says where this annotator draws this patient's edges: a myocardium drawn
thinner than the model's, an RV drawn larger. Three factors (LV, MYO, RV) on the model's class
probabilities, the ones under which the model's own segmentation of the corrected frames best
matches the correction (mean Dice, a coarse grid), carry that to every other phase; the network
is not trained, so a correction cannot teach it a shape it does not know. Chosen on the ACDC
validation split against registration, fusion and fine-tuning the model on the correction
(``benchmarks/propagation.py``). The caller's labels are never modified.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.progress import CancelToken, Progress


@dataclass(frozen=True)
class CalibrateConfig:
    """Factors tried for each of LV, MYO, RV (every combination); chosen on ACDC validation."""

    factors: tuple[float, ...] = (0.5, 0.7, 1.0, 1.4, 2.0)


def mean_dice(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Dice over LV, MYO, RV; a structure absent from both counts as 1."""
    from CardiacSSLLib.engine.finetune import dice_per_structure

    return float(np.mean(np.nan_to_num(list(dice_per_structure(a, b).values()), nan=1.0)))


def fit_factors(
    probabilities: np.ndarray,
    labels: np.ndarray,
    steps: Sequence[str],
    config: CalibrateConfig | None = None,
    cancel: CancelToken | None = None,
) -> tuple[float, float, float]:
    """LV, MYO, RV factors whose argmax of ``probabilities`` ``(F, Z, C, Y, X)`` (then clean-up
    ``steps``) best matches ``labels`` ``(F, Z, Y, X)``; ties keep the factors nearest 1."""
    from CardiacSSLLib.postprocess import clean_up

    config = config or CalibrateConfig()
    # nearest 1 first, so a flat optimum keeps the model as it is
    candidates = sorted(itertools.product(config.factors, repeat=3), key=lambda f: sum(abs(np.log(x)) for x in f))
    best, best_score = (1.0, 1.0, 1.0), -1.0
    for factors in candidates:
        if cancel is not None:
            cancel.check()
        weights = np.asarray([1.0, *factors], dtype=np.float32)[None, None, :, None, None]
        predicted = np.argmax(probabilities * weights, axis=2).astype(np.uint8)
        score = float(np.mean([mean_dice(clean_up(p, steps), t) for p, t in zip(predicted, labels, strict=True)]))
        if score > best_score + 1e-6:
            best, best_score = factors, score
    return tuple(float(f) for f in best)


def propagate_by_calibration(
    model,
    cine: Cine,
    labels: np.ndarray,
    corrected_frames: Sequence[int],
    targets: Sequence[int] | None = None,
    config: CalibrateConfig | None = None,
    device: str = "auto",
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """A new label array: ``targets`` (default all but the corrected) re-segmented by ``model``
    with its classes weighed to agree with the corrected frames."""
    from CardiacSSLLib.inference import segment_cine, segment_probabilities
    from CardiacSSLLib.postprocess import DEFAULT_STEPS
    from CardiacSSLLib.propagation.propagate import target_frames

    corrected, frames = target_frames(cine.image, labels, corrected_frames, targets)
    out = labels.copy()
    if not frames:
        return out
    if progress is not None:
        progress.step(0, stage="model on the corrected frames")
    probabilities, cfg = segment_probabilities(model, cine, corrected, device=device, cancel=cancel)
    steps = (cfg.get("postprocess") or {}).get("steps", DEFAULT_STEPS)
    factors = fit_factors(probabilities, labels[corrected], steps, config, cancel)
    out[frames] = segment_cine(
        model, cine, frames, device=device, cancel=cancel, progress=progress, class_factors=(1.0, *factors)
    )
    return out
