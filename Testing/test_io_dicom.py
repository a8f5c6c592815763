"""DICOM cine reading: real Sunnybrook cines and small synthetic series written with pydicom."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CardiacSSLLib.errors import InputError
from CardiacSSLLib.io import load_cine
from CardiacSSLLib.io.dicom import load_dicom_cine

pydicom = pytest.importorskip("pydicom")
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian  # noqa: E402

# An oblique short-axis orientation (rows, columns), like Sunnybrook's.
ROW = np.array([0.712221, 0.701112, -0.0343949])
COL = np.array([-0.307715, 0.267798, -0.913015])
NORMAL = np.cross(ROW, COL)


def write_dicom(
    path: Path,
    pixels: np.ndarray,
    position: np.ndarray,
    *,
    series_uid: str = "1.2.826.0.1.3680043.8.498.1",
    series_number: int = 5,
    description: str = "SA cine",
    modality: str = "MR",
    trigger: float | None = 0.0,
    instance: int = 1,
    spacing: tuple[float, float] = (1.5, 1.25),
    orientation: tuple[np.ndarray, np.ndarray] = (ROW, COL),
    frame_of_reference: str = "1.2.826.0.1.3680043.8.498.9",
    slope: float = 1.0,
    intercept: float = 0.0,
) -> None:
    """One classic single-frame DICOM image (int16), enough tags for the cine reader."""
    meta = FileMetaDataset()
    sop_class = "1.2.840.10008.5.1.4.1.1.4" if modality == "MR" else "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.8.498.{abs(hash(str(path))) % 10**12}"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientID = "TEST"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.7"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = description
    ds.FrameOfReferenceUID = frame_of_reference
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in np.concatenate(orientation)]
    ds.PixelSpacing = [f"{spacing[0]:g}", f"{spacing[1]:g}"]
    ds.SliceThickness = "8"
    if trigger is not None:
        ds.TriggerTime = f"{trigger:g}"
    ds.RescaleSlope = f"{slope:g}"
    ds.RescaleIntercept = f"{intercept:g}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.PixelData = pixels.astype("<i2").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def stored_values(t: int, z: int, shape=(6, 7)) -> np.ndarray:
    """Distinct stored pixel values per (phase, slice) so ordering errors show."""
    return (np.arange(np.prod(shape)).reshape(shape) + 100 * t + 1000 * z).astype(np.int16)


def write_cine(
    folder: Path, n_phases=4, n_slices=3, gap=8.0, origin=(10.0, -20.0, 30.0), file_names=None, **kwargs
) -> None:
    """A cine with shuffled file names/instance numbers; slice z sits at origin + z*gap*normal."""
    rng = np.random.default_rng(0)
    order = rng.permutation(n_phases * n_slices)
    k = 0
    for z in range(n_slices):
        for t in range(n_phases):
            idx = int(order[k])
            name = file_names(t, z) if file_names else f"IM{idx:04d}.dcm"
            write_dicom(
                folder / name,
                stored_values(t, z),
                np.asarray(origin) + z * gap * NORMAL,
                trigger=25.0 * t + 0.1 * z,
                instance=idx + 1,
                **kwargs,
            )
            k += 1


# --------------------------------------------------------------------------- synthetic


def test_synthetic_cine_order_geometry_and_rescale(tmp_path):
    write_cine(tmp_path / "cine", slope=2.0, intercept=-10.0)
    (tmp_path / "cine" / "notes.txt").write_text("not a DICOM file")  # skipped
    cine = load_cine(tmp_path / "cine")
    assert cine.image.shape == (4, 3, 6, 7)
    for t in range(4):
        for z in range(3):
            np.testing.assert_array_equal(cine.image[t, z], 2.0 * stored_values(t, z) - 10.0)
    g = cine.geometry
    # spacing = (column spacing, row spacing, slice gap); PixelSpacing is (row, column)
    np.testing.assert_allclose(g.spacing, (1.25, 1.5, 8.0), atol=1e-4)
    np.testing.assert_allclose(g.origin, (10.0, -20.0, 30.0), atol=1e-4)
    np.testing.assert_allclose(g.direction_matrix[:, 0], ROW / np.linalg.norm(ROW), atol=1e-5)
    np.testing.assert_allclose(g.direction_matrix[:, 2], NORMAL / np.linalg.norm(NORMAL), atol=1e-5)
    np.testing.assert_allclose(cine.trigger_times_ms, [0.1, 25.1, 50.1, 75.1], atol=1e-6)  # median per phase
    assert cine.meta["series_number"] == "5"


def test_phases_fall_back_to_instance_number(tmp_path):
    for z in range(2):
        for t in range(3):
            write_dicom(
                tmp_path / "cine" / f"{z}_{t}.dcm",
                stored_values(t, z),
                np.asarray([0, 0, 0]) + 8 * z * NORMAL,
                trigger=None,
                instance=10 * z + (2 - t),
            )
    cine = load_cine(tmp_path / "cine")
    assert cine.trigger_times_ms is None
    # phases sorted by InstanceNumber: instance 10z+0 is t=2
    np.testing.assert_array_equal(cine.image[0, 1], stored_values(2, 1))


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_leading_zero_uids_are_tolerated(tmp_path):
    write_cine(tmp_path / "cine", n_phases=2, n_slices=2, series_uid="2.16.124.113543.6006.99.08975550791105350405")
    assert load_cine(tmp_path / "cine").image.shape == (2, 2, 6, 7)


def test_one_series_per_slice_is_stacked(tmp_path):
    for z in (2, 0, 1):
        for t in range(3):
            write_dicom(
                tmp_path / "cine" / f"s{z}_{t}.dcm",
                stored_values(t, z),
                9.0 * z * NORMAL,
                series_uid=f"1.2.3.{z + 1}",
                series_number=10 + z,
                trigger=30.0 * t,
                instance=t + 1,
            )
    cine = load_cine(tmp_path / "cine")
    assert cine.image.shape == (3, 3, 6, 7)
    np.testing.assert_array_equal(cine.image[1, 2], stored_values(1, 2))
    assert cine.geometry.spacing[2] == pytest.approx(9.0, abs=1e-3)
    assert len(cine.meta["series_uids"]) == 3


def test_single_slice_series_with_different_frames_of_reference_are_refused(tmp_path):
    for z in range(2):
        for t in range(3):
            write_dicom(
                tmp_path / "cine" / f"s{z}_{t}.dcm",
                stored_values(t, z),
                9.0 * z * NORMAL,
                series_uid=f"1.2.3.{z + 1}",
                series_number=10 + z,
                trigger=30.0 * t,
                instance=t + 1,
                frame_of_reference=f"1.2.9.{z}",
            )
    with pytest.raises(InputError, match="2 cine series"):
        load_cine(tmp_path / "cine")


def test_two_cine_series_are_refused_and_selectable(tmp_path):
    write_cine(
        tmp_path / "mixed" / "a", n_phases=2, n_slices=2, series_uid="1.2.3.1", series_number=7, description="cine A"
    )
    write_cine(
        tmp_path / "mixed" / "b", n_phases=3, n_slices=2, series_uid="1.2.3.2", series_number=8, description="cine B"
    )
    with pytest.raises(InputError, match=r"2 cine series(.|\n)*series number 7 \(cine A, MR\): 4 images"):
        load_cine(tmp_path / "mixed")
    assert load_cine(tmp_path / "mixed", series=8).n_frames == 3
    assert load_cine(tmp_path / "mixed", series="cine A").n_frames == 2
    with pytest.raises(InputError, match="no series matches"):
        load_cine(tmp_path / "mixed", series=99)


def test_localizer_beside_the_cine_is_ignored(tmp_path):
    write_cine(tmp_path / "study" / "cine", n_phases=3, n_slices=2, series_uid="1.2.3.1", series_number=7)
    planes = ((ROW, COL), (ROW, NORMAL / np.linalg.norm(NORMAL)), (COL, NORMAL / np.linalg.norm(NORMAL)))
    for i, orientation in enumerate(planes):  # tri-plane localizer: one series, three orientations
        write_dicom(
            tmp_path / "study" / "loc" / f"{i}.dcm",
            stored_values(0, 0),
            np.zeros(3),
            series_uid="1.2.3.9",
            series_number=1,
            orientation=orientation,
            instance=i + 1,
        )
    cine = load_cine(tmp_path / "study")
    assert cine.image.shape == (3, 2, 6, 7) and cine.meta["series_number"] == "7"


def test_multiframe_without_per_frame_positions_is_refused(tmp_path):
    path = tmp_path / "mf" / "cine.dcm"
    write_dicom(path, stored_values(0, 0), np.zeros(3))
    ds = pydicom.dcmread(path)
    # no position anywhere: neither classic tags nor enhanced functional groups (test_io_dicom_enhanced reads those)
    del ds.ImagePositionPatient, ds.ImageOrientationPatient
    ds.NumberOfFrames = 3
    ds.PixelData = np.stack([stored_values(t, 0) for t in range(3)]).astype("<i2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(InputError, match="multi-frame DICOM images without per-frame positions"):
        load_cine(tmp_path / "mf")


def test_ct_is_refused(tmp_path):
    write_cine(tmp_path / "ct", n_phases=2, n_slices=2, modality="CT")
    with pytest.raises(InputError, match="no MR images.*CT"):
        load_cine(tmp_path / "ct")


def test_single_2d_image_is_refused(tmp_path):
    write_dicom(tmp_path / "one" / "1.dcm", stored_values(0, 0), np.zeros(3))
    with pytest.raises(InputError, match="single 2D image"):
        load_cine(tmp_path / "one")
    with pytest.raises(InputError, match="single DICOM image"):
        load_cine(tmp_path / "one" / "1.dcm")


def test_3d_volume_is_refused_unless_single_frame_allowed(tmp_path):
    write_cine(tmp_path / "vol", n_phases=1, n_slices=4)
    with pytest.raises(InputError, match="3D volume, not a cine"):
        load_cine(tmp_path / "vol")
    assert load_cine(tmp_path / "vol", allow_single_frame=True).image.shape == (1, 4, 6, 7)


def test_missing_phase_and_missing_slice_are_refused(tmp_path):
    write_cine(tmp_path / "cine", n_phases=3, n_slices=4, file_names=lambda t, z: f"z{z}_t{t}.dcm")
    (tmp_path / "cine" / "z1_t2.dcm").unlink()
    with pytest.raises(InputError, match="different numbers of phases"):
        load_cine(tmp_path / "cine")
    for t in range(3):
        (tmp_path / "cine" / f"z1_t{t}.dcm").unlink(missing_ok=True)
    with pytest.raises(InputError, match="unevenly spaced"):
        load_cine(tmp_path / "cine")


def test_mixed_orientation_or_matrix_is_refused(tmp_path):
    write_cine(tmp_path / "cine", n_phases=2, n_slices=2)
    tilted = (ROW, NORMAL / np.linalg.norm(NORMAL))  # a long-axis-like plane
    write_dicom(tmp_path / "cine" / "odd.dcm", stored_values(0, 0), np.zeros(3), orientation=tilted, instance=99)
    with pytest.raises(InputError, match="mixes image orientations"):
        load_cine(tmp_path / "cine")
    (tmp_path / "cine" / "odd.dcm").unlink()
    write_dicom(tmp_path / "cine" / "big.dcm", np.zeros((8, 8), np.int16), np.zeros(3), instance=98, trigger=99.0)
    with pytest.raises(InputError, match="mixes matrix sizes"):
        load_cine(tmp_path / "cine")


def test_empty_missing_and_non_dicom_inputs(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_cine(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty"):
        load_cine(tmp_path / "empty")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "image.dcm").write_text("hello, I am not DICOM")
    with pytest.raises(InputError, match="no DICOM image"):
        load_cine(tmp_path / "text")
    with pytest.raises(InputError, match="not a readable DICOM"):
        load_cine(tmp_path / "text" / "image.dcm")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="unsupported input"):
        load_cine(tmp_path / "notes.txt")


# --------------------------------------------------------------------------- Sunnybrook


@pytest.fixture(scope="module")
def sunnybrook_cines(sunnybrook_dir):
    return {p.name: load_dicom_cine(p) for p in sorted((sunnybrook_dir / "dicoms").iterdir())}


@pytest.mark.data
def test_sunnybrook_cines(sunnybrook_cines):
    assert len(sunnybrook_cines) == 3
    for name, cine in sunnybrook_cines.items():
        assert cine.n_frames == 20, name
        assert 10 <= cine.n_slices <= 13, name
        g = cine.geometry
        assert 1.28 <= g.spacing[0] <= 1.37 and g.spacing[0] == pytest.approx(g.spacing[1])
        assert 7.9 <= g.spacing[2] <= 10.1
        assert np.all(np.diff(cine.trigger_times_ms) > 0)
        assert np.isfinite(cine.image).all() and cine.image.max() > 100
        normal = g.direction_matrix[:, 2]
        reader = sitk.ImageFileReader()
        depths = []
        for z in range(cine.n_slices):
            for t in (0, cine.n_frames - 1):
                reader.SetFileName(cine.meta["dicom_files"][t][z])
                reader.ReadImageInformation()
                ipp = np.array([float(v) for v in reader.GetMetaData("0020|0032").split("\\")])
                # every file's ImagePositionPatient is where the geometry puts voxel (0, 0, z)
                np.testing.assert_allclose(g.index_to_world([0, 0, z]), ipp, atol=0.02)
            depths.append(ipp @ normal)
        assert np.all(np.diff(depths) > 0), f"{name}: slices not ordered along the normal"
        # pixel data equal to what SimpleITK reads for that file
        f = cine.meta["dicom_files"][5][3]
        np.testing.assert_array_equal(cine.image[5, 3], sitk.GetArrayFromImage(sitk.ReadImage(f))[0])


@pytest.mark.data
def test_sunnybrook_missing_phase_is_refused(sunnybrook_dir, tmp_path):
    src = sunnybrook_dir / "dicoms" / "SCD0000301"
    dst = tmp_path / "SCD0000301"
    shutil.copytree(src, dst)
    for f in dst.iterdir():
        f.chmod(0o644)
    (dst / "45.dcm").unlink()
    with pytest.raises(InputError, match="different numbers of phases"):
        load_cine(dst)


@pytest.mark.data
def test_two_sunnybrook_series_in_one_folder_are_refused(sunnybrook_dir, tmp_path):
    for scd in ("SCD0000101", "SCD0000301"):
        shutil.copytree(sunnybrook_dir / "dicoms" / scd, tmp_path / "both" / scd)
    with pytest.raises(InputError, match="2 cine series"):
        load_cine(tmp_path / "both")


def _cine_series(folder: Path, z: int, phases: int, position: np.ndarray, uid: str, number: int, **kw) -> None:
    """One single-slice cine series (``phases`` images at ``position``)."""
    for t in range(phases):
        write_dicom(
            folder / f"{t}.dcm",
            stored_values(t, z),
            position,
            series_uid=uid,
            series_number=number,
            trigger=30.0 * t,
            instance=t + 1,
            **kw,
        )


def test_whole_exam_export_picks_the_short_axis_stack(tmp_path):
    """Siemens-style exam: one series per short-axis slice, plus 2- and 4-chamber cines."""
    exam = tmp_path / "exam"
    for z in range(4):
        _cine_series(exam / f"sax{z}", z, 3, 8 * z * NORMAL, f"1.2.9.{z}", 20 + z, description="sa_cine")
    for k, name in enumerate(("2ch", "4ch")):  # planes orthogonal to the short axis
        _cine_series(
            exam / name,
            9,
            3,
            np.asarray([5.0, 5, 5]),
            f"1.2.8.{k}",
            10 + k,
            description=f"cine_{name}",
            orientation=(ROW, NORMAL),
        )
    cine = load_cine(exam)
    assert cine.image.shape == (3, 4, 6, 7)
    np.testing.assert_array_equal(cine.image[2, 3], stored_values(2, 3))
    assert load_cine(exam, series=10).n_slices == 1  # an explicit choice still wins
    # a second short-axis stack (e.g. a repeated acquisition) makes the choice ambiguous again
    for z in range(3):
        _cine_series(
            exam / f"rep{z}",
            z,
            2,
            np.asarray([1.0, 2, 3]) + 8 * z * NORMAL,
            f"1.2.7.{z}",
            40 + z,
            description="sa_cine_repeat",
            frame_of_reference="1.2.826.0.1.3680043.8.498.99",
        )
    with pytest.raises(InputError, match="cine series"):
        load_cine(exam)
