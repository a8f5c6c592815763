"""Overlay montage PNG: size, label colours, frame/slice choice, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from CardiacSSLLib.errors import InputError, OutputExistsError
from CardiacSSLLib.labels import COLORS, LV, MYO, RV
from CardiacSSLLib.overlay import LEGEND_HEIGHT, save_overlay_png
from CardiacSSLLib.phantom import make_phantom

GAP = 2


@pytest.fixture(scope="module")
def cine():
    return make_phantom(n_frames=6, n_slices=9, size=64, seed=1)


def _load(path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB")).astype(int)


def _count(rgb: np.ndarray, colour, tol: int = 3) -> int:
    target = np.round(np.asarray(colour) * 255).astype(int)
    return int((np.abs(rgb - target).max(axis=-1) <= tol).sum())


def test_mid_ventricular_montage_with_colours(cine, tmp_path):
    path = save_overlay_png(cine, cine.label, tmp_path / "overlay.png")
    rgb = _load(path)
    lv_slices = np.flatnonzero((cine.label[0] == LV).any(axis=(1, 2)))
    n = len(lv_slices)
    expected_tiles = int(np.ceil(2 * n / 3)) - int(np.floor(n / 3))
    cols = int(np.ceil(np.sqrt(expected_tiles)))
    rows = int(np.ceil(expected_tiles / cols))
    assert rgb.shape == (rows * (64 + GAP) - GAP + LEGEND_HEIGHT, cols * (64 + GAP) - GAP, 3)
    montage, legend = rgb[:-LEGEND_HEIGHT], rgb[-LEGEND_HEIGHT:]
    for value in (LV, MYO, RV):  # solid outlines in the exact label colours, and a legend swatch of each
        assert _count(montage, COLORS[value]) > 10
        assert _count(legend, COLORS[value]) >= 100
    assert (montage[:12, :40] > 120).all(axis=-1).sum() > 10  # the frame/slice text in the first tile's corner
    # blended interior: LV pixels lean red, not grey
    assert ((rgb[..., 0] - rgb[..., 2]) > 40).sum() > 20


def test_all_slices_chosen_frame_zoom_and_no_label(cine, tmp_path):
    rgb = _load(save_overlay_png(cine, None, tmp_path / "all.png", frame=-1, slices="all", zoom=2))
    assert rgb.shape == (2 * (3 * (64 + GAP) - GAP) + LEGEND_HEIGHT, 2 * (3 * (64 + GAP) - GAP), 3)  # 3 x 3
    bare = make_phantom(n_frames=1, n_slices=3, size=48)
    bare.label = None
    gray = _load(save_overlay_png(bare, None, tmp_path / "gray.png", slices=[1]))
    assert gray.shape == (48, 48, 3)
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
    one_frame = save_overlay_png(cine, cine.label[2], tmp_path / "f2.png", frame=2, slices=[2, 3])
    assert _count(_load(one_frame), COLORS[MYO]) > 10


def test_refusals(cine, tmp_path):
    path = save_overlay_png(cine, None, tmp_path / "o.png", slices=[0])
    with pytest.raises(OutputExistsError):
        save_overlay_png(cine, None, path, slices=[0])
    save_overlay_png(cine, None, path, slices=[0], overwrite=True)
    with pytest.raises(InputError):
        save_overlay_png(cine, None, tmp_path / "a.png", frame=6)
    with pytest.raises(InputError):
        save_overlay_png(cine, None, tmp_path / "b.png", slices=[9])
    with pytest.raises(InputError):
        save_overlay_png(cine, cine.label[:, :3], tmp_path / "c.png")
    with pytest.raises(InputError):
        save_overlay_png(cine, None, tmp_path / "d.png", slices="mid")


def test_default_frame_is_largest_lv(cine, tmp_path):
    label = cine.label.copy()
    label = np.roll(label, 3, axis=0)  # ED (largest LV) now at frame 3
    default = _load(save_overlay_png(cine, label, tmp_path / "default.png", slices="all"))
    explicit = _load(save_overlay_png(cine, label, tmp_path / "explicit.png", frame=3, slices="all"))
    other = _load(save_overlay_png(cine, label, tmp_path / "other.png", frame=0, slices="all"))
    assert np.array_equal(default, explicit) and not np.array_equal(default, other)
