"""Clinical agreement of a model with manual labels: ED/ES volumes, EF, LV mass, Bland-Altman.

Per patient, :func:`clinical_quantities` turns an ED and an ES label map into the
quantities a cardiac report carries (LV EDV, ESV, SV, EF, mass; RV EDV, ESV, EF). The
model's and the manual values are computed the same way, at the *manual* ED and ES
frames and over the same slices (a slice the annotator left out counts for neither),
so the comparison isolates segmentation error. :func:`agreement` gives the Bland-Altman
statistics of ``model - manual``: bias, 95 % limits of agreement (bias +- 1.96 SD),
mean absolute error and Pearson r.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from CardiacSSLLib.cine import Geometry
from CardiacSSLLib.labels import LV, MYO, RV
from CardiacSSLLib.metrics.clinical import MYO_DENSITY_G_PER_ML


@dataclass(frozen=True)
class Quantity:
    key: str
    label: str
    unit: str
    structure: int  # the label the quantity needs (RV quantities need RV annotations)


QUANTITIES: tuple[Quantity, ...] = (
    Quantity("lv_edv", "LV EDV", "ml", LV),
    Quantity("lv_esv", "LV ESV", "ml", LV),
    Quantity("lv_sv", "LV SV", "ml", LV),
    Quantity("lv_ef", "LV EF", "%", LV),
    Quantity("lv_mass", "LV mass", "g", MYO),
    Quantity("rv_edv", "RV EDV", "ml", RV),
    Quantity("rv_esv", "RV ESV", "ml", RV),
    Quantity("rv_ef", "RV EF", "%", RV),
)
QUANTITY_BY_KEY = {q.key: q for q in QUANTITIES}


def _volume_ml(label: np.ndarray, value: int, mask: np.ndarray | None, voxel_ml: float) -> float:
    hit = label == value
    if mask is not None:
        hit = hit & np.asarray(mask, dtype=bool)[:, None, None]
    return float(hit.sum()) * voxel_ml


def _ef(edv: float, esv: float) -> float:
    return 100.0 * (edv - esv) / edv if edv > 0 else math.nan


def clinical_quantities(
    ed: np.ndarray,
    es: np.ndarray | None,
    geometry: Geometry,
    structures: Sequence[int] = (LV, MYO, RV),
    ed_mask: np.ndarray | None = None,
    es_mask: np.ndarray | None = None,
) -> dict[str, float]:
    """``{key: value}`` for :data:`QUANTITIES` from ``(Z, Y, X)`` ED and ES label maps.

    ``ed_mask`` / ``es_mask`` (bool ``(Z,)``) restrict the sums to the annotated slices;
    quantities of structures not in ``structures`` (e.g. RV on Sunnybrook) and ES-based
    ones without ``es`` are NaN.
    """
    voxel_ml = geometry.voxel_volume_ml()
    nan = math.nan
    out = dict.fromkeys((q.key for q in QUANTITIES), nan)
    lv_edv = _volume_ml(ed, LV, ed_mask, voxel_ml)
    out["lv_edv"] = lv_edv
    if MYO in structures:
        out["lv_mass"] = _volume_ml(ed, MYO, ed_mask, voxel_ml) * MYO_DENSITY_G_PER_ML
    if es is not None:
        lv_esv = _volume_ml(es, LV, es_mask, voxel_ml)
        out.update(lv_esv=lv_esv, lv_sv=lv_edv - lv_esv, lv_ef=_ef(lv_edv, lv_esv))
    if RV in structures:
        rv_edv = _volume_ml(ed, RV, ed_mask, voxel_ml)
        out["rv_edv"] = rv_edv
        if es is not None:
            rv_esv = _volume_ml(es, RV, es_mask, voxel_ml)
            out.update(rv_esv=rv_esv, rv_ef=_ef(rv_edv, rv_esv))
    return out


@dataclass(frozen=True)
class Agreement:
    """Bland-Altman statistics of ``model - manual`` over ``n`` patients."""

    n: int
    bias: float
    sd: float
    loa_low: float
    loa_high: float
    mae: float
    r: float
    manual_mean: float

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def agreement(model: Sequence[float], manual: Sequence[float]) -> Agreement:
    """Bias, limits of agreement, MAE and Pearson r over the pairs where both are finite."""
    a, b = np.asarray(model, dtype=float), np.asarray(manual, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = int(a.size)
    if n == 0:
        return Agreement(0, *([math.nan] * 7))
    diff = a - b
    bias = float(diff.mean())
    sd = float(diff.std(ddof=1)) if n > 1 else math.nan
    r = math.nan
    if n > 2 and a.std() > 0 and b.std() > 0:
        r = float(np.corrcoef(a, b)[0, 1])
    return Agreement(
        n=n,
        bias=bias,
        sd=sd,
        loa_low=bias - 1.96 * sd,
        loa_high=bias + 1.96 * sd,
        mae=float(np.abs(diff).mean()),
        r=r,
        manual_mean=float(b.mean()),
    )


def agreement_table(patients: Sequence[dict]) -> list[dict]:
    """Rows ``{quantity, group, ...Agreement}`` overall (group ``all``) and per diagnostic group.

    ``patients`` items hold ``"model"`` and ``"manual"`` quantity dicts and an optional
    ``"group"``; groups appear only when every patient has one.
    """
    groups = ["all"]
    if patients and all(p.get("group") for p in patients):
        groups += sorted({p["group"] for p in patients})
    rows = []
    for q in QUANTITIES:
        for group in groups:
            chosen = [p for p in patients if group == "all" or p.get("group") == group]
            stats = agreement([p["model"][q.key] for p in chosen], [p["manual"][q.key] for p in chosen])
            if stats.n:
                rows.append({"quantity": q.key, "label": q.label, "unit": q.unit, "group": group, **stats.as_dict()})
    return rows
