"""Enhanced (multi-frame) MR DICOM cines, written here with pydicom as Philips/Siemens export them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from CardiacSSLLib.cli.main import main
from CardiacSSLLib.io import load_cine, load_label_file
from helpers import small_phantom

pydicom = pytest.importorskip("pydicom")
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, generate_uid  # noqa: E402

ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
ROW, COL = np.array([0.0, 1.0, 0.0]), np.array([0.6, 0.0, -0.8])  # oblique short axis
ORIGIN = np.array([-50.0, 20.0, 30.0])


def _item(**tags) -> Sequence:
    ds = Dataset()
    for key, value in tags.items():
        setattr(ds, key, value)
    return Sequence([ds])


def write_enhanced(
    path: Path,
    image: np.ndarray,
    spacing: tuple[float, float] = (1.25, 1.5),
    gap: float = 8.0,
    times: list[float] | None = None,
    order: str = "stack",
    slope: float = 2.0,
    intercept: float = -10.0,
) -> None:
    """``image`` (T, Z, R, C) as one Enhanced MR file; ``order`` 'stack' (slice-major) or 'time' or 'shuffled'."""
    t_n, z_n, rows, cols = image.shape
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ENHANCED_MR, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = ENHANCED_MR, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesNumber, ds.SeriesDescription, ds.InstanceNumber = "MR", 7, "sa_cine", 1
    ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.FrameOfReferenceUID = generate_uid(), generate_uid(), generate_uid()
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, t_n * z_n
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    shared = Dataset()
    shared.PixelMeasuresSequence = _item(PixelSpacing=list(spacing), SliceThickness=gap)
    shared.PlaneOrientationSequence = _item(ImageOrientationPatient=[*ROW, *COL])
    shared.PixelValueTransformationSequence = _item(RescaleIntercept=intercept, RescaleSlope=slope, RescaleType="US")
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    pairs = [(t, z) for z in range(z_n) for t in range(t_n)]
    if order == "time":
        pairs = [(t, z) for t in range(t_n) for z in range(z_n)]
    elif order == "shuffled":
        pairs = [pairs[i] for i in np.random.default_rng(1).permutation(len(pairs))]
    normal = np.cross(ROW, COL)
    frames = []
    for t, z in pairs:
        f = Dataset()
        f.PlanePositionSequence = _item(ImagePositionPatient=[float(v) for v in ORIGIN + z * gap * normal])
        f.FrameContentSequence = _item(TemporalPositionIndex=t + 1, InStackPositionNumber=z + 1, StackID="1")
        if times is not None:
            f.CardiacSynchronizationSequence = _item(NominalCardiacTriggerDelayTime=float(times[t]))
        frames.append(f)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    stored = np.stack([(image[t, z] - intercept) / slope for t, z in pairs])
    ds.PixelData = np.round(stored).astype("<u2").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), enforce_file_format=True)


def stored_image(shape=(5, 3, 16, 20)) -> np.ndarray:
    """Values the file stores exactly: (stored * 2 - 10)."""
    return (np.random.default_rng(0).integers(0, 2000, shape) * 2 - 10).astype(np.float32)


@pytest.mark.parametrize("order", ["stack", "time", "shuffled"])
def test_enhanced_mr_cine_is_read(tmp_path, order):
    image = stored_image()
    times = [0.0, 41.5, 83.0, 124.5, 166.0]
    write_enhanced(tmp_path / "cine" / "IM_0001", image, times=times, order=order)
    cine = load_cine(tmp_path / "cine")
    assert cine.image.shape == image.shape
    np.testing.assert_array_equal(cine.image, image)  # rescale applied, phases and slices in place
    np.testing.assert_allclose(cine.trigger_times_ms, times)
    np.testing.assert_allclose(cine.geometry.spacing, (1.5, 1.25, 8.0))  # (column, row, slice gap)
    np.testing.assert_allclose(cine.geometry.origin, ORIGIN)
    np.testing.assert_allclose(cine.geometry.direction_matrix, np.column_stack([ROW, COL, np.cross(ROW, COL)]))
    assert cine.meta["series_description"] == "sa_cine"


def test_enhanced_mr_without_trigger_times_uses_temporal_position(tmp_path):
    image = stored_image((4, 2, 8, 10))
    write_enhanced(tmp_path / "cine" / "a.dcm", image, order="shuffled")
    cine = load_cine(tmp_path / "cine")
    np.testing.assert_array_equal(cine.image, image)
    assert cine.trigger_times_ms is None


def test_enhanced_mr_cine_segments(tmp_path):
    phantom = small_phantom(n_frames=4, n_slices=4, size=96)
    image = np.round(phantom.image / phantom.image.max() * 1000) * 2 - 10  # values the file holds exactly
    write_enhanced(tmp_path / "dicom" / "cine.dcm", image, spacing=phantom.geometry.spacing[1::-1], gap=8.0)
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "dicom"), "--out", str(out), "--device", "cpu"]) == 0
    label, geometry = load_label_file(out / "segmentation.nii.gz")
    assert label.shape == image.shape
    np.testing.assert_allclose(geometry.origin, ORIGIN)
    summary = json.loads((out / "metrics.json").read_text())["summary"]
    assert summary["lv_edv_ml"] > summary["lv_esv_ml"] > 0


def test_enhanced_mr_file_alone_is_the_cine(tmp_path):
    image = stored_image((3, 2, 8, 10))
    write_enhanced(tmp_path / "export" / "cine.dcm", image, times=[0.0, 50.0, 100.0])
    (tmp_path / "export" / "notes.txt").write_text("not DICOM")
    cine = load_cine(tmp_path / "export" / "cine.dcm")
    np.testing.assert_array_equal(cine.image, image)
    np.testing.assert_allclose(cine.trigger_times_ms, [0.0, 50.0, 100.0])
