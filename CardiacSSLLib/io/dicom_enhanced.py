"""Enhanced (multi-frame) MR DICOM, as Philips and Siemens (XA) scanners export cines.

One file holds every image of a series; what classic DICOM keeps per file (position,
orientation, pixel spacing, trigger time, rescale) sits in functional groups: shared by
all frames (SharedFunctionalGroupsSequence) or per frame (PerFrameFunctionalGroupsSequence,
which wins). Each frame becomes one :class:`DicomHeader` (``frame`` = its index), so a
multi-frame file goes through the same series, stack and phase rules as classic images
(:mod:`.dicom`). Frames are ordered by NominalCardiacTriggerDelayTime, else by
TemporalPositionIndex. Read with pydicom; pixel values get the frame's rescale.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from CardiacSSLLib.errors import InputError
from CardiacSSLLib.io.dicom_headers import DicomHeader

log = logging.getLogger(__name__)


def _dcmread(path: Path, pixels: bool):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=not pixels)
    except (InvalidDicomError, OSError, ValueError) as exc:
        raise InputError(f"cannot read the multi-frame DICOM file {path}: {exc}") from exc


def _item(frame_groups, shared_groups, name: str):
    """The first item of functional group ``name`` for one frame (per-frame first, then shared)."""
    for groups in (frame_groups, shared_groups):
        if groups is not None and name in groups and len(groups[name].value):
            return groups[name].value[0]
    return None


def _floats(item, keyword: str) -> np.ndarray | None:
    if item is None or keyword not in item or item[keyword].value in (None, ""):
        return None
    from pydicom.multival import MultiValue

    value = item[keyword].value
    return np.asarray(list(value) if isinstance(value, (list, tuple, MultiValue)) else [value], float)


def _number(item, keyword: str) -> float | None:
    values = _floats(item, keyword)
    return float(values[0]) if values is not None and values.size else None


def expand_frames(header: DicomHeader) -> list[DicomHeader]:
    """One header per frame of the multi-frame file ``header.path``; refuses a file without per-frame geometry."""
    ds = _dcmread(header.path, pixels=False)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    if not per_frame or len(per_frame) != header.n_frames:
        raise InputError(
            f"{header.path} is a multi-frame DICOM image with {header.n_frames} frames but no per-frame "
            "functional groups (positions, orientation): not an enhanced MR image CardiacSSL can place in space"
        )
    out = []
    for i, groups in enumerate(per_frame):
        position = _floats(_item(groups, shared, "PlanePositionSequence"), "ImagePositionPatient")
        orientation = _floats(_item(groups, shared, "PlaneOrientationSequence"), "ImageOrientationPatient")
        measures = _item(groups, shared, "PixelMeasuresSequence")
        spacing = _floats(measures, "PixelSpacing")
        spacing = (float(spacing[0]), float(spacing[1])) if spacing is not None and spacing.size == 2 else None
        gap = _number(measures, "SpacingBetweenSlices") or _number(measures, "SliceThickness")
        content = _item(groups, shared, "FrameContentSequence")
        temporal = _number(content, "TemporalPositionIndex")
        trigger = _number(_item(groups, shared, "CardiacSynchronizationSequence"), "NominalCardiacTriggerDelayTime")
        out.append(
            dataclasses.replace(
                header,
                position=position if position is not None and position.size == 3 else None,
                orientation=orientation if orientation is not None and orientation.size == 6 else None,
                pixel_spacing=spacing,
                n_frames=1,
                trigger_time=trigger,
                instance_number=int(temporal) if temporal is not None else i + 1,
                slice_spacing_hint=gap if gap and gap > 0 else None,
                frame=i,
            )
        )
    log.info("%s: enhanced MR image with %d frames", header.path, len(out))
    return out


def expand_multiframe(headers: list[DicomHeader]) -> list[DicomHeader]:
    """One header per frame of each multi-frame file; one whose frames cannot be placed stays whole (refused later)."""
    out: list[DicomHeader] = []
    for header in headers:
        if header.n_frames <= 1:
            out.append(header)
            continue
        try:
            out += expand_frames(header)
        except InputError as exc:
            log.info("%s", exc)
            out.append(header)
    return out


def read_frames(path: Path) -> np.ndarray:
    """Every frame of a multi-frame file, ``(frames, rows, columns)`` float32 with each frame's rescale."""
    ds = _dcmread(path, pixels=True)
    try:
        pixels = np.asarray(ds.pixel_array, dtype=np.float32)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for undecodable pixel data
        raise InputError(f"cannot decode the pixel data of {path} (unsupported compression?): {exc}") from exc
    if pixels.ndim == 2:
        pixels = pixels[None]
    if pixels.ndim != 3:
        raise InputError(f"{path} is a colour image, not an MR magnitude image")
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or [None] * len(pixels)
    for i, groups in enumerate(per_frame):
        rescale = _item(groups, shared, "PixelValueTransformationSequence")
        slope = _number(rescale, "RescaleSlope")
        intercept = _number(rescale, "RescaleIntercept")
        if slope is None:  # some exports keep the classic top-level tags
            slope, intercept = _number(ds, "RescaleSlope"), _number(ds, "RescaleIntercept")
        pixels[i] = pixels[i] * (1.0 if slope is None else slope) + (intercept or 0.0)
    return pixels
