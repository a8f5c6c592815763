"""Anatomical clean-up steps on synthetic short-axis slices."""

from __future__ import annotations

import numpy as np

from CardiacSSLLib.labels import LV, MYO, RV
from CardiacSSLLib.postprocess import (
    STEPS,
    clean_up,
    fill_cavity_holes,
    myo_touching_cavity,
    papillary_to_cavity,
    rv_touching_septum,
)


def _ring_slice(size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - 32, xx - 28)
    s = np.zeros((size, size), np.uint8)
    s[r < 14] = MYO
    s[r < 9] = LV
    s[(np.abs(yy - 32) < 10) & (xx > 40) & (xx < 56)] = RV  # overlaps the septum edge: touches it
    return s


def test_papillary_muscle_inside_cavity_becomes_cavity():
    s = _ring_slice()
    s[30:33, 26:29] = MYO  # an island inside the cavity
    s[24:27, 25:28] = MYO  # attached to the wall but inside the cavity's hull
    out = papillary_to_cavity(s[None])[0]
    assert (out[30:33, 26:29] == LV).all()
    # the wall itself stays myocardium
    assert (out == MYO).sum() >= (_ring_slice() == MYO).sum() - 12


def test_holes_in_cavity_are_filled():
    s = _ring_slice()
    s[31:33, 27:29] = 0
    assert (fill_cavity_holes(s[None])[0][31:33, 27:29] == LV).all()


def test_detached_myocardium_and_rv_are_removed_per_slice():
    s = _ring_slice()
    yy, xx = np.mgrid[:64, :64]
    ring2 = (np.hypot(yy - 8, xx - 56) < 6) & (np.hypot(yy - 8, xx - 56) > 3)  # a ring around a vessel
    s[ring2] = MYO
    s[55:60, 2:6] = RV  # far from the septum
    out = rv_touching_septum(myo_touching_cavity(s[None]))[0]
    assert not out[ring2].any() and not out[55:60, 2:6].any()
    assert (out == LV).sum() == (s == LV).sum() and (out[30:34, 44:54] == RV).all()
    # a slice with no cavity (apex at ES) keeps its myocardium
    apex = np.where(s == LV, MYO, s)
    assert (myo_touching_cavity(apex[None])[0] == MYO).sum() == (apex == MYO).sum()


def test_clean_up_composes_named_steps():
    s = np.stack([_ring_slice(), _ring_slice()])
    s[1, 0:3, 0:3] = LV  # a second LV component
    out = clean_up(s, ["largest_components"])
    assert out[1, 0:3, 0:3].sum() == 0 and set(STEPS) >= {"largest_components", "papillary_to_cavity"}
    assert (clean_up(s, []) == s).all()


def test_clean_up_on_the_label_box_equals_the_whole_field_of_view():
    # clean_up runs the steps on the box around the labels; each step on the full image must agree
    rng = np.random.default_rng(3)
    s = np.zeros((3, 96, 96), np.uint8)
    for z in range(3):
        ring = _ring_slice()
        ring[20 + z : 23 + z, 26:29] = MYO  # papillary island
        ring[rng.integers(0, 64, 6), rng.integers(0, 64, 6)] = RV  # stray RV pixels
        ring[30:32, 27:29] = 0  # a hole in the cavity
        s[z, 10:74, 20:84] = ring
    s[2, 80:83, 85:88] = LV  # a detached LV piece near the edge
    full = s
    for name in STEPS:
        full = STEPS[name](full)
    boxed = clean_up(s, list(STEPS))
    assert (boxed == full).all() and (boxed != s).any()


def _heart_and_false_blob() -> np.ndarray:
    """Three ring slices (LV inside MYO, RV beside) and, on other rows, a larger 'LV' blob that
    touches only background and a sliver of 'MYO': the mistake a weak model makes on the stomach."""
    s = np.zeros((3, 128, 64), np.uint8)
    for z in range(3):
        s[z, :64] = _ring_slice()
        s[z, 80:110, 10:50] = LV  # 1200 px per slice: larger than the cavity (~250)
        s[z, 80:110, 50:52] = MYO
    return s


def test_anchored_components_keep_the_enclosed_cavity_not_the_largest_blob():
    from CardiacSSLLib.postprocess import anchored_components, largest_components

    s = _heart_and_false_blob()
    assert (largest_components(s)[:, :64] == LV).sum() == 0  # the plain rule keeps the blob
    out = anchored_components(s)
    assert (out[:, :64] == s[:, :64]).all()  # the heart is untouched
    assert not out[:, 64:].any()  # the blob and its sliver of 'myocardium' are gone


def test_anchored_components_equal_largest_components_on_a_plausible_prediction():
    from CardiacSSLLib.postprocess import anchored_components, largest_components

    rng = np.random.default_rng(5)
    s = np.stack([_ring_slice() for _ in range(4)])
    for structure in (LV, MYO, RV):  # small stray pieces of every structure
        z, y, x = rng.integers(0, 4), rng.integers(0, 60), rng.integers(58, 62)
        s[z, y : y + 2, x : x + 2] = structure
    assert (anchored_components(s) != s).any()
    assert (anchored_components(s) == largest_components(s)).all()
    only_rv = np.where(s == RV, RV, 0).astype(np.uint8)  # nothing to anchor on: the largest piece
    assert (anchored_components(only_rv) == largest_components(only_rv)).all()
