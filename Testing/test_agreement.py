"""Clinical agreement statistics and per-patient quantities (synthetic, hand-checkable)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from CardiacSSLLib.cine import Geometry
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.labels import LV, MYO, RV
from CardiacSSLLib.metrics.agreement import agreement, agreement_table, clinical_quantities


def test_agreement_matches_hand_computation():
    manual = np.array([100.0, 120.0, 90.0, 150.0, 60.0])
    model = manual + np.array([5.0, -3.0, 4.0, 10.0, -1.0])
    a = agreement(model, manual)
    diff = model - manual
    assert a.n == 5 and a.bias == pytest.approx(3.0)
    assert a.sd == pytest.approx(np.std(diff, ddof=1))
    assert a.loa_low == pytest.approx(3.0 - 1.96 * np.std(diff, ddof=1))
    assert a.loa_high == pytest.approx(3.0 + 1.96 * np.std(diff, ddof=1))
    assert a.mae == pytest.approx(np.abs(diff).mean())
    assert a.r == pytest.approx(stats.pearsonr(model, manual)[0])
    # NaN pairs are left out, not propagated
    b = agreement([1.0, math.nan, 3.0, 4.0], [1.5, 2.0, math.nan, 4.5])
    assert b.n == 2 and b.bias == pytest.approx(-0.5) and math.isnan(b.r)
    assert agreement([], []).n == 0


def _heart(lv_px: int, myo_px: int, rv_px: int, z: int = 4) -> np.ndarray:
    lab = np.zeros((z, 20, 20), np.uint8)
    for value, n in ((LV, lv_px), (MYO, myo_px), (RV, rv_px)):
        flat = lab[0].reshape(-1)
        free = np.flatnonzero(flat == 0)[:n]
        flat[free] = value
    return lab


def test_clinical_quantities_units_and_masks():
    geo = Geometry(spacing=(2.0, 2.0, 10.0))  # 0.04 ml per voxel
    ed, es = _heart(100, 50, 80), _heart(40, 60, 30)
    q = clinical_quantities(ed, es, geo)
    assert q["lv_edv"] == pytest.approx(4.0) and q["lv_esv"] == pytest.approx(1.6)
    assert q["lv_sv"] == pytest.approx(2.4) and q["lv_ef"] == pytest.approx(60.0)
    assert q["lv_mass"] == pytest.approx(50 * 0.04 * 1.05)
    assert q["rv_edv"] == pytest.approx(3.2) and q["rv_ef"] == pytest.approx(100 * (80 - 30) / 80)
    # a slice the annotator left out counts for neither model nor manual
    masked = clinical_quantities(ed, es, geo, ed_mask=np.array([False, True, True, True]))
    assert masked["lv_edv"] == 0.0
    # Sunnybrook-like: no RV annotated -> RV quantities NaN; ED only -> no EF
    lv_only = clinical_quantities(ed, None, geo, structures=(LV, MYO))
    assert math.isnan(lv_only["rv_edv"]) and math.isnan(lv_only["lv_ef"]) and lv_only["lv_edv"] > 0
    with pytest.raises(InputError, match="spacing"):
        clinical_quantities(ed, es, Geometry(spacing_known=False))


def test_agreement_table_groups():
    def patient(group, offset):
        q = {"lv_edv": 100.0 + offset, "lv_ef": 50.0, "rv_edv": math.nan}
        base = dict.fromkeys(["lv_esv", "lv_sv", "lv_mass", "rv_esv", "rv_ef"], math.nan)
        return {"group": group, "model": {**base, **q, "lv_edv": 100.0 + 2 * offset}, "manual": {**base, **q}}

    rows = agreement_table([patient("NOR", 1), patient("NOR", 2), patient("DCM", 5)])
    by = {(r["quantity"], r["group"]): r for r in rows}
    assert by[("lv_edv", "all")]["n"] == 3 and by[("lv_edv", "all")]["bias"] == pytest.approx(8 / 3)
    assert by[("lv_edv", "DCM")]["bias"] == pytest.approx(5.0) and by[("lv_edv", "NOR")]["n"] == 2
    assert ("rv_edv", "all") not in by  # no finite pair: no row
