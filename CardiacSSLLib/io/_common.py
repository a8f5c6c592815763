"""Small helpers shared by the readers and writers: SimpleITK <-> Geometry, checks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CardiacSSLLib.cine import Geometry
from CardiacSSLLib.errors import InputError

NIFTI_SUFFIXES = (".nii", ".nii.gz")
NRRD_SUFFIXES = (".nrrd", ".nhdr")
VOLUME_SUFFIXES = NIFTI_SUFFIXES + NRRD_SUFFIXES + (".mha", ".mhd")


def lower_name(path: Path) -> str:
    return path.name.lower()


def has_suffix(path: Path, suffixes: tuple[str, ...]) -> bool:
    name = lower_name(path)
    return any(name.endswith(s) for s in suffixes)


def natural_key(text: str) -> list:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def read_image(path: Path) -> sitk.Image:
    """``sitk.ReadImage`` with an :class:`InputError` instead of a raw ITK exception."""
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
        raise InputError(f"cannot read image {path}: not a readable NIfTI/NRRD/MetaImage file ({first})") from exc


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
