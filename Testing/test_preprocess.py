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
