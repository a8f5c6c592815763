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
Enhanced (multi-frame) DICOM is not supported and is refused with a message.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CardiacSSLLib.cine import Cine, Geometry
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.io._common import check_finite

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
    """Headers of every DICOM image under ``folder`` (recursive); non-DICOM files are skipped."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"input folder does not exist: {folder}")
    if not folder.is_dir():
        raise InputError(f"expected a folder of DICOM files, got a file: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
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


@dataclass
class SeriesSummary:
    """One DICOM series and how it looks as a cine candidate."""

    uid: str
    headers: list[DicomHeader]

    @property
    def first(self) -> DicomHeader:
        return self.headers[0]

    @property
    def has_geometry(self) -> bool:
        return all(h.position is not None and h.orientation is not None for h in self.headers)

    @property
    def n_positions(self) -> int:
        if not self.has_geometry:
            return 0
        return len(_cluster_positions(self.headers, self.first.normal))

    @property
    def max_images_per_position(self) -> int:
        if not self.has_geometry:
            return 0
        return max(len(c) for c in _cluster_positions(self.headers, self.first.normal))

    @property
    def is_mr(self) -> bool:
        return all(h.modality == "MR" for h in self.headers)

    @property
    def single_orientation(self) -> bool:
        ref = self.first.orientation
        return all(np.allclose(h.orientation, ref, atol=ORIENTATION_TOL) for h in self.headers)

    @property
    def cine_like(self) -> bool:
        """MR, one orientation (not a tri-plane localizer), several images at one position."""
        return self.is_mr and self.has_geometry and self.single_orientation and self.max_images_per_position > 1

    def describe(self) -> str:
        desc = self.first.description or "no description"
        return (
            f"series number {self.first.series_number or '?'} ({desc}, {self.first.modality or '?'}): "
            f"{len(self.headers)} images, UID {self.uid}"
        )


def group_series(headers: list[DicomHeader]) -> list[SeriesSummary]:
    groups: dict[str, list[DicomHeader]] = defaultdict(list)
    for h in headers:
        groups[h.series_uid].append(h)
    return [SeriesSummary(uid, hs) for uid, hs in groups.items()]


def _cluster_positions(headers: list[DicomHeader], normal: np.ndarray) -> list[list[DicomHeader]]:
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


def _select_series(series: list[SeriesSummary], selector: str | int | None, folder: Path) -> list[SeriesSummary]:
    listing = "\n  ".join(s.describe() for s in series)
    if selector is not None:
        key = str(selector).strip()
        chosen = [s for s in series if key in (s.uid, s.first.series_number, s.first.description)]
        if not chosen:
            raise InputError(f"no series matches {selector!r} in {folder}; available:\n  {listing}")
        if len(chosen) > 1:
            raise InputError(f"{len(chosen)} series match {selector!r} in {folder}; use the UID:\n  {listing}")
        return chosen

    mr = [s for s in series if s.is_mr]
    if not mr:
        modalities = sorted({h.modality or "unknown" for s in series for h in s.headers})
        raise InputError(
            f"{folder} holds no MR images (modality {', '.join(modalities)}): CardiacSSL segments cardiac cine MRI"
        )
    cine_like = [s for s in mr if s.cine_like]
    if len(cine_like) == 1:
        return cine_like
    if len(cine_like) > 1:
        if _one_series_per_slice(cine_like):
            log.info("stacking %d single-slice cine series into one cine", len(cine_like))
            return cine_like
        stack = _the_short_axis_stack(cine_like)
        if stack is not None:
            ignored = [s for s in cine_like if s not in stack]
            log.warning(
                "%s: using the only multi-slice cine stack (%d series) and ignoring %d other cine series: %s",
                folder,
                len(stack),
                len(ignored),
                "; ".join(s.describe() for s in ignored),
            )
            return stack
        listing = "\n  ".join(s.describe() for s in cine_like)
        raise InputError(
            f"{folder} holds {len(cine_like)} cine series; choose one with series= (series number, "
            f"description or UID):\n  {listing}"
        )
    usable = [s for s in mr if s.has_geometry]
    if len(usable) == 1:
        return usable
    if not usable:
        if any(h.n_frames > 1 for s in mr for h in s.headers):
            raise InputError(
                f"{folder} holds multi-frame (enhanced) DICOM images: not supported; "
                "export the series as classic single-frame DICOM"
            )
        raise InputError(f"the MR images in {folder} lack ImagePositionPatient/ImageOrientationPatient")
    raise InputError(f"{folder} holds {len(usable)} series and none is a cine; choose one with series=:\n  {listing}")


MIN_STACK_POSITIONS = 3  # a short-axis stack covers the ventricles; long-axis cines are 1 slice


def _the_short_axis_stack(cine_like: list[SeriesSummary]) -> list[SeriesSummary] | None:
    """In a whole-exam export, the one cine stack with >= 3 slice positions, if exactly one exists.

    Candidates are each multi-position cine series, and each group of single-slice cine
    series that stack (:func:`_one_series_per_slice`). Long-axis cines (2/3/4-chamber) are
    single slices in other orientations and never form such a stack; when two stacks
    qualify the choice is left to the user.
    """
    candidates: list[list[SeriesSummary]] = [[s] for s in cine_like if s.n_positions >= MIN_STACK_POSITIONS]
    singles = [s for s in cine_like if s.n_positions == 1]
    groups: list[list[SeriesSummary]] = []
    for s in singles:
        for g in groups:
            if _one_series_per_slice([*g, s]):
                g.append(s)
                break
        else:
            groups.append([s])
    candidates += [g for g in groups if len(g) >= MIN_STACK_POSITIONS]
    return candidates[0] if len(candidates) == 1 else None


def _one_series_per_slice(cine_like: list[SeriesSummary]) -> bool:
    """True when every cine-like series is one slice of one stack (see the module docstring)."""
    if any(s.n_positions != 1 for s in cine_like):
        return False
    ref = cine_like[0].first
    for s in cine_like:
        h = s.first
        if (
            not np.allclose(h.orientation, ref.orientation, atol=ORIENTATION_TOL)
            or (h.rows, h.columns) != (ref.rows, ref.columns)
            or not np.allclose(h.pixel_spacing, ref.pixel_spacing, rtol=SPACING_TOL)
            or h.frame_of_reference != ref.frame_of_reference
            or len(s.headers) != len(cine_like[0].headers)
        ):
            return False
    depths = sorted(float(s.first.position @ ref.normal) for s in cine_like)
    return bool(np.all(np.diff(depths) > POSITION_TOL_MM))


def _check_consistent(headers: list[DicomHeader], what: str) -> None:
    ref = headers[0]
    for h in headers:
        if h.n_frames != 1:
            raise InputError(
                f"{h.path} is a multi-frame (enhanced) DICOM image with {h.n_frames} frames: not supported; "
                "export the series as classic single-frame DICOM"
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


def _read_pixels(path: Path) -> np.ndarray:
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
    clusters = _cluster_positions(headers, headers[0].normal)
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
    for z, column in enumerate(ordered):
        for t, h in enumerate(column):
            image[t, z] = _read_pixels(h.path)
            files[t][z] = str(h.path)
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
    headers = scan_folder(folder)
    chosen = _select_series(group_series(headers), series, folder)
    stack = [h for s in chosen for h in s.headers]
    what = str(folder) if len(chosen) > 1 else f"{folder} (series {chosen[0].first.series_number or chosen[0].uid})"
    cine = build_cine(stack, what, allow_single_frame=allow_single_frame)
    cine.source = str(folder)
    cine.name = chosen[0].first.description or folder.name
    log.info("DICOM cine %s: %d phases x %d slices", folder, cine.n_frames, cine.n_slices)
    return cine
