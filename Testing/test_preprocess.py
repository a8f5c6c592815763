import numpy as np
import pytest
import torch

from CardiacSSLLib.errors import InputError
from CardiacSSLLib.preprocess import from_network, normalize_intensity, plan_grid, to_network


def test_grid_resamples_to_target_and_pads_to_divisor():
    g = plan_grid((256, 216), (1.37, 1.37), 1.5, 16)
    assert g.resampled == (234, 197)
    assert g.padded[0] % 16 == 0 and g.padded[1] % 16 == 0
    assert plan_grid((154, 200), None, 1.5, 16).resampled == (154, 200)  # unknown spacing keeps pixels


@pytest.mark.parametrize("native,spacing", [((97, 131), (1.2, 1.2)), ((256, 256), (1.9, 1.9)), ((80, 64), None)])
def test_network_grid_inverse_recovers_native_labels(native, spacing):
    yy, xx = np.mgrid[: native[0], : native[1]]
    disk = ((yy - native[0] / 2) ** 2 + (xx - native[1] / 2.3) ** 2) < (min(native) / 4) ** 2
    onehot = torch.from_numpy(np.stack([~disk, disk]).astype(np.float32))[None]
    grid = plan_grid(native, spacing, 1.5, 16)
    x = to_network(onehot, grid)
    assert tuple(x.shape[-2:]) == grid.padded
    back = from_network(x, grid)
    assert tuple(back.shape[-2:]) == native
    recovered = back.argmax(1)[0].numpy().astype(bool)
    # resampling twice only moves the boundary: interior exact, disagreement on edge pixels alone
    assert (recovered != disk).sum() <= 2 * (2 * np.pi * min(native) / 4) * 1.5


def test_normalize_per_slice_and_errors():
    rng = np.random.default_rng(0)
    vol = rng.normal(100, 10, (3, 32, 32)).astype(np.float32)
    vol[1] *= 10  # different scaling per slice is removed
    out = normalize_intensity(vol)
    assert out.min() == 0 and out.max() == 1
    assert abs(out[0].mean() - out[1].mean()) < 0.05
    vol[2] = 5.0  # a flat slice becomes zeros, not an error
    assert np.all(normalize_intensity(vol)[2] == 0)
    with pytest.raises(InputError, match="NaN"):
        normalize_intensity(np.full((2, 8, 8), np.nan, np.float32))
    with pytest.raises(InputError, match="constant"):
        normalize_intensity(np.ones((2, 8, 8), np.float32))


def test_heart_box_crop_and_inverse():
    from CardiacSSLLib.preprocess import with_roi

    native = (200, 180)
    grid = plan_grid(native, (1.2, 1.2), 1.5, 16)  # resampled (160, 144)
    boxed = with_roi(grid, (60, 100, 50, 90), 16, min_size=64)
    y0, y1, x0, x1 = boxed.roi
    assert (y1 - y0, x1 - x0) == (64, 64) and y0 <= 60 and y1 >= 100 and x0 <= 50 and x1 >= 90
    assert boxed.padded == (64, 64)
    img = torch.rand(2, 1, *native)
    x = to_network(img, boxed)
    assert x.shape[-2:] == (64, 64)
    probs = torch.zeros(2, 4, 64, 64)
    probs[:, 1] = 1.0  # "LV" everywhere inside the box
    back = from_network(probs, boxed).argmax(1)
    assert back.shape[-2:] == native
    # the box maps back to its place on the native grid; outside it is background
    ys, xs = torch.nonzero(back[0] == 1, as_tuple=True)
    scale = 1.5 / 1.2
    assert abs(ys.min().item() - y0 * scale) <= 2 and abs(ys.max().item() + 1 - y1 * scale) <= 2
    assert abs(xs.min().item() - x0 * scale) <= 2 and abs(xs.max().item() + 1 - x1 * scale) <= 2
    # a box near the border is shifted inside the image, never padded with fake image
    edge = with_roi(grid, (0, 10, 130, 144), 16, min_size=64)
    assert edge.roi[0] == 0 and edge.roi[3] == 144 and edge.pad == (0, 0, 0, 0)
