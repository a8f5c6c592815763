"""Label conventions: one canonical convention inside the project, explicit maps in.

Canonical: 0 background, 1 LV blood pool, 2 LV myocardium, 3 RV blood pool (the M&Ms
and most tools' order). Every source convention is a named, explicit mapping, and
:func:`check_anatomy` catches a swapped mapping on real data (LV must be enclosed by MYO).
"""

from __future__ import annotations

import numpy as np

from CardiacSSLLib.errors import InputError

BACKGROUND, LV, MYO, RV = 0, 1, 2, 3
NAMES = {LV: "LV", MYO: "MYO", RV: "RV"}
# Colours (0-1 RGB) and SNOMED CT codes used by the Slicer module and the overlays.
COLORS = {LV: (0.86, 0.24, 0.20), MYO: (0.30, 0.69, 0.29), RV: (0.22, 0.49, 0.72)}
SNOMED = {
    LV: ("SCT", "4034004", "Left ventricle cavity"),  # blood pool
    MYO: ("SCT", "74281007", "Myocardium of left ventricle"),
    RV: ("SCT", "6600000", "Right ventricle cavity"),
}


def names_record() -> dict[str, str]:
    """``{"1": "LV", "2": "MYO", "3": "RV"}``: the label names as checkpoint configs record them."""
    return {str(value): name for value, name in NAMES.items()}


# source value -> canonical value, per convention. Values absent from a map are errors.
CONVENTIONS: dict[str, dict[int, int]] = {
    "canonical": {0: 0, 1: LV, 2: MYO, 3: RV},
    "mnms": {0: 0, 1: LV, 2: MYO, 3: RV},
    "acdc": {0: 0, 1: RV, 2: MYO, 3: LV},  # ACDC NIfTI and the SSL4MIS HDF5
    "sunnybrook": {0: 0, 1: LV, 2: MYO},
}


def to_canonical(label: np.ndarray, convention: str) -> np.ndarray:
    """Map ``label`` from ``convention`` to canonical values; unknown values are refused."""
    if convention not in CONVENTIONS:
        raise InputError(f"unknown label convention {convention!r}; known: {sorted(CONVENTIONS)}")
    mapping = CONVENTIONS[convention]
    arr = np.asarray(label)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise InputError("label map holds non-integer values: is this an image, not a label map?")
        arr = arr.astype(np.int64)
    present = np.unique(arr)
    unexpected = sorted(int(v) for v in present if int(v) not in mapping)
    if unexpected:
        raise InputError(
            f"label map has values {unexpected} not in the {convention!r} convention "
            f"(expected {sorted(mapping)}); pass the right --label-convention"
        )
    lut = np.zeros(max(mapping) + 1, dtype=np.uint8)
    for src, dst in mapping.items():
        lut[src] = dst
    return lut[arr]


def from_canonical(label: np.ndarray, convention: str) -> np.ndarray:
    """Inverse of :func:`to_canonical` for writing in a source convention."""
    mapping = CONVENTIONS[convention]
    inverse = {dst: src for src, dst in mapping.items()}
    lut = np.zeros(4, dtype=np.uint8)
    for dst, src in inverse.items():
        lut[dst] = src
    return lut[np.asarray(label, dtype=np.uint8)]


def lv_enclosed_fraction(label2d: np.ndarray) -> float:
    """Fraction of LV boundary pixels whose 4-neighbours outside LV are MYO.

    Near 1 for a correct mapping (the blood pool sits inside the myocardial ring), low
    when LV and RV are swapped (RV touches background).
    """
    lv = label2d == LV
    if not lv.any():
        return float("nan")
    padded = np.pad(label2d, 1)
    outside = []
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        nb = padded[1 + dy : 1 + dy + label2d.shape[0], 1 + dx : 1 + dx + label2d.shape[1]]
        outside.append(nb[lv & (nb != LV)])
    neighbours = np.concatenate(outside)
    if neighbours.size == 0:
        return 1.0
    return float(np.mean(neighbours == MYO))


def check_anatomy(label: np.ndarray, min_fraction: float = 0.6) -> float:
    """Median LV-enclosed-by-MYO fraction over slices with LV and MYO; raise if implausible."""
    lab = np.asarray(label).reshape((-1,) + label.shape[-2:])
    scores = [lv_enclosed_fraction(s) for s in lab if (s == LV).any() and (s == MYO).any()]
    if not scores:
        return float("nan")
    score = float(np.median(scores))
    if score < min_fraction:
        raise InputError(
            f"label map does not look like canonical LV/MYO/RV (LV enclosed by MYO in only "
            f"{score:.0%} of its boundary): the label convention is probably wrong"
        )
    return score
