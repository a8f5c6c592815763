"""Anatomical clean-up of a predicted ``(Z, Y, X)`` canonical label map.

Each step fixes one way a network's output can be anatomically impossible. A model's
config names its steps (``"postprocess": {"steps": [...]}``, chosen on the ACDC
validation split with ``benchmarks/postprocess_ablation.py``: kept only where Dice does
not drop and LV-mass bias improves); models without one get :data:`DEFAULT_STEPS`. All
steps are per slice (short-axis anatomy is 2D), except the 3D largest-component step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from CardiacSSLLib.labels import LV, MYO, RV


def largest_components(label: np.ndarray, structures: Sequence[int] = (LV, MYO, RV)) -> np.ndarray:
    """Keep the largest 3D-connected component of each structure (MONAI)."""
    import torch
    from monai.transforms import KeepLargestConnectedComponent

    present = [s for s in structures if (label == s).any()]
    if not present:
        return label
    cc = KeepLargestConnectedComponent(applied_labels=present, is_onehot=False, independent=True, connectivity=3)
    return np.asarray(cc(torch.from_numpy(label[None].astype(np.int64)))[0]).astype(np.uint8)


def papillary_to_cavity(label: np.ndarray) -> np.ndarray:
    """Myocardium inside the convex hull of a slice's LV cavity becomes cavity.

    Papillary muscles and trabeculations lie inside the endocardial contour and belong to
    the blood-pool volume by the ACDC / SCMR convention; a network that labels them
    myocardium thickens the wall and inflates LV mass.
    """
    from skimage.morphology import convex_hull_image

    out = label.copy()
    for z in range(out.shape[0]):
        lv = out[z] == LV
        if lv.sum() < 10:
            continue
        hull = convex_hull_image(lv)
        out[z][hull & (out[z] == MYO)] = LV
    return out


def fill_cavity_holes(label: np.ndarray) -> np.ndarray:
    """Pixels enclosed by the LV cavity (holes in it) become cavity."""
    from scipy.ndimage import binary_fill_holes

    out = label.copy()
    for z in range(out.shape[0]):
        lv = out[z] == LV
        if lv.any():
            holes = binary_fill_holes(lv) & ~lv
            out[z][holes] = LV
    return out


def _touching(mask: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Connected components of ``mask`` (2D) that touch ``other`` (8-neighbourhood)."""
    from scipy.ndimage import binary_dilation, label

    comps, n = label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return mask
    near = binary_dilation(other, structure=np.ones((3, 3)))
    keep = np.unique(comps[near & mask])
    return np.isin(comps, keep[keep > 0])


def _drop_detached(label: np.ndarray, structure: int, anchor: int) -> np.ndarray:
    """Per slice with both, pieces of ``structure`` that do not touch ``anchor`` become background."""
    out = label.copy()
    for z in range(out.shape[0]):
        part, ref = out[z] == structure, out[z] == anchor
        if part.any() and ref.any():
            out[z][part & ~_touching(part, ref)] = 0
    return out


def myo_touching_cavity(label: np.ndarray) -> np.ndarray:
    """On slices with an LV cavity, myocardium pieces that do not border it are removed."""
    return _drop_detached(label, MYO, LV)


def rv_touching_septum(label: np.ndarray) -> np.ndarray:
    """On slices with myocardium, RV pieces that do not touch it are removed."""
    return _drop_detached(label, RV, MYO)


STEPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "largest_components": largest_components,
    "papillary_to_cavity": papillary_to_cavity,
    "fill_cavity_holes": fill_cavity_holes,
    "myo_touching_cavity": myo_touching_cavity,
    "rv_touching_septum": rv_touching_septum,
}
DEFAULT_STEPS: tuple[str, ...] = ("largest_components",)


def clean_up(label: np.ndarray, steps: Sequence[str] = DEFAULT_STEPS) -> np.ndarray:
    """Apply ``steps`` (names in :data:`STEPS`) in order to one ``(Z, Y, X)`` label map.

    The steps run on the in-plane box around the labels plus a background margin: every
    step only looks at labelled pixels and their neighbours, so the result is the same as
    on the whole field of view, several times faster.
    """
    fg = np.nonzero((label > 0).any(0))
    if not steps or fg[0].size == 0:
        return label
    y0, x0 = max(int(fg[0].min()) - 1, 0), max(int(fg[1].min()) - 1, 0)
    y1, x1 = int(fg[0].max()) + 2, int(fg[1].max()) + 2
    box = label[:, y0:y1, x0:x1]
    for name in steps:
        box = STEPS[name](box)
    out = label.copy()
    out[:, y0:y1, x0:x1] = box
    return out
