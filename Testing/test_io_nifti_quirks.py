"""NIfTI headers as real datasets write them: scanner-rounded sforms, ACDC's unscaled sform, time steps.

Each file is written by SimpleITK and its header then patched byte by byte, as the
scanner converters of M&Ms and ACDC left them.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import struct
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CardiacSSLLib.cli.main import main
from CardiacSSLLib.io import load_cine, write_cine
from CardiacSSLLib.io.nifti_header import read_nifti_header

SPACING = (1.4, 1.4, 8.0)
DIRECTION = np.array([[0.0, 0.6, 0.8], [1.0, 0.0, 0.0], [0.0, 0.8, -0.6]])  # oblique, as short-axis stacks are
SROW, XYZT_UNITS, PIXDIM, QFORM_CODE = 280, 123, 76, 252


def write_4d(path: Path, n_frames: int = 4, step: float = 0.0335, array: np.ndarray | None = None) -> np.ndarray:
    if array is None:
        array = np.random.default_rng(0).integers(0, 300, size=(n_frames, 5, 20, 24)).astype(np.int16)
    img = sitk.JoinSeries([sitk.GetImageFromArray(f) for f in array])
    img.SetSpacing((*SPACING, step))
    direction = np.eye(4)
    direction[:3, :3] = DIRECTION
    img.SetDirection(direction.ravel())
    sitk.WriteImage(img, str(path))
    return array


def patch(path: Path, **fields) -> None:
    gz = path.name.endswith(".gz")
    raw = bytearray(gzip.decompress(path.read_bytes()) if gz else path.read_bytes())
    if "srow" in fields:
        raw[SROW : SROW + 48] = np.asarray(fields["srow"], "<f4").tobytes()
    if "xyzt_units" in fields:
        raw[XYZT_UNITS] = fields["xyzt_units"]
    if "pixdim4" in fields:
        struct.pack_into("<f", raw, PIXDIM + 16, fields["pixdim4"])
    if "qform_code" in fields:
        struct.pack_into("<h", raw, QFORM_CODE, fields["qform_code"])
    path.write_bytes(gzip.compress(bytes(raw)) if gz else bytes(raw))


def itk_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "itkNiftiImageIO" in line or "WARNING: In" in line]


def test_nearly_orthonormal_sform_opens_with_one_warning(tmp_path, caplog, capfd):
    path = tmp_path / "mnms_like.nii"
    array = write_4d(path)
    srow = read_nifti_header(path).srow.copy()
    srow[0, 1] += 1.5e-4 * SPACING[1]  # y axis tilted by 1.5e-4, x untouched: axes no longer orthogonal
    patch(path, srow=srow, qform_code=0)  # no qform to fall back on, as in the M&Ms subject
    with pytest.raises(RuntimeError, match="orthonormal"):
        sitk.ReadImage(str(path))  # what ITK alone does with it
    capfd.readouterr()
    with caplog.at_level(logging.WARNING):
        cine = load_cine(path)
    np.testing.assert_array_equal(cine.image, array)
    direction = cine.geometry.direction_matrix
    np.testing.assert_allclose(direction.T @ direction, np.eye(3), atol=1e-6)  # float32 header precision
    np.testing.assert_allclose(direction, DIRECTION, atol=2e-4)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    # the tilt shows between the y and z axes: 1.5e-4 x the z axis' x component (0.8)
    assert "orthonormalised" in warnings[0] and "off orthogonal by 1.2e-04" in warnings[0]
    assert itk_lines(capfd.readouterr().err) == []


def test_mnms_subject_with_rounded_sform_keeps_its_labels(tmp_path, caplog):
    from test_io_datasets import make_mnms_subject

    folder = make_mnms_subject(tmp_path)
    for name in ("A0S9V9_sa.nii.gz", "A0S9V9_sa_gt.nii.gz"):  # image and labels carry the same header
        srow = read_nifti_header(folder / name).srow.copy()
        srow[0, 0] -= 2e-4 * np.linalg.norm(srow[:, 0])  # x axis tilted towards the y and z axes
        patch(folder / name, srow=srow, qform_code=0)
    with caplog.at_level(logging.WARNING):
        cine = load_cine(folder)
    assert cine.labelled_frames() == [0, 3]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2 and all("orthonormalised" in w for w in warnings)  # one line per file


def test_sheared_sform_is_still_refused(tmp_path):
    path = tmp_path / "sheared.nii"
    write_4d(path)
    srow = read_nifti_header(path).srow.copy()
    srow[0, 1] += 0.2 * SPACING[1]
    patch(path, srow=srow, qform_code=0)
    assert main(["metrics", str(path)]) == 2  # a clear one-line error, not a traceback


def test_unscaled_sform_gives_no_itk_warnings(tmp_path, caplog, capfd):
    path = tmp_path / "patient001_4d.nii"
    array = write_4d(path)
    srow = read_nifti_header(path).srow.copy()
    srow[:, :3] /= np.linalg.norm(srow[:, :3], axis=0)  # unit axes: ACDC's sform
    patch(path, srow=srow)
    capfd.readouterr()
    with caplog.at_level(logging.WARNING):
        cine = load_cine(path)
        load_cine(path)
    assert itk_lines(capfd.readouterr().err) == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    np.testing.assert_array_equal(cine.image, array)
    np.testing.assert_allclose(cine.geometry.spacing, SPACING, rtol=1e-6)
    np.testing.assert_allclose(cine.geometry.direction_matrix, DIRECTION, atol=1e-6)


@pytest.mark.parametrize(
    ("pixdim4", "units", "expected_step"),
    [
        (0.035, 2 | 8, 35.0),  # seconds, as the NIfTI standard says
        (35.0, 2 | 16, 35.0),  # milliseconds
        (35.0, 2 | 8, 35.0),  # ITK labels every step "seconds"; 35 s per frame is no cine
        (1.0, 2 | 8, None),  # ACDC: 1.0 is no time step in any unit
        (0.0, 2, None),
    ],
)
def test_4d_time_step_becomes_frame_times(tmp_path, pixdim4, units, expected_step):
    path = tmp_path / "cine.nii"
    write_4d(path)
    patch(path, pixdim4=pixdim4, xyzt_units=units)
    cine = load_cine(path)
    if expected_step is None:
        assert cine.trigger_times_ms is None
    else:
        np.testing.assert_allclose(cine.trigger_times_ms, np.arange(4) * expected_step, rtol=1e-6)


def test_written_cine_keeps_its_frame_times(tmp_path):
    from helpers import small_phantom

    cine = small_phantom(n_frames=3, n_slices=2, size=32)
    back = load_cine(write_cine(cine, tmp_path / "cine.nii.gz"))
    step = float(np.median(np.diff(cine.trigger_times_ms)))
    np.testing.assert_allclose(back.trigger_times_ms, np.arange(3) * step, rtol=1e-5)


def test_metrics_on_4d_nifti_uses_its_time_step(tmp_path, capsys):
    lv_radius = [5, 3, 4]  # ED frame 0, ES frame 1
    yy, xx = np.mgrid[:32, :32]
    d = np.hypot(yy - 16, xx - 16)
    label = np.zeros((3, 4, 32, 32), np.uint8)
    for t, r in enumerate(lv_radius):
        label[t, 1:3][:, (d >= r) & (d < 8)] = 2
        label[t, 1:3][:, d < r] = 1
    img = sitk.JoinSeries([sitk.GetImageFromArray(f) for f in label])
    img.SetSpacing((0.9, 0.9, 10.0, 0.0421))  # 42.1 ms in seconds
    sitk.WriteImage(img, str(tmp_path / "seg.nii.gz"))
    assert main(["metrics", str(tmp_path / "seg.nii.gz"), "--out", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    voxel_line = next(line for line in out.splitlines() if line.startswith("voxel_volume_ml"))
    assert float(voxel_line.split()[1]) == pytest.approx(0.0081)
    with open(tmp_path / "m" / "metrics.csv", newline="") as fh:
        times = {int(r["frame"]): float(r["time_ms"]) for r in csv.DictReader(fh) if r["section"] == "per_frame"}
    assert times == pytest.approx({0: 0.0, 1: 42.1, 2: 84.2})
    summary = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert (summary["summary"]["ed_frame"], summary["summary"]["es_frame"]) == (0, 1)
    assert (tmp_path / "m" / "volume_curve.png").stat().st_size > 0
