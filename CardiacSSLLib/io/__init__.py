"""Cine readers and writers: every supported input becomes one canonical :class:`Cine`.

:func:`load_cine` detects the format from the path:

====================================  ==============================================
path                                  read as
====================================  ==============================================
``*.h5``                              SSL4MIS ACDC volume (one frame, spacing unknown)
``*.seq.nrrd``, ``*.nrrd``, ``*.nii``  4D image / Slicer sequence (3D volume only
``*.nii.gz``, ``*.mha``                with ``allow_single_frame``)
folder ``patientNNN/`` with           ACDC patient (labels on ED/ES, ``acdc`` values)
``patientNNN_4d.nii.gz``
folder ``<id>/`` with ``<id>_sa.nii.gz``  M&Ms subject (labels on ED/ES, ``mnms`` values)
folder of ``.nii*`` / ``.nrrd`` files  one 3D frame per file, sorted naturally
any other folder                      DICOM, searched recursively (:mod:`.dicom`)
a multi-frame DICOM file              enhanced MR cine (:mod:`.dicom_enhanced`)
====================================  ==============================================
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CardiacSSLLib.cine import Cine, Geometry
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.io._common import geometry_from_image, read_image
from CardiacSSLLib.io.datasets import (
    is_acdc_patient,
    is_mnms_subject,
    load_acdc_h5_volume,
    load_acdc_patient,
    load_mnms_subject,
)
from CardiacSSLLib.io.dicom import load_dicom_cine
from CardiacSSLLib.io.volumes import list_frame_files, load_frames, load_volume_file
from CardiacSSLLib.io.writers import write_cine, write_segmentation
from CardiacSSLLib.labels import LV, MYO, RV, SNOMED, to_canonical
from CardiacSSLLib.suffixes import (
    DICOM_SUFFIXES,
    HDF5_SUFFIXES,
    SEG_NRRD_SUFFIX,
    VOLUME_SUFFIXES,
    has_suffix,
    readable_files_text,
)

__all__ = ["load_cine", "load_label", "load_label_file", "write_cine", "write_segmentation"]


def _dicom_frame_count(path: Path) -> int:
    """Number of frames of a DICOM image file (1 for classic files); 0 when it is not DICOM."""
    reader = sitk.ImageFileReader()
    reader.SetImageIO("GDCMImageIO")
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return 0
    size = reader.GetSize()
    return int(size[2]) if len(size) > 2 else 1


def load_cine(
    path: str | os.PathLike,
    label_convention: str | None = None,
    series: str | int | None = None,
    allow_single_frame: bool = False,
) -> Cine:
    """Read a short-axis cine from ``path`` (format detected, see the module docstring).

    ``label_convention`` overrides the convention of the labels a dataset layout carries
    (default ``acdc`` for ACDC, ``mnms`` for M&Ms). ``series`` selects one DICOM series
    (number, description or UID). ``allow_single_frame`` accepts a 3D volume as a
    one-frame cine.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"input does not exist: {path}")
    if path.is_file():
        if has_suffix(path, HDF5_SUFFIXES):
            return load_acdc_h5_volume(path, label_convention or "acdc")
        if has_suffix(path, VOLUME_SUFFIXES):
            return load_volume_file(path, allow_single_frame=allow_single_frame)
        frames = _dicom_frame_count(path)
        if frames > 1:  # an enhanced MR file holds the whole cine
            return load_dicom_cine(path, series=series, allow_single_frame=allow_single_frame)
        if frames == 1:
            raise InputError(f"{path} is a single DICOM image: pass the folder that holds the whole cine series")
        if has_suffix(path, DICOM_SUFFIXES):
            raise InputError(f"{path} is not a readable DICOM file")
        raise InputError(f"unsupported input file {path.name}: give a DICOM folder or a {readable_files_text()} file")
    if not any(path.iterdir()):
        raise InputError(f"folder is empty: {path}")
    if is_acdc_patient(path):
        return load_acdc_patient(path, label_convention or "acdc")
    if is_mnms_subject(path):
        return load_mnms_subject(path, convention=label_convention or "mnms")
    if list_frame_files(path):
        return load_frames(path, allow_single_frame=allow_single_frame)
    return load_dicom_cine(path, series=series, allow_single_frame=allow_single_frame)


_SEGMENT_BY_NAME = {"lv": LV, "myo": MYO, "rv": RV}
_SEGMENT_BY_CODE = {code: value for value, (_, code, _) in SNOMED.items()}


def _seg_nrrd_mapping(img: sitk.Image) -> dict[int, int] | None:
    """File label value -> canonical, from the segment names/terminology of a .seg.nrrd."""
    mapping: dict[int, int] = {0: 0}
    i = 0
    while img.HasMetaDataKey(f"Segment{i}_LabelValue"):
        value = int(img.GetMetaData(f"Segment{i}_LabelValue"))
        name = img.GetMetaData(f"Segment{i}_Name").strip().lower() if img.HasMetaDataKey(f"Segment{i}_Name") else ""
        tags = img.GetMetaData(f"Segment{i}_Tags") if img.HasMetaDataKey(f"Segment{i}_Tags") else ""
        canonical = _SEGMENT_BY_NAME.get(name)
        if canonical is None:
            canonical = next((v for code, v in _SEGMENT_BY_CODE.items() if f"^{code}^" in tags), None)
        if canonical is None:
            raise InputError(f"segment {name or i!r} of this .seg.nrrd is not LV, MYO or RV")
        mapping[value] = canonical
        i += 1
    return mapping if i else None


def load_label_file(
    path: str | os.PathLike, convention: str = "canonical", expect: Cine | None = None
) -> tuple[np.ndarray, Geometry]:
    """A label map on its own: canonical ``(Z, Y, X)`` or ``(T, Z, Y, X)`` array and its geometry.

    ``.seg.nrrd`` segments are matched by name or SNOMED code; other files use ``convention``.
    With ``expect``, shape, frame count and geometry must match that cine (checked before values).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"label file does not exist: {path}")
    img = read_image(path)
    n_comp = img.GetNumberOfComponentsPerPixel()
    arr = sitk.GetArrayFromImage(img)
    if n_comp > 1:
        if has_suffix(path, (SEG_NRRD_SUFFIX,)):
            raise InputError(f"{path} stores overlapping segments in {n_comp} layers; merge them into one layer")
        arr = np.moveaxis(arr, -1, 0)
    if arr.ndim not in (3, 4):
        raise InputError(f"label map {path} has {arr.ndim} dimensions; expected 3D or 4D")
    geometry = geometry_from_image(img)
    if expect is not None:
        _check_matches(path, arr, geometry, expect)
    mapping = _seg_nrrd_mapping(img) if has_suffix(path, (SEG_NRRD_SUFFIX,)) else None
    if mapping is not None:
        present = sorted(int(v) for v in np.unique(arr))
        unknown = [v for v in present if v not in mapping]
        if unknown:
            raise InputError(f"{path} holds label values {unknown} that no segment describes")
        lut = np.zeros(max(max(mapping), max(present)) + 1, dtype=np.uint8)
        for src, dst in mapping.items():
            lut[src] = dst
        return lut[arr.astype(np.int64)], geometry
    return to_canonical(arr, convention), geometry


def load_label(path: str | os.PathLike, cine: Cine, convention: str = "canonical") -> np.ndarray:
    """A label map for ``cine`` from a file, mapped to canonical values.

    Returns ``(T, Z, Y, X)`` when the file holds every frame of ``cine`` and ``(Z, Y, X)``
    for a single 3D label volume. The file's geometry must equal the cine's (spacing,
    origin, direction); ``.seg.nrrd`` segments are matched by name or SNOMED code.
    """
    return load_label_file(path, convention, expect=cine)[0]


def _check_matches(path, arr: np.ndarray, geometry: Geometry, cine: Cine) -> None:
    if arr.shape[-3:] != cine.frame_shape:
        raise InputError(f"label map {path} has shape {arr.shape[-3:]} but the image frames are {cine.frame_shape}")
    if arr.ndim == 4 and arr.shape[0] != cine.n_frames:
        raise InputError(f"label map {path} has {arr.shape[0]} frames but the cine has {cine.n_frames}")
    if cine.geometry.spacing_known and not geometry.isclose(cine.geometry, tol=1e-3):
        raise InputError(
            f"label map {path} does not match the image geometry (spacing {geometry.spacing} vs "
            f"{cine.geometry.spacing}, origin {geometry.origin} vs {cine.geometry.origin}, or direction)"
        )
