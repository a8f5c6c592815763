"""Volume inputs: 4D NIfTI, folders of 3D frames, Slicer .seq.nrrd, single 3D/2D images, NaN."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CardiacSSLLib.cine import Geometry
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.io import load_cine

# Oblique LPS geometry (rotation about an arbitrary axis) with anisotropic spacing.
_AXIS = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
_ANGLE = 0.7
_K = np.array([[0, -_AXIS[2], _AXIS[1]], [_AXIS[2], 0, -_AXIS[0]], [-_AXIS[1], _AXIS[0], 0]])
ROTATION = np.eye(3) + np.sin(_ANGLE) * _K + (1 - np.cos(_ANGLE)) * _K @ _K
GEOMETRY = Geometry(spacing=(1.3, 1.4, 8.0), origin=(-12.5, 30.25, 101.0), direction=tuple(ROTATION.ravel()))
SHAPE = (5, 4, 9, 11)  # T, Z, Y, X (odd sizes so axis mix-ups show)


def make_array(shape=SHAPE) -> np.ndarray:
    return np.random.default_rng(1).normal(100, 20, size=shape).astype(np.float32)


def frame_image(volume: np.ndarray, geometry: Geometry = GEOMETRY) -> sitk.Image:
    img = sitk.GetImageFromArray(volume)
    img.SetSpacing(geometry.spacing)
    img.SetOrigin(geometry.origin)
    img.SetDirection(geometry.direction)
    return img


def write_4d(path: Path, array: np.ndarray) -> None:
    img = sitk.JoinSeries([frame_image(v) for v in array], 0.0, 40.0)
    sitk.WriteImage(img, str(path))


def write_slicer_sequence(path: Path, array: np.ndarray, list_first: bool, times=None) -> None:
    """A .seq.nrrd as Slicer writes it: list axis last (current) or first (older versions)."""
    t, z, y, x = array.shape
    d = GEOMETRY.direction_matrix * np.asarray(GEOMETRY.spacing)
    dirs = ["(" + ",".join(repr(float(v)) for v in d[:, i]) + ")" for i in range(3)]
    values = " ".join(f"{v:g}" for v in (times if times is not None else range(t)))
    if list_first:
        sizes, kinds, axis = f"{t} {x} {y} {z}", "list domain domain domain", 0
        directions = "none " + " ".join(dirs)
        data = np.ascontiguousarray(np.moveaxis(array, 0, -1))  # (Z, Y, X, T): T fastest
    else:
        sizes, kinds, axis = f"{x} {y} {z} {t}", "domain domain domain list", 3
        directions = " ".join(dirs) + " none"
        data = np.ascontiguousarray(array)
    header = (
        f"NRRD0004\ntype: float\ndimension: 4\nspace: left-posterior-superior\nsizes: {sizes}\n"
        f"space directions: {directions}\nkinds: {kinds}\nendian: little\nencoding: gzip\n"
        f"space origin: ({','.join(repr(float(v)) for v in GEOMETRY.origin)})\n"
        + ('units: "" "" "" "ms"\n' if not list_first and times is not None else "")
        + f"axis {axis} index type:=numeric\naxis {axis} index values:={values}\n"
        "DataNodeClassName:=vtkMRMLScalarVolumeNode\n\n"
    )
    path.write_bytes(header.encode() + gzip.compress(data.astype("<f4").tobytes()))


def test_4d_nifti(tmp_path):
    array = make_array()
    write_4d(tmp_path / "cine.nii.gz", array)
    cine = load_cine(tmp_path / "cine.nii.gz")
    assert cine.image.shape == SHAPE
    np.testing.assert_allclose(cine.image, array, rtol=1e-6)
    assert cine.geometry.isclose(GEOMETRY)
    assert cine.meta["time_spacing"] == pytest.approx(40.0)


@pytest.mark.parametrize("list_first", [False, True])
def test_slicer_sequence_nrrd(tmp_path, list_first):
    array = make_array()
    times = [0, 35.5, 71, 106.5, 142]
    write_slicer_sequence(tmp_path / "cine.seq.nrrd", array, list_first, times=times)
    cine = load_cine(tmp_path / "cine.seq.nrrd")
    assert cine.image.shape == SHAPE
    np.testing.assert_array_equal(cine.image, array)
    assert cine.geometry.isclose(GEOMETRY)
    assert cine.meta["sequence_index_values"] == [f"{v:g}" for v in times]
    if list_first:  # no unit in the file: index values are not taken as times
        assert cine.trigger_times_ms is None
    else:
        np.testing.assert_allclose(cine.trigger_times_ms, times)


def test_frames_folder_sorted_naturally(tmp_path):
    array = make_array((11, 3, 5, 6))
    for t in range(11):
        sitk.WriteImage(frame_image(array[t]), str(tmp_path / f"frame{t + 1}.nrrd"))
    (tmp_path / "readme.txt").write_text("ignored")
    cine = load_cine(tmp_path)
    assert cine.frame_names[:3] == ["frame1.nrrd", "frame2.nrrd", "frame3.nrrd"]
    assert cine.frame_names[-1] == "frame11.nrrd"
    np.testing.assert_array_equal(cine.image, array)  # frame10 is not sorted before frame2
    assert cine.geometry.isclose(GEOMETRY)


def test_frames_with_different_geometry_are_refused(tmp_path):
    array = make_array((2, 3, 5, 6))
    sitk.WriteImage(frame_image(array[0]), str(tmp_path / "f1.nii.gz"))
    moved = Geometry(GEOMETRY.spacing, (0.0, 0.0, 0.0), GEOMETRY.direction)
    sitk.WriteImage(frame_image(array[1], moved), str(tmp_path / "f2.nii.gz"))
    with pytest.raises(InputError, match="does not match the first frame"):
        load_cine(tmp_path)


def test_3d_volume_needs_allow_single_frame(tmp_path):
    sitk.WriteImage(frame_image(make_array()[0]), str(tmp_path / "vol.nii.gz"))
    with pytest.raises(InputError, match="single 3D volume, not a cine"):
        load_cine(tmp_path / "vol.nii.gz")
    cine = load_cine(tmp_path / "vol.nii.gz", allow_single_frame=True)
    assert cine.image.shape == (1,) + SHAPE[1:]
    assert cine.geometry.isclose(GEOMETRY)


def test_2d_images_are_refused(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(make_array()[0, 0]), str(tmp_path / "slice.nii.gz"))
    sitk.WriteImage(frame_image(make_array()[0, :1]), str(tmp_path / "slice3d.nrrd"))
    for name in ("slice.nii.gz", "slice3d.nrrd"):
        with pytest.raises(InputError, match="single 2D image"):
            load_cine(tmp_path / name, allow_single_frame=True)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd"])
def test_nan_and_inf_voxels_are_refused(tmp_path, suffix):
    # ITK 5.4 reads NaN in NIfTI as 0 silently: the reader must count them in the file itself
    array = make_array()
    array[2, 1, 3, 4] = np.nan
    array[0, 0, 0, 0] = np.inf
    write_4d(tmp_path / f"bad{suffix}", array)
    with pytest.raises(InputError, match="2 NaN or infinite voxels"):
        load_cine(tmp_path / f"bad{suffix}")
    sitk.WriteImage(frame_image(array[2]), str(tmp_path / f"frame{suffix}"))
    with pytest.raises(InputError, match="1 NaN or infinite voxels"):
        load_cine(tmp_path / f"frame{suffix}", allow_single_frame=True)


def test_unreadable_volume_file(tmp_path):
    (tmp_path / "broken.nii.gz").write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match="cannot read image"):
        load_cine(tmp_path / "broken.nii.gz")
