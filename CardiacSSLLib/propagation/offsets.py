"""Carry what the user changed, not the shape: per slice, how far each edge was moved.

The user's correction of one frame tells, slice by slice, how much the model over- or
under-draws each boundary there (endocardium = LV, epicardium = LV + MYO, RV). The model
makes the same kind of error on the other phases of the same slice, so each of its
boundaries there is moved by the same signed distance. This keeps ED and ES consistent
(what EF depends on) without registering images: the model's edges, the user's calibration.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from CardiacSSLLib.labels import LV, MYO, RV


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Pixels: negative inside, positive outside, about 0 on the edge (2D)."""
    if not mask.any():
        return np.full(mask.shape, np.inf)
    if mask.all():
        return np.full(mask.shape, -np.inf)
    return ndimage.distance_transform_edt(~mask) - ndimage.distance_transform_edt(mask)


def edge_offset(model: np.ndarray, corrected: np.ndarray) -> float:
    """Signed distance (pixels) the model's edge must move so its mask has the corrected mask's area."""
    area = int(corrected.sum())
    sdf = np.sort(signed_distance(model).ravel())
    if area == 0 or not np.isfinite(sdf[0]):
        return 0.0
    return float(sdf[min(area, sdf.size) - 1]) + 0.5  # keep the ``area`` nearest pixels (edge pixel = -0.5)


def _masks(label: np.ndarray) -> dict[str, np.ndarray]:
    return {"endo": label == LV, "epi": (label == LV) | (label == MYO), "rv": label == RV}


def _rebuild(masks: dict[str, np.ndarray]) -> np.ndarray:
    out = np.zeros(masks["epi"].shape, dtype=np.uint8)
    out[masks["rv"]] = RV
    out[masks["epi"]] = MYO
    out[masks["endo"] & masks["epi"]] = LV
    return out


def transfer_offsets(
    source_model: np.ndarray, source_corrected: np.ndarray, target_model: np.ndarray, max_px: float
) -> np.ndarray:
    """Target labels ``(Z, Y, X)``: the model's, each boundary moved as the user moved it on the source.

    Offsets are clipped to ``max_px`` (a correction that redraws a whole region is not a
    boundary shift and must not grow or shrink the other phases by as much). Slices where a
    boundary is missing on either source map keep the model's boundary.
    """
    out = target_model.copy()
    for z in range(target_model.shape[0]):
        src_m, src_c, tgt = _masks(source_model[z]), _masks(source_corrected[z]), _masks(target_model[z])
        moved = {}
        for name, mask in tgt.items():
            if mask.any() and src_m[name].any() and src_c[name].any():
                d = float(np.clip(edge_offset(src_m[name], src_c[name]), -max_px, max_px))
                moved[name] = signed_distance(mask) < d
            else:
                moved[name] = mask
        out[z] = _rebuild(moved)
    return out
