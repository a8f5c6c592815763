"""Small helpers shared by the readers and writers: SimpleITK <-> Geometry, checks."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CardiacSSLLib.cine import Geometry
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.io.nifti_read import read_nifti
from CardiacSSLLib.suffixes import NIFTI_SUFFIXES, NRRD_SUFFIXES, VOLUME_SUFFIXES, has_suffix  # noqa: F401 - the readers import them from here


def lower_name(path: Path) -> str:
    return path.name.lower()


def natural_key(text: str) -> list:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def read_image(path: Path) -> sitk.Image:
    """``sitk.ReadImage`` with an :class:`InputError` instead of a raw ITK exception.

    NIfTI goes through :func:`.nifti_read.read_nifti` (quiet, nearly orthonormal sforms accepted).
    NaN/inf voxels of floating-point NIfTI files are refused here: ITK 5.4's NIfTI reader
    silently turns them into 0 (fixed only in ITK 6), so they are counted in the raw file.
    """
    try:
        img = read_nifti(Path(path)) if has_suffix(Path(path), NIFTI_SUFFIXES) else sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
        raise InputError(f"cannot read image {path}: not a readable NIfTI/NRRD/MetaImage file ({first})") from exc
    if has_suffix(Path(path), NIFTI_SUFFIXES) and img.GetPixelID() in _FLOAT_PIXELS:
        bad = nifti_nonfinite_count(Path(path))
        if bad:
            raise InputError(
                f"{path} holds {bad} NaN or infinite voxels: the image is corrupt or not an intensity image"
            )
    return img


_FLOAT_PIXELS = (sitk.sitkFloat32, sitk.sitkFloat64, sitk.sitkVectorFloat32, sitk.sitkVectorFloat64)
_NIFTI_FLOAT_TYPES = {16: "f4", 64: "f8"}


def nifti_nonfinite_count(path: Path) -> int:
    """Number of NaN/inf values stored in a float32/float64 NIfTI-1 or NIfTI-2 file (0 otherwise)."""
    opener = gzip.open if lower_name(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    for endian in ("<", ">"):
        sizeof_hdr = int(np.frombuffer(raw, endian + "i4", count=1)[0])
        if sizeof_hdr == 348:  # NIfTI-1
            dims = np.frombuffer(raw, endian + "i2", count=8, offset=40)
            datatype = int(np.frombuffer(raw, endian + "i2", count=1, offset=70)[0])
            offset = int(np.frombuffer(raw, endian + "f4", count=1, offset=108)[0])
            break
        if sizeof_hdr == 540:  # NIfTI-2
            dims = np.frombuffer(raw, endian + "i8", count=8, offset=16)
            datatype = int(np.frombuffer(raw, endian + "i2", count=1, offset=12)[0])
            offset = int(np.frombuffer(raw, endian + "i8", count=1, offset=168)[0])
            break
    else:
        return 0
    if datatype not in _NIFTI_FLOAT_TYPES:
        return 0
    count = int(np.prod([max(int(d), 1) for d in dims[1 : 1 + int(dims[0])]]))
    dtype = np.dtype(endian + _NIFTI_FLOAT_TYPES[datatype])
    count = min(count, (len(raw) - offset) // dtype.itemsize)
    return int(np.count_nonzero(~np.isfinite(np.frombuffer(raw, dtype, count=count, offset=offset))))


def geometry_from_image(img: sitk.Image) -> Geometry:
    """Spatial geometry of the first three axes of a 3D or 4D SimpleITK image (LPS)."""
    dim = img.GetDimension()
    if dim < 3:
        raise InputError(f"a 3D geometry needs at least 3 dimensions, got {dim}")
    direction = np.asarray(img.GetDirection(), dtype=float).reshape(dim, dim)
    if dim > 3 and (np.abs(direction[:3, 3:]).max() > 1e-6 or np.abs(direction[3:, :3]).max() > 1e-6):
        raise InputError("the time axis of this 4D image is mixed with the spatial axes: unsupported geometry")
    return Geometry(
        spacing=tuple(float(s) for s in img.GetSpacing()[:3]),
        origin=tuple(float(o) for o in img.GetOrigin()[:3]),
        direction=tuple(float(d) for d in direction[:3, :3].ravel()),
    )


def image_from_array(volume: np.ndarray, geometry: Geometry) -> sitk.Image:
    """A 3D SimpleITK image ``(Z, Y, X)`` carrying ``geometry``."""
    img = sitk.GetImageFromArray(np.ascontiguousarray(volume))
    img.SetSpacing(geometry.spacing)
    img.SetOrigin(geometry.origin)
    img.SetDirection(geometry.direction)
    return img


def check_finite(array: np.ndarray, source: object) -> None:
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise InputError(f"{source} holds {bad} NaN or infinite voxels: the image is corrupt or not an intensity image")
