"""Short-axis cine from a folder of DICOM files (SimpleITK/GDCM, one 2D image per file).

How a folder becomes a cine:

1. Every file under the folder (recursively) is probed with GDCM; files that are not
   DICOM images are skipped. Headers are grouped by SeriesInstanceUID, compared as plain
   strings, so invalid UIDs (leading zeros, as in Sunnybrook) are tolerated.
2. A series is *cine-like* when it is MR and holds several images at one slice position.
   - ``series=`` (UID, series number or description) selects one series explicitly.
   - Exactly one cine-like series holding several slice positions: that series.
   - Several cine-like series that each hold **one** slice position, share orientation,
     matrix, pixel spacing, number of phases and FrameOfReferenceUID, and differ in
     position along their common normal: one series per slice (Siemens/Philips habit),
     stacked into one cine. This applies only when *every* cine-like series of the folder
     fits that rule, so it is the only interpretation.
   - Otherwise (a whole-exam export with long-axis cines beside the short-axis stack), the
     one stack with at least 3 slice positions, if exactly one exists (a warning names the
     ignored series); when none or several qualify, the series are listed and the caller
     must choose with ``series=``.
   - No cine-like series: a 3D volume (accepted as one frame only with
     ``allow_single_frame=True``) or a single 2D image (always refused).
3. Slice positions are ordered along the slice normal (row x column direction cosines of
   ImageOrientationPatient, ImagePositionPatient projected on it); phases by TriggerTime,
   falling back to InstanceNumber. Every position must hold the same number of phases.
4. Geometry: spacing = (column spacing, row spacing, slice gap from positions), origin =
   position of the first slice, direction columns = (row cosine, column cosine, normal).
   Pixel values come through GDCM, which applies RescaleSlope/RescaleIntercept.

FrameOfReferenceUID is compared only between series (rule 2): within one series it is
ignored, because anonymisers may give every file its own (Sunnybrook does).
Enhanced (multi-frame) MR DICOM: each frame of the file is one image with its own header
(:mod:`.dicom_enhanced`), so the rules above apply unchanged.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CardiacSSLLib.cine import Cine, Geometry
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.io._common import check_finite
from CardiacSSLLib.io.dicom_enhanced import expand_multiframe, read_frames
from CardiacSSLLib.io.dicom_headers import (
    ORIENTATION_TOL,
    SPACING_TOL,
    DicomHeader,
    cluster_positions,
    scan_folder,
)
from CardiacSSLLib.io.dicom_series import group_series, select_series

log = logging.getLogger(__name__)


def _check_consistent(headers: list[DicomHeader], what: str) -> None:
    ref = headers[0]
    for h in headers:
        if h.n_frames != 1:
            raise InputError(
                f"{h.path} is a multi-frame DICOM image with {h.n_frames} frames but no per-frame positions "
                "(not an enhanced MR image): export the series as classic single-frame DICOM"
            )
        if h.modality != "MR":
            raise InputError(f"{what} has modality {h.modality or 'unknown'}, not MR: CardiacSSL segments cine MRI")
        if h.position is None or h.orientation is None or h.pixel_spacing is None:
            raise InputError(f"{h.path} lacks ImagePositionPatient, ImageOrientationPatient or PixelSpacing")
        if not np.allclose(h.orientation, ref.orientation, atol=ORIENTATION_TOL):
            raise InputError(
                f"{what} mixes image orientations ({_fmt(ref.orientation)} in {ref.path.name}, "
                f"{_fmt(h.orientation)} in {h.path.name}): not one short-axis stack"
            )
        if (h.rows, h.columns) != (ref.rows, ref.columns):
            raise InputError(
                f"{what} mixes matrix sizes ({ref.rows}x{ref.columns} in {ref.path.name}, "
                f"{h.rows}x{h.columns} in {h.path.name})"
            )
        if not np.allclose(h.pixel_spacing, ref.pixel_spacing, rtol=SPACING_TOL):
            raise InputError(
                f"{what} mixes pixel spacings ({ref.pixel_spacing} in {ref.path.name}, "
                f"{h.pixel_spacing} in {h.path.name})"
            )
    row, col = ref.orientation[:3], ref.orientation[3:]
    if abs(np.linalg.norm(row) - 1) > 1e-2 or abs(np.linalg.norm(col) - 1) > 1e-2 or abs(row @ col) > 1e-2:
        raise InputError(f"ImageOrientationPatient {_fmt(ref.orientation)} is not two orthonormal directions")


def _fmt(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


def _order_phases(cluster: list[DicomHeader]) -> list[DicomHeader]:
    times = [h.trigger_time for h in cluster]
    if all(t is not None for t in times) and len(set(times)) == len(times):
        return sorted(cluster, key=lambda h: h.trigger_time)
    numbers = [h.instance_number for h in cluster]
    if all(n is not None for n in numbers) and len(set(numbers)) == len(numbers):
        return sorted(cluster, key=lambda h: h.instance_number)
    raise InputError(
        f"cannot order the {len(cluster)} images at one slice position (e.g. {cluster[0].path.name}): "
        "TriggerTime and InstanceNumber are missing or repeated; duplicate images or mixed series?"
    )


def _stack_geometry(clusters: list[list[DicomHeader]], what: str) -> Geometry:
    ref = clusters[0][0]
    row = ref.orientation[:3] / np.linalg.norm(ref.orientation[:3])
    col = ref.orientation[3:] / np.linalg.norm(ref.orientation[3:])
    normal = np.cross(row, col)
    positions = np.asarray([np.mean([h.position for h in c], axis=0) for c in clusters])
    row_spacing, col_spacing = ref.pixel_spacing
    if len(clusters) > 1:
        depths = positions @ normal
        gaps = np.diff(depths)
        gap = float(np.mean(gaps))
        if np.max(np.abs(gaps - gap)) > 0.1 * gap + 0.01:
            raise InputError(
                f"{what}: slice positions are unevenly spaced (gaps {', '.join(f'{g:.2f}' for g in gaps)} mm): "
                "a slice is missing or the stack mixes acquisitions"
            )
        offsets = positions - positions[0]
        in_plane = offsets - np.outer(offsets @ normal, normal)
        shift = float(np.max(np.linalg.norm(in_plane, axis=1)))
        if shift > 0.5 * min(row_spacing, col_spacing):
            raise InputError(
                f"{what}: slices are shifted in-plane by up to {shift:.2f} mm, not stacked along the slice normal"
            )
    else:
        gap = ref.slice_spacing_hint or 1.0
    direction = np.column_stack([row, col, normal])
    return Geometry(
        spacing=(float(col_spacing), float(row_spacing), float(gap)),
        origin=tuple(float(v) for v in positions[0]),
        direction=tuple(float(v) for v in direction.ravel()),
    )


def _read_pixels(h: DicomHeader, multiframe: dict[Path, np.ndarray]) -> np.ndarray:
    """The image of one header: a classic file through GDCM, or one frame of a multi-frame file (read once)."""
    if h.frame is not None:
        if h.path not in multiframe:
            multiframe.clear()  # files are visited one after the other: keep one in memory
            multiframe[h.path] = read_frames(h.path)
        frames = multiframe[h.path]
        if frames.shape[1:] != (h.rows, h.columns) or h.frame >= len(frames):
            raise InputError(f"{h.path}: the pixel data do not hold {h.frame + 1} frames of {h.rows}x{h.columns}")
        return frames[h.frame]
    path = h.path
    try:
        img = sitk.ReadImage(str(path), imageIO="GDCMImageIO")
    except RuntimeError as exc:
        raise InputError(f"cannot decode the pixel data of {path} (unsupported compression?)") from exc
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{path} is a colour image, not an MR magnitude image")
    return sitk.GetArrayFromImage(img).reshape(img.GetSize()[1], img.GetSize()[0]).astype(np.float32)


def build_cine(headers: list[DicomHeader], what: str, allow_single_frame: bool = False) -> Cine:
    """Assemble a cine from the images of one stack (one series, or one series per slice)."""
    _check_consistent(headers, what)
    if len(headers) == 1:
        raise InputError(f"{what} is a single 2D image ({headers[0].path.name}): a cine needs several phases")
    clusters = cluster_positions(headers, headers[0].normal)
    counts = [len(c) for c in clusters]
    if len(set(counts)) != 1:
        depths = [float(c[0].position @ headers[0].normal) for c in clusters]
        detail = ", ".join(f"{d:.1f} mm: {n}" for d, n in zip(depths, counts, strict=True))
        raise InputError(
            f"{what}: slice positions hold different numbers of phases ({detail}): missing slices or phases"
        )
    n_phases = counts[0]
    if n_phases == 1 and not allow_single_frame:
        raise InputError(
            f"{what} holds one image per slice position ({len(clusters)} slices): a 3D volume, not a cine "
            "with several phases"
        )
    ordered = [_order_phases(c) for c in clusters]  # [z][t]
    geometry = _stack_geometry(clusters, what)
    image = np.empty((n_phases, len(clusters), headers[0].rows, headers[0].columns), dtype=np.float32)
    files: list[list[str]] = [[""] * len(clusters) for _ in range(n_phases)]
    instances = np.full((n_phases, len(clusters)), -1, dtype=np.int64)
    multiframe: dict[Path, np.ndarray] = {}
    for z, column in enumerate(ordered):
        for t, h in enumerate(column):
            image[t, z] = _read_pixels(h, multiframe)
            files[t][z] = str(h.path) if h.frame is None else f"{h.path}#frame{h.frame}"
            instances[t, z] = -1 if h.instance_number is None else h.instance_number
    check_finite(image, what)
    trigger = None
    if all(h.trigger_time is not None for h in headers):
        trigger = np.median(np.asarray([[h.trigger_time for h in col] for col in ordered]), axis=0)
    ref = headers[0]
    return Cine(
        image=image,
        geometry=geometry,
        trigger_times_ms=trigger,
        source=what,
        name=ref.description or Path(what).name,
        meta={
            "format": "dicom",
            "series_uids": sorted({h.series_uid for h in headers}),
            "series_number": ref.series_number,
            "series_description": ref.description,
            "dicom_files": files,
            "instance_numbers": instances,
        },
    )


def load_dicom_cine(
    folder: str | os.PathLike,
    series: str | int | None = None,
    allow_single_frame: bool = False,
) -> Cine:
    """Read the short-axis cine held in ``folder`` (see the module docstring for the rules)."""
    folder = Path(folder)
    headers = expand_multiframe(scan_folder(folder))
    chosen = select_series(group_series(headers), series, folder)
    stack = [h for s in chosen for h in s.headers]
    what = str(folder) if len(chosen) > 1 else f"{folder} (series {chosen[0].first.series_number or chosen[0].uid})"
    cine = build_cine(stack, what, allow_single_frame=allow_single_frame)
    cine.source = str(folder)
    cine.name = chosen[0].first.description or folder.name
    log.info("DICOM cine %s: %d phases x %d slices", folder, cine.n_frames, cine.n_slices)
    return cine
