"""Fuse a warped correction with the model's own prediction of the same frame.

The warped label knows what the user decided (which slices hold a ventricle, where the
base ends, how thick the wall is); the model knows where the edges of *this* frame are.
So near the warped label's edges (within ``band_mm``) the model decides, and elsewhere the
warped label does: gross model errors far from any edge are overruled, registration blur at
the edges is not kept.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def edge_distance_px(label2d: np.ndarray) -> np.ndarray:
    """Distance (pixels, Y, X) from each pixel to the nearest boundary between two labels."""
    edges = np.zeros(label2d.shape, dtype=bool)
    edges[:-1] |= label2d[:-1] != label2d[1:]
    edges[1:] |= label2d[:-1] != label2d[1:]
    edges[:, :-1] |= label2d[:, :-1] != label2d[:, 1:]
    edges[:, 1:] |= label2d[:, :-1] != label2d[:, 1:]
    if not edges.any():
        return np.full(label2d.shape, np.inf)
    return ndimage.distance_transform_edt(~edges)


def fuse_band(warped: np.ndarray, model: np.ndarray, band_px: float) -> np.ndarray:
    """Per slice ``(..., Y, X)``: the model's label within ``band_px`` of the warped edges, else the warped."""
    out = warped.copy()
    flat_w, flat_m, flat_o = (a.reshape(-1, *a.shape[-2:]) for a in (warped, model, out))
    for w, m, o in zip(flat_w, flat_m, flat_o, strict=True):
        near = edge_distance_px(w) <= band_px
        o[near] = m[near]
    return out


def fuse_extent(source: np.ndarray, warped: np.ndarray, model: np.ndarray, structures=(1, 2, 3)) -> np.ndarray:
    """The model's labels, with the slice extent of each structure taken from the corrected frame.

    Per slice and structure (``(Z, Y, X)`` arrays): a structure the user left out of a slice of
    the source frame is removed from the target's slice (the base of the heart only descends
    towards the apex in systole, so a slice above the base stays above it); a structure the
    user drew there but the model missed entirely is taken from the warped label.
    """
    out = model.copy()
    for z in range(source.shape[0]):
        for s in structures:
            if not (source[z] == s).any():
                out[z][out[z] == s] = 0
            elif not (model[z] == s).any():
                add = (warped[z] == s) & (out[z] == 0)
                out[z][add] = s
    return out
