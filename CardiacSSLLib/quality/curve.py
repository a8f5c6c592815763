"""Volume curves that cannot be: jumps along time and along the stack, ED far from the maximum.

Per slice and frame ``(T, Z)``, each 0 when plausible:
``time_jump`` how far a slice's structure area leaves the mean of its two neighbouring phases
(the cine is periodic), relative to that slice's largest area; ``stack_jump`` the same along the
stack (neighbouring slices of one frame), relative to the frame's largest slice;
``ed_not_max`` on the given ED frame, how far its LV volume falls short of the curve's maximum
(a true ED is the largest, give or take noise).
"""

from __future__ import annotations

import numpy as np

from CardiacSSLLib.labels import LV, MYO, RV

CHECKS = ("time_jump", "stack_jump", "ed_not_max")
ED_TOLERANCE = 0.05  # volume below the maximum that is still called "at the maximum"


def areas(label: np.ndarray, structures=(LV, MYO, RV)) -> np.ndarray:
    """Pixel count ``(S, T, Z)`` of each structure per slice and frame of ``(T, Z, Y, X)``."""
    return np.stack([(label == s).sum((-2, -1)) for s in structures]).astype(float)


def _jump(a: np.ndarray, axis: int, periodic: bool) -> np.ndarray:
    """``|a - mean(neighbours)|`` along ``axis`` of ``(S, T, Z)``; ends use their single neighbour."""
    n = a.shape[axis]
    if n < 3:
        return np.zeros_like(a)
    prev, nxt = np.roll(a, 1, axis), np.roll(a, -1, axis)
    if not periodic:
        first = [slice(None)] * a.ndim
        last = [slice(None)] * a.ndim
        first[axis], last[axis] = 0, n - 1
        prev[tuple(first)] = nxt[tuple(first)]
        nxt[tuple(last)] = prev[tuple(last)]
    return np.abs(a - (prev + nxt) / 2)


def curve_checks(label: np.ndarray, ed_frame: int | None = None) -> dict[str, np.ndarray]:
    """``{check: (T, Z) float}`` for a label map ``(T, Z, Y, X)``."""
    a = areas(label)
    n_t, n_z = label.shape[:2]
    per_slice_max = np.maximum(a.max(1, keepdims=True), 1)  # (S, 1, Z)
    per_frame_max = np.maximum(a.max(2, keepdims=True), 1)  # (S, T, 1)
    out = {
        "time_jump": np.clip((_jump(a, 1, True) / per_slice_max).max(0), 0, 1),
        "stack_jump": np.clip((_jump(a, 2, False) / per_frame_max).max(0), 0, 1),
        "ed_not_max": np.zeros((n_t, n_z)),
    }
    if ed_frame is not None and n_t >= 3:
        lv = a[0].sum(1)
        short = 1 - lv[ed_frame] / max(lv.max(), 1)
        out["ed_not_max"][ed_frame] = max(short - ED_TOLERANCE, 0) / (1 - ED_TOLERANCE)
    return out
