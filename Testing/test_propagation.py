"""Propagation of a corrected frame: registration tracks real motion, corrected frames never change."""

from __future__ import annotations

import numpy as np
import pytest

from CardiacSSLLib.errors import Cancelled, InputError
from CardiacSSLLib.progress import CancelToken, Progress
from CardiacSSLLib.propagation.fusion import fuse_band, fuse_extent
from CardiacSSLLib.propagation.propagate import PropagationConfig, plan, propagate
from CardiacSSLLib.quality.confidence import slice_dice
from helpers import small_phantom, tiny_checkpoint


@pytest.fixture(scope="module")
def beating():
    cine = small_phantom(n_frames=6, n_slices=3, size=96)
    return cine


def _mean_dice(a, b) -> float:
    return float(np.nanmean(slice_dice(a, b)))


def test_plan_takes_the_nearest_corrected_frame_round_the_cycle():
    routes = plan([0, 5], [1, 3, 9], 10, chain=True)
    assert routes[1] == [0, 1]
    assert routes[3] == [5, 4, 3]
    assert routes[9] == [0, 9]  # wraps: the cine is periodic
    assert plan([0], [4], 10, chain=False)[4] == [0, 4]


@pytest.mark.parametrize("chain", [True, False])
def test_registration_carries_the_corrected_frame_better_than_copying_it(beating, chain):
    truth = beating.label
    labels = np.zeros_like(truth)
    labels[0] = truth[0]  # the user corrected frame 0; the others are blank
    config = PropagationConfig(fusion="registration", chain=chain)
    events = []
    out = propagate(
        beating.image, labels, [0], (1.5, 1.5), config, progress=Progress(1, callback=events.append, show_bar=False)
    )
    es = int(np.argmin((truth == 1).sum((1, 2, 3))))  # the most contracted phase
    copied = _mean_dice(np.broadcast_to(truth[0], truth.shape)[es], truth[es])
    assert _mean_dice(out[es], truth[es]) > copied + 0.03
    assert np.array_equal(out[0], truth[0]) and not labels[1:].any()  # input untouched
    assert events and events[-1]["step"] == events[-1]["total"]


def test_corrected_frames_are_never_changed_even_when_asked(beating):
    labels = beating.label.copy()
    labels[2] = 0  # a user's (odd) correction: frame 2 emptied on purpose
    out = propagate(beating.image, labels, [0, 2], (1.5, 1.5), targets=[1, 2, 3])
    assert np.array_equal(out[2], labels[2]) and np.array_equal(out[0], labels[0])
    assert np.array_equal(out[4:], labels[4:])  # frames outside targets untouched


def test_cancel_stops_before_any_result(beating):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        propagate(beating.image, beating.label, [0], cancel=token)


@pytest.mark.parametrize(
    "frames,labels_shape,message",
    [([], None, "no corrected frame"), ([7], None, "out of range"), ([0], (6, 3, 96, 95), "must match")],
)
def test_bad_requests_are_refused(beating, frames, labels_shape, message):
    labels = beating.label if labels_shape is None else np.zeros(labels_shape, np.uint8)
    with pytest.raises(InputError, match=message):
        propagate(beating.image, labels, frames)


def test_band_fusion_keeps_model_edges_and_removes_a_far_blob():
    warped = np.zeros((1, 40, 40), np.uint8)
    warped[0, 10:30, 10:30] = 1
    model = warped.copy()
    model[0, 10:30, 9] = 1  # the model's edge one pixel further out
    model[0, 35:38, 35:38] = 3  # a blob far from every edge the user drew
    fused = fuse_band(warped, model, band_px=2)
    assert (fused[0, 10:30, 9] == 1).all()  # near the edge: the model
    assert not (fused == 3).any()  # far: the warped correction


def test_extent_fusion_follows_the_users_slices():
    source = np.zeros((2, 20, 20), np.uint8)
    source[1, 5:10, 5:10] = 1  # the user drew LV on slice 1 only
    model = np.zeros_like(source)
    model[0, 5:10, 5:10] = 1  # the model puts LV on slice 0 and misses it on slice 1
    fused = fuse_extent(source, source, model)
    assert not (fused[0] == 1).any() and (fused[1] == 1).sum() == 25


def test_adaptation_trains_a_copy_and_keeps_the_corrected_frame(tmp_path, beating):
    import torch

    from CardiacSSLLib.inference import load_model
    from CardiacSSLLib.propagation.adapt import AdaptConfig, adapt_model, propagate_by_adaptation

    model = str(tiny_checkpoint(tmp_path / "tiny"))
    labels = beating.label.copy()
    before = {k: v.clone() for k, v in load_model(model)[0].state_dict().items()}
    net = adapt_model(model, beating, labels, [0], AdaptConfig(steps=2, batch_size=2, patch_size=64), device="cpu")
    assert any(not torch.equal(before[k], v.cpu()) for k, v in net.state_dict().items())
    fresh = load_model(model)[0].state_dict()
    assert all(torch.equal(before[k], fresh[k]) for k in before)  # the stored model is untouched
    out = propagate_by_adaptation(
        model, beating, labels, [0], [1, 2], AdaptConfig(steps=2, batch_size=2, patch_size=64), device="cpu"
    )
    assert np.array_equal(out[0], labels[0]) and np.array_equal(out[3:], labels[3:])
    assert out.dtype == np.uint8 and out.shape == labels.shape


def _soft_probabilities(label: np.ndarray, myo_factor: float) -> np.ndarray:
    """Blurred one-hot class maps ``(F, Z, C, Y, X)`` of ``label`` ``(F, Z, Y, X)``, MYO scaled down:
    a model that draws a thinner myocardium than the annotator."""
    from scipy.ndimage import gaussian_filter

    onehot = np.stack([(label == c).astype(np.float32) for c in range(4)], axis=2)
    soft = gaussian_filter(onehot, sigma=(0, 0, 0, 1.5, 1.5)) + 1e-3
    soft[:, :, 2] *= myo_factor
    return soft / soft.sum(2, keepdims=True)


def test_calibration_finds_the_class_weight_that_matches_the_correction(beating):
    from CardiacSSLLib.propagation.calibrate import fit_factors, mean_dice

    labels = beating.label[:2]
    probabilities = _soft_probabilities(labels, myo_factor=0.4)
    plain = np.argmax(probabilities, 2)
    assert (plain == 2).sum() < 0.8 * (labels == 2).sum()  # the biased model under-draws the wall
    lv, myo, rv = fit_factors(probabilities, labels, steps=())
    assert myo > 1 and myo >= max(lv, rv)
    weighed = np.argmax(probabilities * np.array([1, lv, myo, rv])[None, None, :, None, None], 2)
    assert np.mean([mean_dice(w, t) for w, t in zip(weighed, labels, strict=True)]) > max(
        0.95, np.mean([mean_dice(p, t) for p, t in zip(plain, labels, strict=True)]) + 0.02
    )
    unbiased = _soft_probabilities(labels, myo_factor=1.0)
    assert fit_factors(unbiased, labels, steps=()) == (1.0, 1.0, 1.0)  # nothing to fix: the model as it is


def test_calibration_resegments_only_the_targets_and_agrees_with_the_plain_model(tmp_path, beating):
    from CardiacSSLLib.inference import segment_cine, segment_probabilities
    from CardiacSSLLib.propagation.methods import propagate_cine

    model = str(tiny_checkpoint(tmp_path / "tiny"))
    plain = segment_cine(model, beating, device="cpu")
    probabilities, _ = segment_probabilities(model, beating, [0, 2], device="cpu")
    raw = segment_cine(model, beating, [0, 2], device="cpu", cleanup=False)
    np.testing.assert_array_equal(np.argmax(probabilities, 2), raw)  # the same maps segment_cine takes
    labels = plain.copy()
    labels[3] = beating.label[3]  # a frame the user drew, not a target: passed through
    kept = labels.copy()
    out = propagate_cine(beating, labels, [0], [1, 2], "calibrate", model, "cpu")
    assert np.array_equal(labels, kept)  # the caller's array is not modified
    assert np.array_equal(out[[0, 3, 4, 5]], labels[[0, 3, 4, 5]])
    # the corrected frame is the model's own segmentation: nothing to weigh, the targets are the model's
    np.testing.assert_array_equal(out[1:3], plain[1:3])
    with pytest.raises(Cancelled):
        token = CancelToken()
        token.cancel()
        propagate_cine(beating, labels, [0], None, "calibrate", model, "cpu", cancel=token)
    with pytest.raises(InputError, match="unknown propagation method"):
        propagate_cine(beating, labels, [0], None, "warp-it", model, "cpu")
