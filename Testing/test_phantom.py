"""The synthetic beating-heart cine: anatomy, motion, truth in meta, geometry, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from CardiacSSLLib.errors import InputError
from CardiacSSLLib.labels import LV, MYO, RV, check_anatomy
from CardiacSSLLib.metrics.clinical import clinical_metrics
from CardiacSSLLib.phantom import contraction, make_phantom


@pytest.fixture(scope="module")
def cine():
    return make_phantom()


def test_shapes_types_and_timing(cine):
    assert cine.image.shape == (25, 12, 192, 192) and cine.image.dtype == np.float32
    assert cine.label.shape == cine.image.shape and cine.label.dtype == np.uint8
    assert cine.labelled.shape == (25, 12) and cine.labelled.all()
    assert cine.structures == (LV, MYO, RV)
    assert set(np.unique(cine.label)) == {0, LV, MYO, RV}
    assert np.allclose(cine.trigger_times_ms, np.arange(25) * 36.0)  # RR 900 ms
    assert np.isfinite(cine.image).all() and cine.image.min() >= 0.0


def test_anatomy_lv_enclosed_and_tapering(cine):
    assert check_anatomy(cine.label) > 0.9
    # stored apex first, slice normal pointing apex -> base (towards the patient's right,
    # posterior, superior), as in real short-axis stacks
    normal = cine.geometry.direction_matrix[:, 2]
    assert normal @ np.array([1.0, -1.0, -1.0]) < -0.5
    ed = cine.label[0][::-1]  # base first below
    lv_area = (ed == LV).sum(axis=(1, 2))
    rv_area = (ed == RV).sum(axis=(1, 2))
    heart_area = (ed > 0).sum(axis=(1, 2))
    assert lv_area[0] > 0 and rv_area[0] > 0  # basal slice has both ventricles
    assert np.all(np.diff(lv_area[2:]) <= 0)  # LV shrinks towards the apex
    assert lv_area[-3] < 0.5 * lv_area[0]
    assert rv_area[-4:].sum() == 0  # no RV at the apex
    assert heart_area[-1] < 0.2 * heart_area[0]
    # the RV is a crescent wrapped around part of the LV, touching the septum (MYO)
    z = 2
    lv_centre = np.argwhere(ed[z] == LV).mean(axis=0)
    rv_pix = np.argwhere(ed[z] == RV) - lv_centre
    angles = np.degrees(np.arctan2(rv_pix[:, 0], rv_pix[:, 1]))
    covered = np.unique(np.floor((angles + 180.0) / 10.0)).size * 10
    assert 90 <= covered <= 230
    rv = ed[z] == RV
    grown = rv.copy()
    grown[1:] |= rv[:-1]
    grown[:-1] |= rv[1:]
    grown[:, 1:] |= rv[:, :-1]
    grown[:, :-1] |= rv[:, 1:]
    assert (ed[z][grown] == MYO).sum() > 20


def test_volume_curve_ef_and_truth(cine):
    res = clinical_metrics(cine.label, cine.geometry, cine.trigger_times_ms)
    truth = cine.meta
    assert res.ed_frame == truth["ed_frame"] == 0
    assert res.es_frame == truth["es_frame"]
    assert 0.33 <= res.es_frame / cine.n_frames <= 0.42  # ES at about 35-40 % of the cycle
    assert 55.0 <= res.lv_ef_percent <= 65.0
    assert res.lv_ef_percent == pytest.approx(truth["ef_percent"]["LV"], rel=1e-9)
    assert res.rv_ef_percent == pytest.approx(truth["ef_percent"]["RV"], rel=1e-9)
    assert 40.0 <= res.rv_ef_percent <= 70.0
    assert res.lv_mass_ed_g == pytest.approx(truth["lv_mass_ed_g"], rel=1e-9)
    lv = np.asarray(res.lv_volume_ml)
    assert np.allclose(lv, truth["volumes_ml"]["LV"])
    # smooth, periodic: small steps (including last -> first), decreasing then increasing
    steps = np.diff(np.append(lv, lv[0]))
    assert np.abs(steps).max() < 0.15 * lv.max()
    es = res.es_frame
    assert np.all(np.diff(lv[: es + 1]) < 0) and np.all(np.diff(lv[es:]) > 0)
    # discrete labels follow the continuous model
    assert np.allclose(lv, truth["model_volumes_ml"]["LV"], rtol=0.03)
    # myocardium thickens in systole: its volume stays nearly constant
    myo = np.asarray(res.myo_volume_ml)
    assert (myo.max() - myo.min()) / myo.mean() < 0.03


def test_intensity_ordering(cine):
    img, lab = cine.image[0], cine.label[0]
    blood, rv, myo = img[lab == LV].mean(), img[lab == RV].mean(), img[lab == MYO].mean()
    assert blood > 2.0 * myo and rv > 2.0 * myo
    # Rician noise floor in the air around the body: Rayleigh mean sigma * sqrt(pi / 2)
    corner = img[:, :12, :12]
    assert corner.mean() == pytest.approx(0.04 * np.sqrt(np.pi / 2), rel=0.1)


def test_geometry_oblique_orthonormal(cine):
    geo = cine.geometry
    d = geo.direction_matrix
    assert np.allclose(d.T @ d, np.eye(3), atol=1e-9)
    assert np.linalg.det(d) == pytest.approx(1.0)
    assert np.all(np.abs(d).max(axis=0) < 0.95)  # no index axis along a patient axis: oblique
    assert geo.spacing == (1.5, 1.5, 8.0) and geo.spacing_known
    assert np.linalg.norm(geo.origin) > 50.0
    flat = make_phantom(n_frames=1, n_slices=2, size=48, oblique=False)
    assert np.allclose(flat.geometry.direction_matrix, np.eye(3))


def test_deterministic_for_seed():
    a = make_phantom(n_frames=3, n_slices=4, size=64, seed=3)
    b = make_phantom(n_frames=3, n_slices=4, size=64, seed=3)
    c = make_phantom(n_frames=3, n_slices=4, size=64, seed=4)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label)
    assert a.geometry == b.geometry and a.meta == b.meta
    assert not np.array_equal(a.label, c.label)


@pytest.mark.parametrize("n_frames", [1, 2, 3])
def test_short_cycles_and_small_fields(n_frames):
    cine = make_phantom(n_frames=n_frames, n_slices=5, size=64)
    assert cine.image.shape == (n_frames, 5, 64, 64)
    assert cine.meta["anatomy_scale"] < 1.0  # 96 mm field of view: anatomy scaled to fit
    lab = cine.label[0]
    assert {LV, MYO, RV} <= set(np.unique(lab))
    border = np.concatenate([lab[:, 0], lab[:, -1], lab[:, :, 0], lab[:, :, -1]], axis=None)
    assert not border.any()  # the heart fits inside the field of view
    if n_frames == 1:
        assert cine.meta["es_frame"] is None and np.isnan(cine.meta["ef_percent"]["LV"])
    else:
        assert cine.meta["es_frame"] == 1 and cine.meta["ef_percent"]["LV"] > 40.0


def test_contraction_curve_periodic_and_smooth():
    phase = np.linspace(0.0, 1.0, 2001)
    c = contraction(phase, 0.375)
    assert c[0] == pytest.approx(0.0) and c[-1] == pytest.approx(0.0, abs=1e-12)
    assert contraction(0.375, 0.375) == pytest.approx(1.0)
    assert np.abs(np.diff(c)).max() < 0.01  # continuous


def test_fast_enough():
    make_phantom(n_frames=2, n_slices=2, size=64)  # warm imports
    start = time.perf_counter()
    make_phantom()
    assert time.perf_counter() - start < 3.0  # about 0.7 s on one CPU core; generous for CI


@pytest.mark.parametrize(
    "kwargs",
    [dict(n_frames=0), dict(n_slices=0), dict(size=16), dict(spacing=(1.0, 0.0, 8.0)), dict(noise=-1.0)],
)
def test_bad_arguments_refused(kwargs):
    with pytest.raises(InputError):
        make_phantom(**kwargs)
