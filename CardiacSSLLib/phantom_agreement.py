"""How a segmentation of the phantom differs from the phantom's own labels, said in words.

The demo prints the model's clinical numbers next to the phantom's truth; without an
explanation a difference reads as a bug. This measures where the model drew the borders
(the mean radius of the endocardium and epicardium at end-diastole, from the areas of the
cavity and of cavity + myocardium on each slice that both label), which is what moves the
volumes, EF and mass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.labels import LV, MYO, RV
from CardiacSSLLib.metrics.clinical import MYO_DENSITY_G_PER_ML


@dataclass(frozen=True)
class PhantomAgreement:
    """Model minus truth: EF in points, mass in grams, border shifts in mm (+ = outwards)."""

    lv_ef: float
    rv_ef: float
    lv_mass_g: float
    lv_mass_percent: float
    endo_shift_mm: float
    epi_shift_mm: float


def _ef(volumes: np.ndarray, ed: int, es: int) -> float:
    return float(100.0 * (volumes[ed] - volumes[es]) / volumes[ed]) if volumes[ed] > 0 else float("nan")


def _mean_radius_shift(model: np.ndarray, truth: np.ndarray, pixel_mm: float) -> float:
    """Mean over slices of (equivalent radius of ``model`` - that of ``truth``), for (Z, Y, X) masks."""
    a_model, a_truth = model.sum(axis=(1, 2)), truth.sum(axis=(1, 2))
    both = (a_model > 0) & (a_truth > 0)
    if not both.any():
        return float("nan")
    shift = np.sqrt(a_model[both] / np.pi) - np.sqrt(a_truth[both] / np.pi)
    return float(np.average(shift, weights=a_truth[both]) * pixel_mm)


def compare_to_truth(label: np.ndarray, cine: Cine) -> PhantomAgreement:
    """``label`` (T, Z, Y, X, canonical) against ``cine.label`` at the phantom's ED and ES frames."""
    truth, meta = cine.label, cine.meta
    ed, es = meta["ed_frame"], meta["es_frame"]
    dx, dy, dz = cine.geometry.spacing
    voxel_ml = dx * dy * dz / 1000.0
    volumes = {v: (label == v).sum(axis=(1, 2, 3)) * voxel_ml for v in (LV, MYO, RV)}
    mass = float(volumes[MYO][ed] * MYO_DENSITY_G_PER_ML)
    pixel_mm = float(np.sqrt(dx * dy))
    endo = _mean_radius_shift(label[ed] == LV, truth[ed] == LV, pixel_mm)
    epi = _mean_radius_shift(np.isin(label[ed], (LV, MYO)), np.isin(truth[ed], (LV, MYO)), pixel_mm)
    return PhantomAgreement(
        lv_ef=_ef(volumes[LV], ed, es) - meta["ef_percent"]["LV"],
        rv_ef=_ef(volumes[RV], ed, es) - meta["ef_percent"]["RV"],
        lv_mass_g=mass - meta["lv_mass_ed_g"],
        lv_mass_percent=100.0 * (mass - meta["lv_mass_ed_g"]) / meta["lv_mass_ed_g"],
        endo_shift_mm=endo,
        epi_shift_mm=epi,
    )


def explain(agreement: PhantomAgreement, model: str, card_summary: dict | None) -> list[str]:
    """Lines for the demo: the differences, where they come from, and (from the model's card
    summary, when it has one) what to expect on real cines."""
    a = agreement
    lines = [
        f"model - truth: LV EF {a.lv_ef:+.1f} points, RV EF {a.rv_ef:+.1f} points, "
        f"LV mass {a.lv_mass_g:+.1f} g ({a.lv_mass_percent:+.0f} %)"
    ]
    if not (np.isfinite(a.epi_shift_mm) and np.isfinite(a.endo_shift_mm)):
        return [*lines, f"why: {model} finds no LV on the slices where the phantom has one."]
    lines += [
        f"why: the phantom is synthetic and {model} learned from real cines; at ED it draws the epicardium "
        f"{abs(a.epi_shift_mm):.1f} mm {'inside' if a.epi_shift_mm < 0 else 'outside'} the phantom's and the "
        f"endocardium {abs(a.endo_shift_mm):.1f} mm {'inside' if a.endo_shift_mm < 0 else 'outside'}, which "
        "moves the myocardium (mass) and the cavities (EF) as above.",
    ]
    clinical = (card_summary or {}).get("clinical") or {}
    ef, mass = clinical.get("lv_ef"), clinical.get("lv_mass")
    if ef and mass:
        lines.append(
            f"on real studies, {card_summary.get('dataset', 'its model card')}: LV EF MAE {ef['mae']:.1f} "
            f"points, LV mass bias {mass['bias']:+.1f} g (MAE {mass['mae']:.1f} g). The phantom is a smoke "
            "test, not a benchmark."
        )
    return lines
