"""Anatomical clean-up of a predicted ``(Z, Y, X)`` canonical label map.

Each step fixes one way a network's output can be anatomically impossible. A model's
config names its steps (``"postprocess": {"steps": [...]}``, chosen on the ACDC
validation split with ``benchmarks/postprocess_ablation.py``: kept only where Dice does
not drop and LV-mass bias improves); models without one get :data:`DEFAULT_STEPS`. All
steps are per slice (short-axis anatomy is 2D), except the 3D component steps.
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


def _components(mask: np.ndarray) -> tuple[np.ndarray, list[tuple[slice, ...]]]:
    """3D components (26-connected, as MONAI's ``connectivity=3``) and their bounding boxes."""
    from scipy.ndimage import find_objects, label

    comps, _ = label(mask, structure=np.ones((3, 3, 3)))
    return comps, find_objects(comps)


def _grow(box: tuple[slice, ...], shape: tuple[int, ...], by: int = 1) -> tuple[slice, ...]:
    return tuple(slice(max(b.start - by, 0), min(b.stop + by, n)) for b, n in zip(box, shape, strict=True))


def _enclosure(comp: np.ndarray, label: np.ndarray, by: int) -> float:
    """Share of the in-plane border of ``comp`` (one pixel around it on each slice) labelled ``by``."""
    from scipy.ndimage import binary_dilation

    ring = binary_dilation(comp, structure=np.array([np.zeros((3, 3)), np.ones((3, 3)), np.zeros((3, 3))])) & ~comp
    return float((label[ring] == by).mean()) if ring.any() else 0.0


def _pick(label: np.ndarray, structure: int, score) -> np.ndarray | None:
    """The mask of the component of ``structure`` with the highest ``score(component_mask, box)``
    (a tuple, compared in order: an anatomical criterion first, then size); None when absent."""
    comps, boxes = _components(label == structure)
    best, best_score = None, None
    for i, box in enumerate(boxes, start=1):
        if box is None:
            continue
        grown = _grow(box, label.shape)
        s = score(comps[grown] == i, grown)
        if best_score is None or s > best_score:
            best, best_score = (i, grown), s
    if best is None:
        return None
    i, grown = best
    keep = np.zeros(label.shape, bool)
    keep[grown] = comps[grown] == i
    return keep


def _touch(mask: np.ndarray, grown: tuple[slice, ...], anchor: np.ndarray | None) -> bool:
    from scipy.ndimage import binary_dilation

    return anchor is not None and bool((binary_dilation(mask, structure=np.ones((3, 3, 3))) & anchor[grown]).any())


def anchored_components(label: np.ndarray) -> np.ndarray:
    """One 3D component per structure, chosen by anatomy rather than size alone.

    LV: the cavity component with the largest size x (share of its border that is myocardium)^2,
    so a bigger false blob elsewhere (stomach, a mislabelled RV) loses to the ring-enclosed cavity;
    MYO: the largest component touching that cavity; RV: the largest component touching the
    myocardium (or the cavity). Each falls back on the largest component when nothing anchors it.
    With a plausible prediction this is :func:`largest_components`; with a weak one (few-shot
    models, unfamiliar scanners) it keeps the heart instead of the biggest mistake.
    """
    lv = _pick(label, LV, lambda m, g: (float(m.sum()) * _enclosure(m, label[g], MYO) ** 2, float(m.sum())))
    myo = _pick(label, MYO, lambda m, g: (_touch(m, g, lv), float(m.sum())))
    anchor = myo if myo is not None else lv
    rv = _pick(label, RV, lambda m, g: (_touch(m, g, anchor), float(m.sum())))
    out = label.copy()
    for structure, keep in ((LV, lv), (MYO, myo), (RV, rv)):
        if keep is not None:
            out[(label == structure) & ~keep] = 0
    return out


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
    "anchored_components": anchored_components,
    "papillary_to_cavity": papillary_to_cavity,
    "fill_cavity_holes": fill_cavity_holes,
    "myo_touching_cavity": myo_touching_cavity,
    "rv_touching_septum": rv_touching_septum,
}
DEFAULT_STEPS: tuple[str, ...] = ("anchored_components",)


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
