"""Reading a NIfTI through SimpleITK without its multi-line warnings, and with scanner-rounded sforms.

ITK prints "unexpected scales in sform" (ACDC writes unit-length sform axes) as a
five-line warning, twice per file, and refuses an sform whose axes are off orthogonal by
a rounding error (some M&Ms subjects, ~1e-4) unless ``ITK_NIFTI_SFORM_PERMISSIVE`` is
set (and then returns a transposed direction for oblique files). Here ITK's warnings are
switched off for the read; after that refusal the voxels are read permissively and the
geometry is taken from the sform made orthonormal; what matters is said in one log line.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CardiacSSLLib.io.nifti_header import NiftiHeader, read_nifti_header

log = logging.getLogger(__name__)

_NOT_ORTHONORMAL = "orthonormal direction cosines"
# the largest axis skew accepted and orthonormalised; beyond it the file is sheared, not rounded
MAX_SKEW = 1e-2


@contextlib.contextmanager
def _quiet_itk(permissive: bool = False) -> Iterator[None]:
    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    before = os.environ.get("ITK_NIFTI_SFORM_PERMISSIVE")
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    if permissive:
        os.environ["ITK_NIFTI_SFORM_PERMISSIVE"] = "1"  # read by ITK at each read
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)
        if permissive:
            if before is None:
                os.environ.pop("ITK_NIFTI_SFORM_PERMISSIVE", None)
            else:
                os.environ["ITK_NIFTI_SFORM_PERMISSIVE"] = before


def read_nifti(path: Path) -> sitk.Image:
    """``sitk.ReadImage`` of a NIfTI file, quiet, accepting a nearly orthonormal sform.

    Raises ``RuntimeError`` (as SimpleITK does) when the file cannot be read.
    """
    header = read_nifti_header(path)
    try:
        with _quiet_itk():
            img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        skew = header.sform_axes_deviation() if header is not None else float("nan")
        if _NOT_ORTHONORMAL not in str(exc) or not skew <= MAX_SKEW:
            raise
        with _quiet_itk(permissive=True):
            img = sitk.ReadImage(str(path))
        change = _set_orthonormal_sform(header, img)
        log.warning(
            "%s: sform axes off orthogonal by %.1e; direction orthonormalised (cosines moved by up to %.1e)",
            path.name,
            skew,
            change,
        )
        return img
    if header is not None and header.sform_code > 0 and not header.sform_scales_match():
        _note_unscaled_sform(path, header, img)
    return img


def _set_orthonormal_sform(header: NiftiHeader, img: sitk.Image) -> float:
    """Direction and origin from the sform, its axes made orthonormal; returns the largest cosine change.

    ITK 5.4's permissive read returns a transposed direction for oblique sforms, so only its
    voxels and spacing are kept. The nearest rotation (polar decomposition) keeps the slice
    normal and in-plane axes where the scanner put them, to the file's rounding.
    """
    axes = header.sform_direction_lps()
    u, _, vt = np.linalg.svd(axes)
    rotation = u @ vt
    dim = img.GetDimension()
    direction = np.eye(dim)
    direction[:3, :3] = rotation
    origin = list(img.GetOrigin())
    origin[:3] = [-header.srow[0, 3], -header.srow[1, 3], header.srow[2, 3]]  # RAS -> LPS
    img.SetDirection(direction.ravel().tolist())
    img.SetOrigin(origin)
    return float(np.max(np.abs(axes - rotation)))


def _direction_change(header: NiftiHeader, img: sitk.Image) -> float:
    dim = img.GetDimension()
    used = np.asarray(img.GetDirection(), dtype=float).reshape(dim, dim)[:3, :3]
    return float(np.max(np.abs(header.sform_direction_lps() - used)))


def _note_unscaled_sform(path: Path, header: NiftiHeader, img: sitk.Image) -> None:
    """ACDC's habit: harmless when the sform's axes agree with the geometry ITK took (from the qform)."""
    change = _direction_change(header, img)
    if change <= 1e-3:
        log.info("%s: sform without voxel sizes; spacing from pixdim, direction agrees with the sform", path.name)
    else:
        log.warning(
            "%s: sform without voxel sizes and its axes differ from the qform's by up to %.2g; the qform was used",
            path.name,
            change,
        )
