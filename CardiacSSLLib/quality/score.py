"""One score per slice and frame from every flag, and the "correct this next" ranking.

The score is a weighted sum of the flags (each 0..1), the weights chosen on the ACDC
validation split (``benchmarks/qc_ranking.py``). The ranking orders slices by expected
benefit of a correction: the score times the share of the frame's heart that lies in the
slice over the cycle (a wrong large slice costs more Dice and volume than a wrong small one).
The stack-end flags (:data:`PRIOR_FLAGS`) say where errors are common, not that a slice is wrong:
they raise the score, but the ranking's score leaves them out (the share already weighs where a
slice sits, and with them the top-k corrections closed less of the Dice gap on validation), and
they are never named as a slice's flags (every frame has two ends: they would mark every frame).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from CardiacSSLLib.quality.anatomy import CHECKS as ANATOMY_CHECKS
from CardiacSSLLib.quality.anatomy import slice_checks
from CardiacSSLLib.quality.curve import CHECKS as CURVE_CHECKS
from CardiacSSLLib.quality.curve import curve_checks

FLAG_THRESHOLD = 0.2  # a flag above this is named in qc.csv's ``flags`` column


@dataclass(frozen=True)
class QualityWeights:
    flip_disagreement: float = 1.0
    open_ring: float = 0.5
    lv_without_myo: float = 0.5
    extra_components: float = 0.25
    rv_missing: float = 0.25
    small_slice: float = 0.25
    beyond_heart: float = 0.5
    time_jump: float = 0.5
    stack_jump: float = 0.5
    ed_not_max: float = 0.5


FLAGS = ("flip_disagreement", *ANATOMY_CHECKS, *CURVE_CHECKS)
PRIOR_FLAGS = ("small_slice", "beyond_heart")


@dataclass
class QualityTable:
    """Flags ``{name: (T, Z)}``, ``score`` and ``benefit`` ``(T, Z)``, for frames ``frames`` of the cine."""

    frames: list[int]
    flags: dict[str, np.ndarray]
    score: np.ndarray
    benefit: np.ndarray

    def ranking(self) -> list[tuple[int, int]]:
        """``(frame, slice)`` pairs, the most useful correction first (frame numbers of the cine)."""
        order = np.argsort(-self.benefit, axis=None, kind="stable")
        t, z = np.unravel_index(order, self.benefit.shape)
        return [(self.frames[i], int(j)) for i, j in zip(t, z, strict=True)]

    def next_frame(self) -> int:
        """The frame whose correction is expected to help most (sum of its slices' benefit)."""
        return self.frames[int(np.argmax(self.benefit.sum(1)))]


def quality_table(
    label: np.ndarray,
    disagreement: np.ndarray | None = None,
    frames: list[int] | None = None,
    ed_frame: int | None = None,
    weights: QualityWeights | None = None,
) -> QualityTable:
    """Flags and score of a label map ``(T, Z, Y, X)``; ``disagreement`` ``(T, Z)`` from :mod:`.confidence`.

    ``frames`` are the cine's frame numbers of the label frames (default 0..T-1); ``ed_frame``
    is an index into the label frames. Volume-curve flags need at least 3 frames.
    """
    weights = weights or QualityWeights()
    n_t, n_z = label.shape[:2]
    flags = {"flip_disagreement": np.zeros((n_t, n_z)) if disagreement is None else np.asarray(disagreement, float)}
    per_frame = [slice_checks(label[t]) for t in range(n_t)]
    for name in ANATOMY_CHECKS:
        flags[name] = np.stack([f[name] for f in per_frame])
    flags.update(curve_checks(label, ed_frame))
    w = asdict(weights)
    score = sum(w[name] * flags[name] for name in FLAGS) / sum(w.values())
    ranked = [name for name in FLAGS if name not in PRIOR_FLAGS]
    evidence = sum(w[name] * flags[name] for name in ranked) / max(sum(w[name] for name in ranked), 1e-9)
    # a slice's size over the whole cycle, so an error that erases a structure does not hide itself
    heart = (label > 0).sum((-2, -1)).astype(float).max(0)
    share = np.broadcast_to(heart / max(heart.sum(), 1), score.shape)
    return QualityTable(list(range(n_t)) if frames is None else list(frames), flags, score, evidence * share)
