"""DICOM headers of a folder: which files are images, and what each says about its place in a cine.

The first step of reading a DICOM cine (:mod:`.dicom` describes them all): every file under
the folder is probed with GDCM, headers only; files that are not DICOM images are skipped.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CardiacSSLLib.errors import InputError

log = logging.getLogger(__name__)

ORIENTATION_TOL = 1e-3  # direction cosines
POSITION_TOL_MM = 0.1  # images closer than this along the normal share a slice position
SPACING_TOL = 1e-3  # relative, pixel spacing between images


@dataclass(frozen=True)
class DicomHeader:
    """The tags of one DICOM image that the cine reader needs."""

    path: Path
    series_uid: str
    series_number: str
    description: str
    modality: str
    frame_of_reference: str
    position: np.ndarray | None  # (3,) ImagePositionPatient, LPS mm
    orientation: np.ndarray | None  # (6,) ImageOrientationPatient
    pixel_spacing: tuple[float, float] | None  # (row spacing, column spacing)
    rows: int
    columns: int
    n_frames: int
    trigger_time: float | None
    instance_number: int | None
    slice_spacing_hint: float | None  # SpacingBetweenSlices or SliceThickness
    frame: int | None = None  # index in a multi-frame (enhanced) file; None for a classic image

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.orientation[:3], self.orientation[3:])


def _floats(text: str | None) -> np.ndarray | None:
    if text is None or not text.strip():
        return None
    try:
        return np.asarray([float(v) for v in text.strip().split("\\")], dtype=float)
    except ValueError:
        return None


def _read_header(reader: sitk.ImageFileReader, path: Path) -> DicomHeader | None:
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return None

    def tag(key: str) -> str | None:
        return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else None

    if tag("0008|0016") is None and tag("0020|000e") is None:
        return None
    position = _floats(tag("0020|0032"))
    orientation = _floats(tag("0020|0037"))
    spacing = _floats(tag("0028|0030"))
    trigger = _floats(tag("0018|1060"))
    instance = tag("0020|0013")
    hint = _floats(tag("0018|0088"))
    if hint is None:
        hint = _floats(tag("0018|0050"))
    size = reader.GetSize()
    return DicomHeader(
        path=path,
        series_uid=tag("0020|000e") or "(no series UID)",
        series_number=tag("0020|0011") or "",
        description=tag("0008|103e") or "",
        modality=(tag("0008|0060") or "").upper(),
        frame_of_reference=tag("0020|0052") or "",
        position=position if position is not None and position.size == 3 else None,
        orientation=orientation if orientation is not None and orientation.size == 6 else None,
        pixel_spacing=(float(spacing[0]), float(spacing[1])) if spacing is not None and spacing.size == 2 else None,
        rows=int(size[1]),
        columns=int(size[0]),
        n_frames=int(size[2]) if len(size) > 2 else 1,
        trigger_time=float(trigger[0]) if trigger is not None and trigger.size else None,
        instance_number=int(float(instance)) if instance and instance.lstrip("-").replace(".", "").isdigit() else None,
        slice_spacing_hint=float(hint[0]) if hint is not None and hint.size and hint[0] > 0 else None,
    )


def scan_folder(folder: str | os.PathLike) -> list[DicomHeader]:
    """Headers of every DICOM file under ``folder`` (recursive; or of one file); non-DICOM files are skipped.

    A multi-frame (enhanced) file is one header here; ``dicom_enhanced.expand_multiframe``
    turns it into one header per frame.
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"input folder does not exist: {folder}")
    # a file: one multi-frame (enhanced) file that holds a whole cine
    files = (
        [folder]
        if folder.is_file()
        else sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    )
    if not files:
        raise InputError(f"folder is empty: {folder}")
    reader = sitk.ImageFileReader()
    reader.SetImageIO("GDCMImageIO")
    reader.LoadPrivateTagsOff()
    headers = [h for h in (_read_header(reader, p) for p in files) if h is not None]
    if not headers:
        raise InputError(
            f"no DICOM image found in {folder} ({len(files)} files checked, none is a readable DICOM image)"
        )
    log.info("found %d DICOM images in %d files under %s", len(headers), len(files), folder)
    return headers


def cluster_positions(headers: list[DicomHeader], normal: np.ndarray) -> list[list[DicomHeader]]:
    """Images grouped by slice position, ordered along ``normal``."""
    ordered = sorted(headers, key=lambda h: float(h.position @ normal))
    clusters: list[list[DicomHeader]] = []
    last = None
    for h in ordered:
        d = float(h.position @ normal)
        if last is None or d - last > POSITION_TOL_MM:
            clusters.append([])
        clusters[-1].append(h)
        last = d
    return clusters
