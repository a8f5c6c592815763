"""One display convention: overlay.png and the web view show the RV on the viewer's left, anterior up."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from CardiacSSLLib.cine import Cine, Geometry
from CardiacSSLLib.display_axes import display_axes, orientation_letters, ras_view_vectors
from CardiacSSLLib.labels import COLORS, LV, MYO, RV
from CardiacSSLLib.overlay import LEGEND_HEIGHT, save_overlay_png

SUNNYBROOK_ROW_COL = ((-0.104592, 0.346381, -0.932245), (-0.733192, -0.660188, -0.163037))


def _direction(row, col) -> tuple[float, ...]:
    row, col = np.asarray(row, float), np.asarray(col, float)
    row /= np.linalg.norm(row)
    col -= row * (row @ col)
    col /= np.linalg.norm(col)
    return tuple(np.stack([row, col, np.cross(row, col)], axis=1).ravel())


DIRECTIONS = {
    "identity": _direction((1, 0, 0), (0, 1, 0)),
    "sunnybrook": _direction(*SUNNYBROOK_ROW_COL),
    "x-flipped": _direction((-1, 0, 0), (0, 1, 0)),
    "swapped": _direction((0, -1, 0.2), (1, 0, 0.1)),  # image x runs anterior, image y towards the left
}


def _heart(direction, size: int = 64) -> Cine:
    """LV disk in the centre, RV disk towards the patient's right, MYO disk anterior (LPS)."""
    d = np.asarray(direction).reshape(3, 3)
    label = np.zeros((1, 3, size, size), np.uint8)
    yy, xx = np.mgrid[:size, :size]
    c = (size - 1) / 2
    for value, towards in ((LV, None), (RV, (-1.0, 0.0, 0.0)), (MYO, (0.0, -1.0, 0.0))):
        offset = np.zeros(2) if towards is None else d[:, :2].T @ np.asarray(towards)  # in-plane (i, j)
        offset = 18 * offset / max(np.linalg.norm(offset), 1e-9)
        label[:, :, (xx - c - offset[0]) ** 2 + (yy - c - offset[1]) ** 2 <= 36] = value
    geometry = Geometry(spacing=(1.5, 1.5, 8.0), direction=direction)
    image = (label > 0).astype(np.float32) + 0.1
    return Cine(image=image, geometry=geometry, label=label, structures=(LV, MYO, RV), source="test", name="heart")


def _centre_of(rgb: np.ndarray, value: int) -> np.ndarray:
    target = np.round(np.asarray(COLORS[value]) * 255).astype(int)
    rows, cols = np.nonzero(np.abs(rgb - target).max(axis=-1) <= 3)
    assert rows.size > 10, f"no {value} outline drawn"
    return np.array([rows.mean(), cols.mean()])


@pytest.mark.parametrize("name", DIRECTIONS)
def test_overlay_shows_rv_on_the_viewers_left_and_anterior_up(name, tmp_path):
    cine = _heart(DIRECTIONS[name])
    path = save_overlay_png(cine, None, tmp_path / "o.png", frame=0, slices=[1])
    with Image.open(path) as img:
        rgb = np.asarray(img.convert("RGB")).astype(int)
    assert rgb.shape[:2] == (64 + LEGEND_HEIGHT, 64)
    tile = rgb[:64]
    lv, rv, anterior = _centre_of(tile, LV), _centre_of(tile, RV), _centre_of(tile, MYO)
    assert rv[1] < lv[1] - 8, f"{name}: RV (patient right) must be on the viewer's left"
    assert anterior[0] < lv[0] - 8, f"{name}: anterior must be up"


def test_letters_name_the_patient_sides():
    letters = orientation_letters(display_axes(DIRECTIONS["identity"]))
    assert letters == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    oblique = orientation_letters(display_axes(DIRECTIONS["sunnybrook"]))
    assert oblique["left"].startswith("R") and oblique["right"].startswith("L")


@pytest.mark.parametrize("name", DIRECTIONS)
def test_web_slice_view_puts_the_patient_sides_where_the_png_does(name):
    """The web app's slice node (``ras_view_vectors``) maps screen right/up as overlay.png does."""
    slicer = pytest.importorskip("slicer", reason="slicer-core is needed for the slice-node check")
    normal, right, _ = ras_view_vectors(DIRECTIONS[name])
    node = slicer.vtkMRMLSliceNode()
    node.SetSliceToRASByNTP(*normal, *right, 0.0, 0.0, 0.0, 0)
    m = node.GetSliceToRAS()
    screen_right = np.array([m.GetElement(r, 0) for r in range(3)])
    screen_up = np.array([m.GetElement(r, 1) for r in range(3)])
    axes = display_axes(DIRECTIONS[name])
    lps_to_ras = np.array([-1.0, -1.0, 1.0])
    assert screen_right == pytest.approx(np.asarray(axes.right_lps) * lps_to_ras, abs=1e-6)
    assert screen_up == pytest.approx(np.asarray(axes.up_lps) * lps_to_ras, abs=1e-6)
    assert screen_right[0] < 0  # RAS x < 0 is the patient's left: the patient's right is on the viewer's left
    assert screen_up[1] > 0  # towards anterior
