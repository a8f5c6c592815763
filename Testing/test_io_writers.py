"""Writers: segmentations and cines round-trip in the exact native (oblique) geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CardiacSSLLib.cine import Cine, Geometry
from CardiacSSLLib.errors import InputError, OutputExistsError
from CardiacSSLLib.io import load_cine, load_label, write_cine, write_segmentation
from CardiacSSLLib.labels import SNOMED

_AXIS = np.array([-0.2, 0.6, 0.75]) / np.linalg.norm([-0.2, 0.6, 0.75])
_K = np.array([[0, -_AXIS[2], _AXIS[1]], [_AXIS[2], 0, -_AXIS[0]], [-_AXIS[1], _AXIS[0], 0]])
ROTATION = np.eye(3) + np.sin(1.1) * _K + (1 - np.cos(1.1)) * _K @ _K
GEOMETRY = Geometry(spacing=(1.37, 1.21, 9.5), origin=(162.7, 35.6, -144.5), direction=tuple(ROTATION.ravel()))


def rings(shape=(3, 4, 13, 15), seed=0) -> np.ndarray:
    """Canonical label maps with LV inside a MYO ring and an RV beside it, moving per frame."""
    t_n, z_n, y_n, x_n = shape
    yy, xx = np.mgrid[:y_n, :x_n]
    label = np.zeros(shape, np.uint8)
    for t in range(t_n):
        r = 2.0 + 0.5 * t
        d = np.hypot(yy - 6, xx - 6)
        for z in range(z_n):
            label[t, z][d < r + 2] = 2
            label[t, z][d < r] = 1
            label[t, z][(np.abs(yy - 6) < 3) & (xx >= 11)] = 3
    return label


@pytest.fixture
def cine() -> Cine:
    image = np.random.default_rng(2).integers(0, 900, size=(3, 4, 13, 15)).astype(np.float32)
    return Cine(image=image, geometry=GEOMETRY, trigger_times_ms=np.array([10.0, 45.0, 80.0]), name="synthetic")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".seq.nrrd"])
def test_multi_frame_segmentation_round_trip(tmp_path, cine, suffix):
    label = rings()
    path = write_segmentation(label, cine, tmp_path / f"seg{suffix}")
    assert path == tmp_path / f"seg{suffix}" and path.is_file()
    back = load_label(path, cine)
    np.testing.assert_array_equal(back, label)
    img = sitk.ReadImage(str(path))
    if img.GetNumberOfComponentsPerPixel() > 1:  # Slicer sequence: list axis
        assert img.GetMetaData("NRRD_kinds[pixel]") == "list"
        assert img.GetMetaData("axis 3 index values") == "10 45 80"
        assert img.GetMetaData("NRRD_units[pixel]") == "ms"
    else:
        assert img.GetDimension() == 4
    direction = np.asarray(img.GetDirection()).reshape(img.GetDimension(), img.GetDimension())[:3, :3]
    np.testing.assert_allclose(direction, GEOMETRY.direction_matrix, atol=1e-6)
    np.testing.assert_allclose(img.GetOrigin()[:3], GEOMETRY.origin, atol=1e-5)
    np.testing.assert_allclose(img.GetSpacing()[:3], GEOMETRY.spacing, atol=1e-6)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary file left behind"


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".seg.nrrd"])
def test_single_frame_segmentation_round_trip(tmp_path, cine, suffix):
    label = rings()
    path = write_segmentation(label, cine, tmp_path / f"es{suffix}", frame=1)
    img = sitk.ReadImage(str(path))
    assert img.GetDimension() == 3 and img.GetNumberOfComponentsPerPixel() == 1
    np.testing.assert_array_equal(load_label(path, cine), label[1])
    np.testing.assert_allclose(np.asarray(img.GetDirection()), GEOMETRY.direction, atol=1e-6)
    np.testing.assert_allclose(img.GetOrigin(), GEOMETRY.origin, atol=1e-5)


def test_seg_nrrd_is_a_slicer_segmentation(tmp_path, cine):
    label = rings()[0]
    path = write_segmentation(label, cine, tmp_path / "ed.seg.nrrd")
    header = path.read_bytes().split(b"\n\n", 1)[0].decode()
    assert "kinds: domain domain domain" in header and "type: unsigned char" in header
    assert "space: left-posterior-superior" in header
    img = sitk.ReadImage(str(path))
    segments = {}
    i = 0
    while img.HasMetaDataKey(f"Segment{i}_ID"):
        keys = ("ID", "Name", "LabelValue", "Color", "Layer", "Extent", "Tags")
        segments[img.GetMetaData(f"Segment{i}_Name")] = {k: img.GetMetaData(f"Segment{i}_{k}") for k in keys}
        i += 1
    assert set(segments) == {"LV", "MYO", "RV"}
    lv = segments["LV"]
    assert lv["LabelValue"] == "1" and lv["Layer"] == "0"
    assert f"SCT^{SNOMED[1][1]}^{SNOMED[1][2]}" in lv["Tags"] and lv["Tags"].endswith("|")
    ys, xs = np.nonzero((label == 1).any(axis=0))
    zs = np.flatnonzero((label == 1).any(axis=(1, 2)))
    assert lv["Extent"] == f"{xs.min()} {xs.max()} {ys.min()} {ys.max()} {zs.min()} {zs.max()}"
    assert img.GetMetaData("Segmentation_MasterRepresentation") == "Binary labelmap"
    # a multi-frame label needs frame= for .seg.nrrd
    with pytest.raises(InputError, match="one 3D frame"):
        write_segmentation(rings(), cine, tmp_path / "all.seg.nrrd")


def test_seg_nrrd_segments_are_matched_by_name(tmp_path, cine):
    """A Slicer-made .seg.nrrd may number its segments differently: names decide."""
    label = rings()[0]
    img = sitk.GetImageFromArray(np.where(label == 1, 5, np.where(label == 2, 7, np.where(label == 3, 9, 0))))
    img.SetSpacing(GEOMETRY.spacing)
    img.SetOrigin(GEOMETRY.origin)
    img.SetDirection(GEOMETRY.direction)
    img = sitk.Cast(img, sitk.sitkUInt8)
    for i, (value, name) in enumerate(((7, "Myo"), (5, "LV"), (9, "rv"))):
        img.SetMetaData(f"Segment{i}_LabelValue", str(value))
        img.SetMetaData(f"Segment{i}_Name", name)
    sitk.WriteImage(img, str(tmp_path / "slicer.seg.nrrd"))
    np.testing.assert_array_equal(load_label(tmp_path / "slicer.seg.nrrd", cine), label)


def test_cine_round_trip(tmp_path, cine):
    for suffix in (".nii.gz", ".seq.nrrd"):
        path = write_cine(cine, tmp_path / f"cine{suffix}")
        back = load_cine(path)
        np.testing.assert_array_equal(back.image, cine.image)
        assert back.geometry.isclose(cine.geometry)
    np.testing.assert_allclose(load_cine(tmp_path / "cine.seq.nrrd").trigger_times_ms, cine.trigger_times_ms)
    with pytest.raises(InputError, match="segmentations"):
        write_cine(cine, tmp_path / "cine.seg.nrrd")


def test_existing_output_is_not_overwritten(tmp_path, cine):
    path = tmp_path / "seg.nii.gz"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="exists"):
        write_segmentation(rings(), cine, path)
    assert path.read_bytes() == b"precious"
    write_segmentation(rings(), cine, path, overwrite=True)
    np.testing.assert_array_equal(load_label(path, cine), rings())


def test_unwritable_destinations(tmp_path, cine):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        write_segmentation(rings(), cine, blocker / "seg.nii.gz")
    (tmp_path / "out.nii.gz").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        write_segmentation(rings(), cine, tmp_path / "out.nii.gz")
    with pytest.raises(InputError, match="unsupported output format"):
        write_segmentation(rings(), cine, tmp_path / "seg.png")


def test_read_only_folder(read_only_dir, cine):
    with pytest.raises(InputError, match="not writable"):
        write_segmentation(rings(), cine, read_only_dir / "seg.nii.gz")
    assert list(read_only_dir.iterdir()) == []


def test_bad_labels_are_refused(tmp_path, cine):
    bad = rings()
    bad[0, 0, 0, 0] = 7
    with pytest.raises(InputError, match=r"values \[7\]"):
        write_segmentation(bad, cine, tmp_path / "bad.nii.gz")
    with pytest.raises(InputError, match="frame shape"):
        write_segmentation(rings()[:, :, :-1], cine, tmp_path / "bad.nii.gz")
    # a label file with unexpected values or another geometry
    img = sitk.JoinSeries([sitk.GetImageFromArray(v) for v in bad])
    img.SetSpacing(GEOMETRY.spacing + (1.0,))
    sitk.WriteImage(img, str(tmp_path / "foreign.nii.gz"))
    with pytest.raises(InputError, match="does not match the image geometry"):
        load_label(tmp_path / "foreign.nii.gz", cine)
    same = Cine(image=cine.image, geometry=Geometry(spacing=GEOMETRY.spacing))
    with pytest.raises(InputError, match=r"values \[7\] not in the 'canonical'"):
        load_label(tmp_path / "foreign.nii.gz", same)
    with pytest.raises(InputError, match="does not exist"):
        load_label(tmp_path / "missing.nii.gz", cine)


@pytest.mark.data
def test_sunnybrook_segmentation_round_trip(sunnybrook_dir, tmp_path):
    from CardiacSSLLib.io.datasets import load_sunnybrook

    cine = load_sunnybrook(sunnybrook_dir, "SCD0000301")
    t = cine.labelled_frames()[0]
    path: Path = write_segmentation(cine.label[t], cine, tmp_path / "ed.seg.nrrd", frame=t)
    np.testing.assert_array_equal(load_label(path, cine), cine.label[t])
    img = sitk.ReadImage(str(path))
    back = Geometry(img.GetSpacing(), img.GetOrigin(), img.GetDirection())
    assert back.isclose(cine.geometry, tol=1e-6)
    assert not sitk.ReadImage(str(path)).HasMetaDataKey("Segment2_ID")  # no RV segment for Sunnybrook


def test_result_files_follow_the_umask(tmp_path):
    """Colleagues on a shared server can read results: no 0600 files from mkstemp."""
    import os
    import stat

    from CardiacSSLLib.io import write_segmentation
    from CardiacSSLLib.metrics.output import write_atomic
    from helpers import small_phantom

    old = os.umask(0o022)
    try:
        csv = write_atomic(tmp_path / "m.csv", "a,b\n")
        cine = small_phantom(n_frames=2, n_slices=3, size=48)
        seg = write_segmentation(cine.label, cine, tmp_path / "seg.nii.gz")
        for path in (csv, seg):
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o644, path
        os.umask(0o077)
        private = write_atomic(tmp_path / "p.csv", "x\n")
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    finally:
        os.umask(old)
