"""Dice / HD95 / ASSD against hand-computed values on tiny volumes, absent structures, summaries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from CardiacSSLLib.cine import Geometry
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.labels import LV, MYO, RV
from CardiacSSLLib.metrics.segmentation import score_cases, score_frames, score_volume

pytest.importorskip("scipy", reason="MONAI surface distances need scipy")


def _empty(shape=(9, 20, 21)) -> np.ndarray:
    return np.zeros(shape, dtype=np.uint8)


def test_offset_cubes_dice():
    gt, pred = _empty(), _empty()
    gt[1:7, 3:9, 4:10] = LV  # 6 x 6 x 6 = 216 voxels
    pred[1:7, 3:9, 6:12] = LV  # shifted 2 voxels in x: overlap 6 x 6 x 4 = 144
    res = score_volume(pred, gt, spacing=(2.0, 1.0, 1.0), structures=(LV,))
    lv = res["structures"]["LV"]
    assert lv["dice"] == pytest.approx(2 * 144 / (216 + 216), abs=1e-6)
    assert lv["gt_voxels"] == lv["pred_voxels"] == 216
    assert 0.0 < lv["assd"] <= lv["hd95"] <= 2 * 2.0  # at most the 2-voxel shift, 2 mm per x voxel


def test_identical_maps_are_perfect():
    gt = _empty()
    gt[2:6, 4:12, 4:12] = MYO
    gt[3:5, 6:10, 6:10] = LV
    res = score_volume(gt.copy(), gt, spacing=(1.3, 1.3, 8.0), structures=(LV, MYO))
    for name, value in (("LV", LV), ("MYO", MYO)):
        n = int((gt == value).sum())
        assert res["structures"][name] == {"dice": 1.0, "hd95": 0.0, "assd": 0.0, "gt_voxels": n, "pred_voxels": n}


@pytest.mark.parametrize(
    "axis, spacing, expected, unit",
    [
        (2, (1.5, 1.5, 8.0), 3.0, "mm"),  # 2 voxels along x at 1.5 mm
        (0, (1.5, 1.5, 8.0), 16.0, "mm"),  # 2 slices at 8 mm
        (1, (1.0, 0.7, 5.0), 1.4, "mm"),  # 2 rows at 0.7 mm
        (0, None, 2.0, "px"),  # spacing unknown: pixels
        (0, Geometry(spacing=(1.5, 1.5, 8.0), spacing_known=False), 2.0, "px"),
        (0, Geometry(spacing=(1.5, 1.5, 8.0)), 16.0, "mm"),
    ],
)
def test_known_surface_distance_two_voxels(axis, spacing, expected, unit):
    # one-voxel-thick plates two voxels apart: every surface voxel is exactly 2 voxels away
    gt, pred = _empty((12, 14, 15)), _empty((12, 14, 15))
    index = [slice(3, 9), slice(3, 11), slice(3, 12)]
    gt_index, pred_index = list(index), list(index)
    gt_index[axis], pred_index[axis] = 4, 6
    gt[tuple(gt_index)] = RV
    pred[tuple(pred_index)] = RV
    res = score_volume(pred, gt, spacing=spacing, structures=(RV,))
    rv = res["structures"]["RV"]
    assert res["distance_unit"] == unit
    assert rv["dice"] == 0.0
    assert rv["hd95"] == pytest.approx(expected, rel=1e-5)
    assert rv["assd"] == pytest.approx(expected, rel=1e-5)


def test_absent_structures_explicit():
    gt, pred = _empty(), _empty()
    gt[2:5, 5:10, 5:10] = LV  # LV only in gt
    pred[2:5, 5:10, 12:16] = MYO  # MYO only in pred; RV in neither
    res = score_volume(pred, gt, spacing=(1.0, 1.0, 1.0))["structures"]
    assert res["RV"] == {"dice": 1.0, "hd95": 0.0, "assd": 0.0, "gt_voxels": 0, "pred_voxels": 0}
    for name in ("LV", "MYO"):
        assert res[name]["dice"] == 0.0
        assert math.isnan(res[name]["hd95"]) and math.isnan(res[name]["assd"])
    assert res["LV"]["pred_voxels"] == 0 and res["MYO"]["gt_voxels"] == 0


def test_slice_mask_ignores_unlabelled_slices():
    gt = _empty()
    gt[1:8, 5:12, 5:12] = LV
    pred = gt.copy()
    pred[7] = 0  # wrong on slice 7 ...
    pred[0, 2:4, 2:4] = LV  # ... and a false positive on slice 0
    full = score_volume(pred, gt, structures=(LV,))["structures"]["LV"]
    assert full["dice"] < 1.0
    mask = np.ones(gt.shape[0], dtype=bool)
    mask[[0, 7]] = False
    masked = score_volume(pred, gt, structures=(LV,), mask=mask)["structures"]["LV"]
    assert masked["dice"] == pytest.approx(1.0) and masked["hd95"] == 0.0
    assert masked["gt_voxels"] == 6 * 49
    with pytest.raises(InputError):
        score_volume(pred, gt, mask=np.ones(3, dtype=bool))


def test_two_dimensional_slice():
    gt, pred = np.zeros((10, 12), np.uint8), np.zeros((10, 12), np.uint8)
    gt[2:6, 2:6] = LV
    pred[2:6, 4:8] = LV
    res = score_volume(pred, gt, spacing=(0.5, 2.0, 8.0), structures=(LV,))
    assert res["structures"]["LV"]["dice"] == pytest.approx(0.5)
    assert res["spacing_zyx"] == [2.0, 0.5]


def test_score_frames_with_labelled_mask():
    gt = np.zeros((3, 4, 10, 10), np.uint8)
    gt[:, 1:3, 3:7, 3:7] = LV
    pred = gt.copy()
    pred[1] = 0  # frame 1 entirely missed
    mask = np.zeros((3, 4), bool)
    mask[0, 1:3] = mask[1, 1:3] = True  # frame 2 unlabelled: not scored
    rows = score_frames(pred, gt, spacing=(1.0, 1.0, 6.0), structures=(LV,), mask=mask)
    assert [r["frame"] for r in rows] == [0, 1]
    assert rows[0]["structures"]["LV"]["dice"] == pytest.approx(1.0)
    assert rows[1]["structures"]["LV"]["dice"] == 0.0
    with pytest.raises(InputError):
        score_frames(pred[0], gt[0])


def test_score_cases_summary_matches_numpy():
    cases = []
    for dice_lv, hd_lv, dice_rv, hd_rv in [(0.9, 2.0, 0.8, 4.0), (0.7, 6.0, 0.0, math.nan), (0.8, 4.0, 0.6, 8.0)]:
        cases.append(
            {
                "structures": {
                    "LV": {"dice": dice_lv, "hd95": hd_lv, "assd": hd_lv / 2},
                    "RV": {"dice": dice_rv, "hd95": hd_rv, "assd": hd_rv / 2},
                },
                "distance_unit": "mm",
            }
        )
    summary = score_cases(cases)
    assert summary["n_cases"] == 3 and summary["distance_unit"] == "mm"
    lv, rv = summary["structures"]["LV"], summary["structures"]["RV"]
    assert lv["dice"]["mean"] == pytest.approx(0.8) and lv["dice"]["std"] == pytest.approx(np.std([0.9, 0.7, 0.8]))
    assert rv["hd95"] == pytest.approx({"mean": 6.0, "std": 2.0, "n": 2, "n_undefined": 1})
    assert rv["dice"]["mean"] == pytest.approx(1.4 / 3)
    assert summary["mean"]["dice"] == pytest.approx((0.8 + 1.4 / 3) / 2)
    assert summary["mean"]["hd95"] == pytest.approx((4.0 + 6.0) / 2)
    assert "MYO" not in summary["structures"]


def test_score_cases_from_real_scores_and_refusals():
    gt = _empty()
    gt[2:6, 4:10, 4:10] = LV
    a = score_volume(gt, gt, spacing=(1.0, 1.0, 1.0), structures=(LV,))
    b = score_volume(np.roll(gt, 1, axis=2), gt, spacing=(1.0, 1.0, 1.0), structures=(LV,))
    summary = score_cases([a, b])
    assert summary["structures"]["LV"]["dice"]["mean"] == pytest.approx((1.0 + b["structures"]["LV"]["dice"]) / 2)
    c = score_volume(gt, gt, structures=(LV,))  # pixels
    with pytest.raises(InputError, match="pixels"):
        score_cases([a, c])
    with pytest.raises(InputError):
        score_cases([])


def test_bad_inputs_refused():
    with pytest.raises(InputError):
        score_volume(_empty((4, 5, 6)), _empty((4, 5, 7)))
    with pytest.raises(InputError):
        score_volume(_empty((4, 5, 6)), _empty((4, 5, 6)), spacing=(1.0, -1.0, 1.0))
    with pytest.raises(InputError):
        score_volume(_empty((4, 5, 6)), _empty((4, 5, 6)), structures=(7,))
