"""Inference on a real DICOM cine: the heart crop applies, and bf16 gives the fp32 labels."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def study(sunnybrook_dir):
    from CardiacSSLLib.evaluation import sunnybrook_studies

    return next(sunnybrook_studies(sunnybrook_dir, limit=1))


def test_heart_box_applies_to_real_dicom_and_holds_the_manual_contours(study):
    from CardiacSSLLib.inference import load_model, locate_heart
    from CardiacSSLLib.preprocess import normalize_intensity, plan_grid

    net, cfg = load_model("default")
    cine, g = study.cine, study.cine.geometry
    grid = plan_grid(cine.image.shape[-2:], (g.spacing[1], g.spacing[0]), cfg["preprocess"]["target_spacing"], 16)
    first = torch.from_numpy(normalize_intensity(cine.image[0])[:, None])
    boxed = locate_heart(net.eval(), first, grid, torch.device("cpu"), 8)
    assert boxed.roi is not None
    assert boxed.cropped[0] * boxed.cropped[1] < 0.5 * grid.resampled[0] * grid.resampled[1]
    # every manually contoured pixel (ED and ES) lies inside the box, mapped to native pixels
    y0, y1, x0, x1 = boxed.roi
    sy, sx = (n / r for n, r in zip(grid.native, grid.resampled, strict=True))
    for frame in (study.ed, study.es):
        ys, xs = np.nonzero(cine.label[frame].any(0))
        assert ys.min() >= y0 * sy and ys.max() < y1 * sy and xs.min() >= x0 * sx and xs.max() < x1 * sx


def test_bf16_and_fp32_give_the_same_labels_on_a_real_cine(study):
    from CardiacSSLLib.inference import segment_cine

    frames = [study.ed, study.es]
    fp32 = segment_cine("default", study.cine, frames=frames, device="cpu", precision="fp32")
    bf16 = segment_cine("default", study.cine, frames=frames, device="cpu", precision="bf16")
    assert (fp32 > 0).sum() > 1000  # the heart was found
    assert (fp32 == bf16).mean() > 0.999
