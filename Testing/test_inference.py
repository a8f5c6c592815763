from dataclasses import replace

import numpy as np
import pytest

from CardiacSSLLib.cine import Geometry
from CardiacSSLLib.errors import ModelError
from CardiacSSLLib.inference import keep_largest_components, segment_cine
from helpers import small_phantom, tiny_checkpoint


def test_output_on_native_grid_and_batch_invariant(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "m")
    cine = small_phantom(n_frames=3, n_slices=4, size=90)
    cine = replace(cine, geometry=replace(cine.geometry, spacing=(1.1, 1.1, 8.0)))  # forces resampling
    a = segment_cine(ckpt, cine, device="cpu", batch_size=5, cleanup=False)
    b = segment_cine(ckpt, cine, device="cpu", batch_size=64, cleanup=False)
    assert a.shape == cine.image.shape and a.dtype == np.uint8
    assert np.array_equal(a, b)
    sub = segment_cine(ckpt, cine, frames=[2, 0], device="cpu", cleanup=False)
    assert np.array_equal(sub, a[[2, 0]])


def test_unknown_spacing_runs_on_native_pixels(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "m")
    cine = small_phantom(n_frames=1, n_slices=3, size=70)
    cine = replace(cine, geometry=Geometry(spacing_known=False))
    assert segment_cine(ckpt, cine, device="cpu").shape == (1, 3, 70, 70)


def test_tta_runs(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "m")
    cine = small_phantom(n_frames=1, n_slices=2, size=64)
    assert segment_cine(ckpt, cine, device="cpu", tta=True).shape == (1, 2, 64, 64)


def test_backbone_is_not_a_segmentation_model(tmp_path):
    import json

    ckpt = tiny_checkpoint(tmp_path / "m")
    cfg = json.loads((tmp_path / "m.json").read_text())
    cfg["kind"] = "backbone"
    (tmp_path / "m.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="backbone"):
        segment_cine(ckpt, small_phantom(n_frames=1, n_slices=2, size=64), device="cpu")


def test_largest_component_cleanup_in_3d():
    lab = np.zeros((4, 20, 20), np.uint8)
    lab[0:3, 5:10, 5:10] = 1  # a 3-slice LV
    lab[3, 15:17, 15:17] = 1  # an isolated speck elsewhere
    lab[1, 0:2, 0:2] = 3
    out = keep_largest_components(lab)
    assert out[3].sum() == 0 and (out == 1).sum() == 75 and (out == 3).sum() == 4


def test_model_postprocess_config_is_applied(tmp_path):
    """A model's class weights and clean-up steps (its config) shape the output; the caller can override."""
    from CardiacSSLLib.inference import load_model

    cine = small_phantom(n_frames=1, n_slices=3, size=80)
    net, cfg = load_model(tiny_checkpoint(tmp_path / "m"))
    plain = segment_cine(net, cine, device="cpu", crop_to_heart=False, cleanup=False)
    present = [c for c in (1, 2, 3) if (plain == c).any()]
    assert present  # an untrained net still votes for some foreground class
    dropped = present[0]
    weights = [1.0, 1.0, 1.0, 1.0]
    weights[dropped] = 0.0
    net.cardiacssl_config = {**cfg, "postprocess": {"class_weights": weights, "steps": ["largest_components"]}}
    weighted = segment_cine(net, cine, device="cpu", crop_to_heart=False, cleanup=False)
    assert not (weighted == dropped).any()
    cleaned = segment_cine(net, cine, device="cpu", crop_to_heart=False)
    assert np.array_equal(cleaned[0], keep_largest_components(weighted[0]))
