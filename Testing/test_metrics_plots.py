"""Volume-curve PNG: written, readable, LV/RV colours present, overwrite protected."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from CardiacSSLLib.cine import Geometry
from CardiacSSLLib.errors import OutputExistsError
from CardiacSSLLib.labels import COLORS, LV, RV
from CardiacSSLLib.metrics.clinical import clinical_metrics
from CardiacSSLLib.metrics.plots import plot_volume_curve
from CardiacSSLLib.phantom import make_phantom


def _has_colour(rgb: np.ndarray, colour: tuple[float, float, float], tol: int = 12) -> int:
    target = np.round(np.asarray(colour) * 255).astype(int)
    return int((np.abs(rgb.astype(int) - target).max(axis=-1) <= tol).sum())


@pytest.fixture(scope="module")
def result():
    cine = make_phantom(n_frames=8, n_slices=5, size=64, noise=0.0)
    return clinical_metrics(cine.label, cine.geometry, cine.trigger_times_ms)


def test_volume_curve_png(result, tmp_path):
    path = plot_volume_curve(result, tmp_path / "curve.png")
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == (640, 400)
        rgb = np.asarray(img.convert("RGB"))
    assert _has_colour(rgb, COLORS[LV]) > 50 and _has_colour(rgb, COLORS[RV]) > 50
    with pytest.raises(OutputExistsError):
        plot_volume_curve(result, path)
    plot_volume_curve(result, path, overwrite=True, title="phantom")


def test_volume_curve_without_times_or_rv(tmp_path):
    label = np.zeros((3, 2, 6, 6), np.uint8)
    label[0, :, 1:5, 1:5] = LV
    label[1, :, 2:4, 2:4] = LV
    label[2, :, 1:4, 1:4] = LV
    res = clinical_metrics(label, Geometry(spacing=(1.0, 1.0, 1.0)))
    path = plot_volume_curve(res, tmp_path / "sub" / "curve.png")
    with Image.open(path) as img:
        rgb = np.asarray(img.convert("RGB"))
    assert _has_colour(rgb, COLORS[LV]) > 50 and _has_colour(rgb, COLORS[RV]) == 0
