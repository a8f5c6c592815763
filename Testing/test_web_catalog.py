"""Listing the cines of a folder for the web app, and the SVG curves it draws."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from CardiacSSLLib.errors import InputError  # noqa: E402
from CardiacSSLWeb import plots  # noqa: E402
from CardiacSSLWeb.catalog import list_cines  # noqa: E402


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_lists_dicom_folders_and_volume_files(tmp_path):
    _touch(tmp_path / "dicoms" / "P1" / "0001.dcm")
    _touch(tmp_path / "dicoms" / "P1" / "0002.DCM")
    _touch(tmp_path / "dicoms" / "P2" / "IM1.ima")
    _touch(tmp_path / "nifti" / "case_4d.nii.gz")
    _touch(tmp_path / "seq.seq.nrrd")
    _touch(tmp_path / "notes.txt")
    _touch(tmp_path / ".hidden" / "x.nii.gz")
    _touch(tmp_path / "a" / "b" / "c" / "d" / "too_deep.nii")
    entries = list_cines(tmp_path)
    assert [(e.path.relative_to(tmp_path).as_posix(), e.kind) for e in entries] == [
        ("dicoms/P1", "dicom"),
        ("dicoms/P2", "dicom"),
        ("nifti/case_4d.nii.gz", "volume"),
        ("seq.seq.nrrd", "volume"),
    ]
    assert entries[0].title == "P1 (dicom)"


def test_folder_without_cines_and_missing_folder_are_input_errors(tmp_path):
    _touch(tmp_path / "readme.txt")
    with pytest.raises(InputError, match="no cine found"):
        list_cines(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        list_cines(tmp_path / "missing")
    with pytest.raises(InputError, match="not a folder"):
        list_cines(tmp_path / "readme.txt")


@pytest.mark.data
def test_lists_the_sunnybrook_cines(sunnybrook_dir):
    entries = list_cines(sunnybrook_dir)
    assert [e.path.name for e in entries if e.kind == "dicom"] == ["SCD0000101", "SCD0000201", "SCD0000301"]


def test_polyline_maps_the_range_onto_the_box():
    points = [tuple(map(float, p.split(","))) for p in plots.polyline([0, 5, 10], [2, 4, 6]).split()]
    assert points[0] == (plots.PAD, plots.HEIGHT - plots.PAD)  # lowest point at the bottom left
    assert points[-1] == (plots.WIDTH - plots.PAD, plots.PAD)  # highest at the top right (y up)
    assert points[1] == pytest.approx((plots.WIDTH / 2, plots.HEIGHT / 2))


def test_polyline_skips_non_finite_points_and_flat_series():
    assert len(plots.polyline([0, 1, 2], [1.0, math.nan, 3.0]).split()) == 2
    assert plots.polyline([], []) == ""
    flat = plots.polyline([0, 1], [5, 5])
    assert all(p.endswith(f",{plots.HEIGHT - plots.PAD:.1f}") for p in flat.split())


def _tick_labels(svg: str, axis: str) -> list[float]:
    return [float(t) for t in re.findall(rf'class="{axis}-tick"[^>]*>([^<]+)<', svg)]


def test_svg_plot_has_one_polyline_per_series_on_ticked_shared_axes_and_marks():
    lv, rv = ("LV", [0, 360, 720], [100, 50, 100], "red"), ("RV", [0, 360, 720], [80, 40, 80], "blue")
    svg = plots.svg_plot([lv, rv], "time (ms)", "volume (ml)", marks=[("ED", 0.0), ("ES", 360.0)])
    assert svg.count("<polyline") == 2 and "LV" in svg and "RV" in svg
    x_ticks, y_ticks = _tick_labels(svg, "x"), _tick_labels(svg, "y")
    assert x_ticks[0] == 0 and x_ticks[-1] <= 720 and len(x_ticks) >= 3
    assert y_ticks[0] == 0 and y_ticks[-1] == 100 and len(y_ticks) >= 3  # y from 0 to the largest volume
    marks = re.findall(r'class="mark" x1="([\d.]+)"', svg)
    assert [float(x) for x in marks] == pytest.approx([plots.PAD, plots.WIDTH / 2])  # ED at 0, ES mid-cycle
    assert ">ED<" in svg and ">ES<" in svg
    frames = plots.svg_plot([("LV", [0, 1, 2, 3, 4, 5], [9, 7, 5, 6, 8, 9], "red")], "frame", "volume (ml)")
    x_ticks = _tick_labels(frames, "x")  # frame numbers: no 1.5, 2.5 ticks
    assert len(x_ticks) >= 3 and all(t == int(t) for t in x_ticks), x_ticks
    assert plots.svg_plot([("loss", [], [], "orange")], "step", "loss") == ""
    loss = plots.svg_plot([("loss", [1, 2], [0.9, 0.5], "o")], "step", "loss", from_zero=False)
    assert min(_tick_labels(loss, "y")) >= 0.5 and max(_tick_labels(loss, "y")) <= 0.9


def test_svg_plot_points_sit_on_their_series_and_are_named_in_the_legend():
    lv = ("LV", [0, 360, 720], [100, 50, 100], "red")
    svg = plots.svg_plot([lv], "time (ms)", "volume (ml)", points=[("flagged", [360, 720], [50, 100], "#f00")])
    line = [tuple(map(float, p.split(","))) for p in re.search(r'points="([^"]+)"', svg).group(1).split()]
    dots = [(float(x), float(y)) for x, y in re.findall(r'class="point" cx="([\d.]+)" cy="([\d.]+)"', svg)]
    assert dots == [line[1], line[2]]  # on the LV curve's vertices of those times
    assert '<tspan fill="#f00">flagged</tspan>' in svg
    none = plots.svg_plot([lv], "time (ms)", "volume (ml)", points=[("flagged", [], [], "#f00")])
    assert 'class="point"' not in none and "flagged" not in none
