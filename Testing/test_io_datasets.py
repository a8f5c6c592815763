"""Dataset layouts: ACDC (SSL4MIS HDF5 and NIfTI), M&Ms, Sunnybrook contours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CardiacSSLLib.cine import Geometry
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.io import load_cine, load_label
from CardiacSSLLib.io.datasets import (
    fill_polygon,
    list_sunnybrook,
    load_acdc_h5_slices,
    load_acdc_h5_volume,
    load_mnms_subject,
    load_sunnybrook,
    read_acdc_info,
    read_list,
)
from CardiacSSLLib.labels import CONVENTIONS, LV, MYO, RV, check_anatomy, from_canonical

GEOMETRY = Geometry(
    spacing=(1.5, 1.5, 10.0),
    origin=(-80.0, 60.0, 20.0),
    direction=(0.0, 0.6, 0.8, 1.0, 0.0, 0.0, 0.0, 0.8, -0.6),
)


def canonical_heart(shape=(3, 20, 22)) -> np.ndarray:
    """Canonical labels (Z, Y, X): LV disk in a MYO ring, RV crescent beside it."""
    z_n, y_n, x_n = shape
    yy, xx = np.mgrid[:y_n, :x_n]
    d = np.hypot(yy - 10, xx - 8)
    out = np.zeros(shape, np.uint8)
    out[:, (d >= 4) & (d < 6)] = MYO
    out[:, d < 4] = LV
    out[:, (np.hypot(yy - 10, xx - 14) < 5) & (d >= 6)] = RV
    return out


def image3d(array: np.ndarray) -> sitk.Image:
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(GEOMETRY.spacing)
    img.SetOrigin(GEOMETRY.origin)
    img.SetDirection(GEOMETRY.direction)
    return img


def image4d(array: np.ndarray) -> sitk.Image:
    return sitk.JoinSeries([image3d(v) for v in array])


def make_acdc_patient(root: Path, n_frames=6, ed=1, es=4) -> Path:
    folder = root / "patient101"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 300, size=(n_frames, 3, 20, 22)).astype(np.int16)
    sitk.WriteImage(image4d(frames), str(folder / "patient101_4d.nii.gz"))
    for number in (ed, es):
        sitk.WriteImage(image3d(frames[number - 1]), str(folder / f"patient101_frame{number:02d}.nii.gz"))
        gt = from_canonical(canonical_heart(), "acdc")
        sitk.WriteImage(image3d(gt), str(folder / f"patient101_frame{number:02d}_gt.nii.gz"))
    (folder / "Info.cfg").write_text(f"ED: {ed}\nES: {es}\nGroup: NOR\nHeight: 180.0\nNbFrame: {n_frames}\n")
    return folder


def test_acdc_nifti_patient(tmp_path):
    folder = make_acdc_patient(tmp_path)
    cine = load_cine(folder)
    assert cine.image.shape == (6, 3, 20, 22)
    assert cine.geometry.isclose(GEOMETRY)
    assert cine.labelled_frames() == [0, 3]
    assert (cine.meta["ed_frame"], cine.meta["es_frame"]) == (0, 3)
    np.testing.assert_array_equal(cine.label[0], canonical_heart())
    assert not cine.label[1].any()
    assert check_anatomy(cine.label) > 0.9
    # read with the wrong convention the same file fails the anatomy check
    wrong = load_cine(folder, label_convention="mnms")
    with pytest.raises(InputError, match="label convention is probably wrong"):
        check_anatomy(wrong.label)


def test_acdc_label_with_other_geometry_is_refused(tmp_path):
    folder = make_acdc_patient(tmp_path)
    moved = image3d(from_canonical(canonical_heart(), "acdc"))
    moved.SetOrigin((0.0, 0.0, 0.0))
    sitk.WriteImage(moved, str(folder / "patient101_frame04_gt.nii.gz"))
    with pytest.raises(InputError, match="does not match the image geometry"):
        load_cine(folder)


def make_mnms_subject(root: Path, ed=0, es=3) -> Path:
    folder = root / "A0S9V9"
    folder.mkdir(parents=True)
    frames = np.random.default_rng(4).integers(0, 300, size=(5, 3, 20, 22)).astype(np.int16)
    gt = np.zeros(frames.shape, np.uint8)
    gt[ed] = gt[es] = canonical_heart()  # M&Ms values are canonical already
    sitk.WriteImage(image4d(frames), str(folder / "A0S9V9_sa.nii.gz"))
    sitk.WriteImage(image4d(gt), str(folder / "A0S9V9_sa_gt.nii.gz"))
    return folder


def test_mnms_subject(tmp_path):
    folder = make_mnms_subject(tmp_path)
    cine = load_cine(folder)
    assert cine.image.shape == (5, 3, 20, 22)
    assert cine.labelled_frames() == [0, 3]
    assert (cine.meta["ed_frame"], cine.meta["es_frame"]) == (0, 3)
    assert check_anatomy(cine.label) > 0.9
    csv = tmp_path / "info.csv"
    csv.write_text("External code,VendorName,Vendor,Centre,ED,ES\nA0S9V9,Siemens,A,1,3,0\n")
    from_csv = load_mnms_subject(folder, info_csv=csv)
    assert (from_csv.meta["ed_frame"], from_csv.meta["es_frame"]) == (3, 0)
    csv.write_text("External code,ED,ES\nOTHER,0,1\n")
    with pytest.raises(InputError, match="not listed"):
        load_mnms_subject(folder, info_csv=csv)


def test_unknown_label_values_are_refused(tmp_path):
    folder = make_mnms_subject(tmp_path)
    cine = load_cine(folder)
    gt = np.zeros(cine.image.shape, np.uint8)
    gt[0, 1, 5, 5] = 4
    sitk.WriteImage(image4d(gt), str(tmp_path / "extra.nii.gz"))
    with pytest.raises(InputError, match=r"values \[4\] not in the 'mnms' convention"):
        load_label(tmp_path / "extra.nii.gz", cine, "mnms")
    with pytest.raises(InputError, match="values \\[3\\] not in the 'sunnybrook'"):
        load_label(folder / "A0S9V9_sa_gt.nii.gz", cine, "sunnybrook")


def test_fill_polygon_pixel_centres():
    square = np.array([[2.0, 1.0], [6.0, 1.0], [6.0, 4.0], [2.0, 4.0]])  # x 2..6, y 1..4
    mask = fill_polygon(square, (8, 9))
    rows, cols = np.nonzero(mask)
    assert set(cols) <= {2, 3, 4, 5, 6} and set(rows) <= {1, 2, 3, 4}
    assert mask[2:4, 3:6].all() and not mask[5:].any() and not mask[:, 7:].any()
    # a circle of radius 30: pixel count close to its area
    angles = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    circle = np.column_stack([100 + 30 * np.cos(angles), 90 + 30 * np.sin(angles)])
    assert abs(fill_polygon(circle, (200, 200)).sum() - np.pi * 30**2) < 2 * np.pi * 30 * 0.5


# --------------------------------------------------------------------------- real data


@pytest.mark.data
def test_acdc_test_volumes(acdc_dir):
    names = read_list(acdc_dir, "test")
    assert len(names) == 40 and len({n.split("_")[0] for n in names}) == 20
    info = read_acdc_info(acdc_dir)
    for name in names:
        cine = load_acdc_h5_volume(acdc_dir / "data" / f"{name}.h5")
        assert cine.n_frames == 1 and 6 <= cine.n_slices <= 18 and 150 <= min(cine.image.shape[2:])
        # spacing from acdc_info.csv, in the ranges ACDC was acquired with
        row = info[name.split("_")[0]]
        assert cine.geometry.spacing_known and cine.geometry.spacing == row.spacing
        assert 0.6 < row.spacing[0] < 2.0 and 4.0 <= row.spacing[2] <= 10.0
        assert cine.meta["phase"] == ("ED" if name.endswith("01") else "ES")
        assert set(np.unique(cine.label)) == {0, LV, MYO, RV}, name
        assert check_anatomy(cine.label) > 0.8, name
        # the raw ACDC values (1 RV, 3 LV) read as canonical fail the same check: the mapping matters
        raw = from_canonical(cine.label, "acdc")
        with pytest.raises(InputError, match="probably wrong"):
            check_anatomy(raw)


@pytest.mark.data
def test_acdc_h5_slices_and_lists(acdc_dir):
    names = read_list(acdc_dir, "train_slices")[:6]
    pairs = load_acdc_h5_slices(acdc_dir, names)
    assert len(pairs) == 6
    for image, label in pairs:
        assert image.ndim == 2 and image.dtype == np.float32 and label.shape == image.shape
        assert label.dtype == np.uint8 and set(np.unique(label)) <= set(CONVENTIONS["canonical"])
    volume_pairs = load_acdc_h5_slices(acdc_dir, ["patient001_frame01"])
    assert len(volume_pairs) == load_acdc_h5_volume(acdc_dir / "data" / "patient001_frame01.h5").n_slices
    with pytest.raises(InputError, match="available splits"):
        read_list(acdc_dir, "nonexistent")
    assert load_cine(acdc_dir / "data" / "patient001_frame02.h5").meta["phase"] == "ES"


@pytest.fixture(scope="module")
def sunnybrook(sunnybrook_dir):
    return {scd: load_sunnybrook(sunnybrook_dir, scd) for scd in list_sunnybrook(sunnybrook_dir)}


@pytest.mark.data
def test_sunnybrook_labels(sunnybrook, sunnybrook_dir):
    assert sorted(sunnybrook) == ["SCD0000101", "SCD0000201", "SCD0000301"]
    for cine in sunnybrook.values():
        assert cine.structures == (LV, MYO)
        assert not (cine.label == RV).any()
        lv_only = cine.meta["lv_labelled"]
        orig = cine.meta["contour_folder"]
        n_inner = len(list(Path(orig).glob("i-contours/*.txt")))
        n_outer = len(list(Path(orig).glob("o-contours/*.txt")))
        assert lv_only.sum() == n_inner and cine.labelled.sum() == n_outer
        assert (cine.labelled <= lv_only).all()  # every fully labelled image also has its LV
        # each contoured image has LV; MYO only where the epicardial contour exists
        for t, z in zip(*np.nonzero(lv_only), strict=True):
            assert (cine.label[t, z] == LV).sum() > 20
            assert ((cine.label[t, z] == MYO).sum() > 50) == bool(cine.labelled[t, z])
        assert not cine.label[~lv_only].any()
        assert check_anatomy(cine.label[cine.labelled]) > 0.95
        # end-diastolic (fully labelled) LV is larger than the end-systolic one
        ed = cine.labelled_frames()[0]
        es = [t for t in np.flatnonzero(lv_only.any(axis=1)) if t != ed][0]
        zs = np.flatnonzero(lv_only[ed] & lv_only[es])
        assert (cine.label[ed, zs] == LV).sum() > 1.2 * (cine.label[es, zs] == LV).sum()


@pytest.mark.data
def test_sunnybrook_unknown_id(sunnybrook_dir):
    with pytest.raises(InputError, match="not in"):
        load_sunnybrook(sunnybrook_dir, "SCD9999999")


def make_sunnybrook(root: Path, instance_offset: int = 0) -> None:
    """A tiny Sunnybrook layout: 2 slices x 3 phases, file N.dcm holds InstanceNumber N."""
    from test_io_dicom import NORMAL, write_dicom

    for z in range(2):
        for t in range(3):
            n = 3 * z + t + 1
            write_dicom(
                root / "dicoms" / "SCD0000901" / f"{n}.dcm",
                np.zeros((40, 40), np.int16),
                8.0 * z * NORMAL,
                trigger=30.0 * t,
                instance=n + instance_offset,
            )
    (root / "link.csv").write_text("patient_id,original_id\nSCD0000901,SC-HF-I-9\n")
    square = "10.0 10.0\n30.0 10.0\n30.0 30.0\n10.0 30.0\n"
    inner = "15.0 15.0\n25.0 15.0\n25.0 25.0\n15.0 25.0\n"
    folder = root / "contourfiles" / "SC-HF-I-9"
    (folder / "i-contours").mkdir(parents=True)
    (folder / "o-contours").mkdir(parents=True)
    (folder / "i-contours" / "IM-0001-0005-icontour-manual.txt").write_text(inner)  # z=1, t=1
    (folder / "o-contours" / "IM-0001-0005-ocontour-manual.txt").write_text(square)
    (folder / "i-contours" / "IM-0001-0003-icontour-manual.txt").write_text(inner)  # z=0, t=2, LV only


def test_sunnybrook_layout_synthetic(tmp_path):
    make_sunnybrook(tmp_path)
    assert list_sunnybrook(tmp_path) == ["SCD0000901"]
    cine = load_sunnybrook(tmp_path, "SCD0000901")
    expected = np.zeros((3, 2), bool)
    expected[1, 1] = True
    np.testing.assert_array_equal(cine.labelled, expected)
    expected[2, 0] = True
    np.testing.assert_array_equal(cine.meta["lv_labelled"], expected)
    assert 81 <= (cine.label[1, 1] == LV).sum() <= 121  # the 10 x 10 px square, boundary either way
    assert cine.label[1, 1, 20, 20] == LV and cine.label[1, 1, 12, 20] == MYO and cine.label[1, 1, 35, 35] == 0
    assert cine.label[2, 0, 20, 20] == LV and not (cine.label[2, 0] == MYO).any()


def test_sunnybrook_file_number_must_match_instance_number(tmp_path):
    make_sunnybrook(tmp_path, instance_offset=100)
    with pytest.raises(InputError, match="differs from its InstanceNumber"):
        load_sunnybrook(tmp_path, "SCD0000901")
