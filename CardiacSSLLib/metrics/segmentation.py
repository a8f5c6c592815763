"""Overlap and surface-distance scores of a predicted label map against ground truth.

Dice, the 95th-percentile Hausdorff distance (HD95) and the average symmetric surface
distance (ASSD) are computed per structure in 3D with MONAI
(``compute_dice``, ``compute_hausdorff_distance(percentile=95)``,
``compute_average_surface_distance(symmetric=True)``); surfaces are MONAI's edge voxels
and distances run between voxel centres.

Arrays are indexed ``(z, y, x)`` (or ``(y, x)`` for one slice); ``spacing`` is given in
the project's ``(x, y, z)`` order (as :attr:`Geometry.spacing`) or as a
:class:`Geometry`. When spacing is unknown (``None``, or a Geometry with
``spacing_known`` False) distances are in pixels and the result says
``"distance_unit": "px"`` instead of ``"mm"``.

Absent structures (explicit, so that averages are honest):

- absent in both ground truth and prediction: perfect agreement, dice 1.0,
  hd95 0.0, assd 0.0;
- absent in exactly one of them: dice 0.0, hd95 and assd NaN (undefined: there is no
  surface to measure to). :func:`score_cases` averages finite values only and reports
  how many were undefined, so a missed structure shows up as dice 0 and a count,
  never as an infinite mean.

Score only the structures the ground truth annotates (Sunnybrook has no RV:
``structures=(1, 2)``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence

import numpy as np

from CardiacSSLLib.cine import Geometry
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.labels import NAMES

METRICS = ("dice", "hd95", "assd")


def _spacing_zyx(spacing: Geometry | Sequence[float] | None, ndim: int) -> tuple[float, ...] | None:
    """Array-order spacing for MONAI, or None when unknown."""
    if spacing is None:
        return None
    if isinstance(spacing, Geometry):
        if not spacing.spacing_known:
            return None
        values = tuple(float(v) for v in spacing.spacing)
    else:
        values = tuple(float(v) for v in spacing)
    if len(values) < ndim:
        raise InputError(f"spacing {values} has fewer values than the {ndim} image dimensions")
    values = values[:ndim]
    if min(values) <= 0 or not all(math.isfinite(v) for v in values):
        raise InputError(f"spacing must be positive millimetres, got {values}")
    return tuple(reversed(values))


def _check_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape:
        raise InputError(f"prediction shape {pred.shape} differs from ground-truth shape {gt.shape}")
    if pred.ndim not in (2, 3):
        raise InputError(f"score_volume expects a (Z, Y, X) volume or a (Y, X) slice, got shape {pred.shape}")
    return pred, gt


def _apply_mask(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Zero the unlabelled slices in both maps (keeps slice positions, so distances stay true)."""
    if mask is None:
        return pred, gt
    mask = np.asarray(mask, dtype=bool)
    if pred.ndim != 3 or mask.shape != pred.shape[:1]:
        raise InputError(f"slice mask of shape {mask.shape} does not match volume shape {pred.shape}")
    keep = mask[:, None, None]
    return np.where(keep, pred, 0), np.where(keep, gt, 0)


def _structure_scores(p: np.ndarray, g: np.ndarray, spacing: tuple[float, ...] | None) -> dict:
    import torch
    from monai.metrics import compute_average_surface_distance, compute_dice, compute_hausdorff_distance

    n_pred, n_gt = int(p.sum()), int(g.sum())
    out = {"gt_voxels": n_gt, "pred_voxels": n_pred}
    if n_pred == 0 and n_gt == 0:
        return {"dice": 1.0, "hd95": 0.0, "assd": 0.0, **out}
    yp = torch.from_numpy(p)[None, None].float()
    yg = torch.from_numpy(g)[None, None].float()
    dice = float(compute_dice(yp, yg, include_background=True, ignore_empty=False)[0, 0])
    if n_pred == 0 or n_gt == 0:
        return {"dice": dice, "hd95": math.nan, "assd": math.nan, **out}
    sp = list(spacing) if spacing is not None else None
    with warnings.catch_warnings():  # MONAI 1.5+ warns about its own internal get_mask_edges call
        warnings.simplefilter("ignore", FutureWarning)
        hd95 = compute_hausdorff_distance(yp, yg, include_background=True, percentile=95, spacing=sp)
        assd = compute_average_surface_distance(yp, yg, include_background=True, symmetric=True, spacing=sp)
    return {"dice": dice, "hd95": float(hd95[0, 0]), "assd": float(assd[0, 0]), **out}


def score_volume(
    pred: np.ndarray,
    gt: np.ndarray,
    spacing: Geometry | Sequence[float] | None = None,
    structures: Iterable[int] = (1, 2, 3),
    mask: np.ndarray | None = None,
) -> dict:
    """Dice, HD95 and ASSD per structure of one 3D volume (or one 2D slice).

    ``mask`` (bool ``(Z,)``) keeps only the labelled slices: the others are set to
    background in both maps before scoring. Returns
    ``{"structures": {"LV": {"dice", "hd95", "assd", "gt_voxels", "pred_voxels"}, ...},
    "distance_unit": "mm" | "px", "spacing_zyx": [...] | None}``.
    """
    pred, gt = _check_pair(pred, gt)
    pred, gt = _apply_mask(pred, gt, mask)
    sp = _spacing_zyx(spacing, pred.ndim)
    scores = {}
    for value in structures:
        if value not in NAMES:
            raise InputError(f"unknown structure {value}; canonical structures are {sorted(NAMES)}")
        scores[NAMES[value]] = _structure_scores(pred == value, gt == value, sp)
    return {
        "structures": scores,
        "distance_unit": "px" if sp is None else "mm",
        "spacing_zyx": None if sp is None else list(sp),
    }


def score_frames(
    pred: np.ndarray,
    gt: np.ndarray,
    spacing: Geometry | Sequence[float] | None = None,
    structures: Iterable[int] = (1, 2, 3),
    mask: np.ndarray | None = None,
) -> list[dict]:
    """:func:`score_volume` for each frame of ``(T, Z, Y, X)`` maps.

    With a ``(T, Z)`` labelled mask only frames that have a labelled slice are scored,
    each restricted to its labelled slices. Each dict gains a ``"frame"`` index.
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape or pred.ndim != 4:
        raise InputError(f"score_frames expects two (T, Z, Y, X) maps of one shape, got {pred.shape} and {gt.shape}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != pred.shape[:2]:
            raise InputError(f"labelled mask of shape {mask.shape} does not match (T, Z) = {pred.shape[:2]}")
    structures = tuple(structures)
    results = []
    for t in range(pred.shape[0]):
        if mask is not None and not mask[t].any():
            continue
        res = score_volume(pred[t], gt[t], spacing, structures, None if mask is None else mask[t])
        results.append({"frame": t, **res})
    return results


def _stats(values: list[float]) -> dict:
    arr = np.asarray(values, dtype=float)
    finite = arr[np.isfinite(arr)]
    return {
        "mean": float(finite.mean()) if finite.size else math.nan,
        "std": float(finite.std()) if finite.size else math.nan,
        "n": int(finite.size),
        "n_undefined": int(arr.size - finite.size),
    }


def score_cases(cases: Sequence[dict]) -> dict:
    """Summary over cases (dicts from :func:`score_volume` / :func:`score_frames`).

    Per structure and metric: mean and (population) standard deviation over the cases
    where the value is finite, ``n`` and ``n_undefined`` (NaN: structure missed or
    spurious). ``"mean"`` averages the per-structure means over structures. Mixing
    millimetre and pixel distances is refused.
    """
    if not cases:
        raise InputError("no scored cases to summarise")
    units = {c.get("distance_unit") for c in cases}
    if len(units) != 1:
        raise InputError("cannot average distances in millimetres with distances in pixels (unknown spacing)")
    names = [n for n in NAMES.values() if any(n in c["structures"] for c in cases)]
    per_structure = {}
    for name in names:
        rows = [c["structures"][name] for c in cases if name in c["structures"]]
        per_structure[name] = {m: _stats([r[m] for r in rows]) for m in METRICS}
    overall = {}
    for m in METRICS:
        means = [per_structure[n][m]["mean"] for n in names if math.isfinite(per_structure[n][m]["mean"])]
        overall[m] = float(np.mean(means)) if means else math.nan
    return {
        "n_cases": len(cases),
        "distance_unit": units.pop(),
        "structures": per_structure,
        "mean": overall,
    }
