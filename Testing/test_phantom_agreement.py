"""The demo's explanation of model - truth on the phantom: measured borders, not a fixed text."""

from __future__ import annotations

import numpy as np
import pytest

from CardiacSSLLib.labels import LV, MYO
from CardiacSSLLib.phantom_agreement import compare_to_truth, explain
from helpers import small_phantom


@pytest.fixture(scope="module")
def cine():
    return small_phantom(n_frames=6, n_slices=8, size=96)


def _outer_pixels(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` (..., Y, X) with a 4-neighbour outside it."""
    padded = np.pad(mask, [(0, 0)] * (mask.ndim - 2) + [(1, 1), (1, 1)])
    inner = padded[..., :-2, 1:-1] & padded[..., 2:, 1:-1] & padded[..., 1:-1, :-2] & padded[..., 1:-1, 2:]
    return mask & ~inner


def test_the_truth_agrees_with_itself(cine):
    a = compare_to_truth(cine.label, cine)
    assert a.lv_ef == pytest.approx(0, abs=1e-9) and a.rv_ef == pytest.approx(0, abs=1e-9)
    assert a.lv_mass_g == pytest.approx(0, abs=1e-9)
    assert a.endo_shift_mm == pytest.approx(0, abs=1e-9) and a.epi_shift_mm == pytest.approx(0, abs=1e-9)


def test_a_thinner_myocardium_reads_as_an_epicardium_inside_and_less_mass(cine):
    label = cine.label.copy()
    label[_outer_pixels(np.isin(label, (LV, MYO))) & (label == MYO)] = 0  # peel one pixel off the epicardium
    a = compare_to_truth(label, cine)
    pixel = cine.geometry.spacing[0]
    assert -1.2 * pixel < a.epi_shift_mm < -0.5 * pixel
    assert a.endo_shift_mm == pytest.approx(0, abs=1e-9)
    assert a.lv_mass_g < 0 and a.lv_mass_percent < -10
    assert a.lv_ef == pytest.approx(0, abs=1e-9)
    lines = explain(a, "tiny", {"clinical": {"lv_ef": {"mae": 1.8}, "lv_mass": {"bias": 8.3, "mae": 15.0}}})
    assert "epicardium" in lines[1] and "inside" in lines[1]
    assert "LV EF MAE 1.8" in lines[2]
    assert len(explain(a, "a-checkpoint.safetensors", None)) == 2  # no card: no real-data line


def test_a_larger_cavity_lowers_ef_and_reads_as_an_endocardium_outside(cine):
    label = cine.label.copy()
    ed = cine.meta["ed_frame"]
    lv = label == LV
    touching_lv = np.zeros_like(lv)
    touching_lv[..., 1:, :] |= lv[..., :-1, :]
    touching_lv[..., :-1, :] |= lv[..., 1:, :]
    touching_lv[..., :, 1:] |= lv[..., :, :-1]
    touching_lv[..., :, :-1] |= lv[..., :, 1:]
    label[(label == MYO) & touching_lv] = LV  # the cavity one pixel larger, in every frame
    a = compare_to_truth(label, cine)
    assert a.endo_shift_mm > 0.4 * cine.geometry.spacing[0]
    assert a.epi_shift_mm == pytest.approx(0, abs=1e-9)
    assert a.lv_ef < 0  # the same rim added at ED and ES is a larger share of the small ES cavity
    assert (label[ed] == LV).sum() > (cine.label[ed] == LV).sum()
