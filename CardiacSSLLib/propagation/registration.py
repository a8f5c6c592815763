"""Slice-wise 2D deformable registration between two phases of a cine (SimpleITK demons).

Short-axis slices keep their position over the cardiac cycle (the scanner does not track
the heart), so each slice is registered to the same slice of another phase; through-plane
motion is not modelled. Intensities are normalised per slice first (the same percentile
mapping the network sees), so phases scaled differently by the source still match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from CardiacSSLLib.preprocess import normalize_intensity


@dataclass(frozen=True)
class RegistrationConfig:
    """Demons settings; chosen on the ACDC validation split (``benchmarks/propagation.py``)."""

    iterations: int = 80
    field_sigma_px: float = 2.0  # Gaussian smoothing of the displacement field (regularisation)
    levels: int = 2  # multi-resolution: shrink by 2**(levels-1) first, then refine


def _image(slice2d: np.ndarray) -> sitk.Image:
    if not np.any(slice2d != slice2d.flat[0]):
        return sitk.GetImageFromArray(np.zeros(slice2d.shape, np.float32))
    return sitk.GetImageFromArray(normalize_intensity(slice2d[None])[0].astype(np.float32))


def register_slice(fixed: np.ndarray, moving: np.ndarray, config: RegistrationConfig) -> sitk.Transform:
    """Transform mapping points of ``fixed`` (Y, X) into ``moving``: resample ``moving`` with it to align."""
    f, m = _image(fixed), _image(moving)
    demons = sitk.FastSymmetricForcesDemonsRegistrationFilter()
    demons.SetNumberOfIterations(config.iterations)
    demons.SetStandardDeviations(config.field_sigma_px)
    field = None
    for level in reversed(range(config.levels)):
        factor = 2**level
        fl = sitk.Shrink(f, [factor, factor]) if factor > 1 else f
        ml = sitk.Shrink(m, [factor, factor]) if factor > 1 else m
        if field is None:
            field = sitk.Image(fl.GetSize(), sitk.sitkVectorFloat64)
            field.CopyInformation(fl)
        else:  # the coarse field, brought onto this level's grid (same physical space)
            field = sitk.Resample(field, fl, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkVectorFloat64)
        field = demons.Execute(fl, ml, field)
    return sitk.DisplacementFieldTransform(sitk.Cast(field, sitk.sitkVectorFloat64))


def compose(transforms: list[sitk.Transform]) -> sitk.Transform:
    """One transform applying ``transforms[-1]`` first and ``transforms[0]`` last (a chain of phases)."""
    if len(transforms) == 1:
        return transforms[0]
    composite = sitk.CompositeTransform(2)
    for t in transforms:  # ITK applies the last added first
        composite.AddTransform(t)
    return composite


def warp_label(label2d: np.ndarray, transform: sitk.Transform, n_classes: int = 4) -> np.ndarray:
    """``label2d`` (Y, X) resampled through ``transform``: each class linearly, then the argmax (smooth edges)."""
    reference = sitk.GetImageFromArray(np.zeros(label2d.shape, np.float32))
    maps = []
    for c in range(n_classes):
        channel = sitk.GetImageFromArray((label2d == c).astype(np.float32))
        maps.append(
            sitk.GetArrayFromImage(sitk.Resample(channel, reference, transform, sitk.sitkLinear, float(c == 0)))
        )
    return np.argmax(np.stack(maps), axis=0).astype(np.uint8)
