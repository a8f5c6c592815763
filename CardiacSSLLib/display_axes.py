"""How a short-axis slice is put on screen: one convention for overlay.png and the web view.

The view looks along the stack axis (slice normal = the volume's k axis, as Slicer's
short-axis view of the stack). In that plane the screen axes are the volume's i and j
axes, swapped and flipped but never resampled, chosen as Slicer's ``RotateToVolumePlane``
chooses them for its axial view: screen right as close as possible to the patient's left
and screen up to anterior. That is the radiological convention: the patient's right, and
so the RV, is on the viewer's left.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_LEFT, _ANTERIOR = np.array([1.0, 0.0, 0.0]), np.array([0.0, -1.0, 0.0])  # LPS
_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))  # (negative, positive) LPS axis ends


@dataclass(frozen=True)
class DisplayAxes:
    """Screen right / up as volume axes (0 = i, 1 = j) with signs, and as patient (LPS) directions."""

    right_axis: int
    right_sign: int
    up_axis: int
    up_sign: int
    right_lps: tuple[float, float, float]
    up_lps: tuple[float, float, float]


def display_axes(direction: Sequence[float]) -> DisplayAxes:
    """The in-plane choice for a volume with this row-major direction matrix (columns = i, j, k in LPS)."""
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    best = max(
        (
            (rs * d[:, ra] @ _LEFT + us * d[:, 1 - ra] @ _ANTERIOR, ra, rs, us)
            for ra, rs, us in itertools.product((0, 1), (1, -1), (1, -1))
        ),
        key=lambda c: c[0],
    )
    _, ra, rs, us = best
    right, up = rs * d[:, ra], us * d[:, 1 - ra]
    return DisplayAxes(ra, rs, 1 - ra, us, tuple(map(float, right)), tuple(map(float, up)))


def to_screen(plane: np.ndarray, axes: DisplayAxes) -> np.ndarray:
    """A ``(j, i[, ...])`` slice array as shown: rows top to bottom, columns left to right."""
    out = plane if axes.right_axis == 0 else np.swapaxes(plane, 0, 1)  # columns along the screen-right axis
    if axes.right_sign < 0:
        out = out[:, ::-1]
    if axes.up_sign > 0:  # array rows run down the screen only when up is the axis' negative end
        out = out[::-1]
    return out


def orientation_letters(axes: DisplayAxes) -> dict[str, str]:
    """Patient-direction letters at the tile edges ("left", "right", "top", "bottom"), e.g. "R", "LP"."""
    right, up = np.asarray(axes.right_lps), np.asarray(axes.up_lps)
    return {"right": _letters(right), "left": _letters(-right), "top": _letters(up), "bottom": _letters(-up)}


def _letters(v: np.ndarray) -> str:
    """The patient directions a screen direction mostly points to, strongest first (components >= 0.4)."""
    order = np.argsort(-np.abs(v))
    picked = [k for k in order if abs(v[k]) >= 0.4] or [int(order[0])]
    return "".join(_LETTERS[k][int(v[k] > 0)] for k in picked[:2])


def ras_view_vectors(direction: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(normal, right, up) in RAS for a Slicer slice node: ``SetSliceToRASByNTP(*normal, *right, ...)``."""
    axes = display_axes(direction)
    lps_to_ras = np.array([-1.0, -1.0, 1.0])
    right, up = np.asarray(axes.right_lps) * lps_to_ras, np.asarray(axes.up_lps) * lps_to_ras
    return np.cross(right, up), right, up  # Slicer takes up = normal x right
