"""Cines from volume files: 4D NIfTI, folders/lists of 3D frames, Slicer ``.seq.nrrd``.

Geometry comes from the file through SimpleITK (NIfTI is converted to LPS by ITK); a 4D
NIfTI's frame times come from ``pixdim[4]`` and its unit (:func:`.nifti_header.frame_step_ms`).
A Slicer volume sequence (``.seq.nrrd``) is one NRRD with a ``list`` axis, written by
Slicer either last (``domain domain domain list``, current writer, keys ``axis 3 index
values``) or first (``list domain domain domain``, older writer, ``axis 0 index values``);
SimpleITK reads both as a vector image whose components are the frames.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.io._common import (
    NIFTI_SUFFIXES,
    VOLUME_SUFFIXES,
    check_finite,
    geometry_from_image,
    has_suffix,
    natural_key,
    read_image,
)
from CardiacSSLLib.io.nifti_header import frame_step_ms, read_nifti_header
from CardiacSSLLib.suffixes import is_label_file

log = logging.getLogger(__name__)


def frame_times_ms(path: Path, n_frames: int) -> np.ndarray | None:
    """Frame times of a 4D NIfTI from ``toffset`` and ``pixdim[4]`` in its unit; None when unknown."""
    header = read_nifti_header(path) if has_suffix(path, NIFTI_SUFFIXES) else None
    if header is None or n_frames < 2:
        return None
    step, how = frame_step_ms(header)
    log.info("%s: frame step %s", path.name, f"{step:g} ms from {how}" if step else f"unknown ({how})")
    if step is None:
        return None
    start = header.toffset * step / header.pixdim[3] if np.isfinite(header.toffset) else 0.0
    return start + step * np.arange(n_frames, dtype=float)


def _spatial_size(img: sitk.Image) -> tuple[int, ...]:
    return tuple(int(s) for s in img.GetSize())


def _refuse_2d(img: sitk.Image, path: Path) -> None:
    size = _spatial_size(img)
    if img.GetDimension() == 2 or (img.GetDimension() == 3 and size[2] == 1):
        raise InputError(f"{path} is a single 2D image ({size[0]}x{size[1]}): a cine needs a stack of slices over time")


def _sequence_times(img: sitk.Image, n: int) -> tuple[np.ndarray | None, list[str] | None]:
    """Trigger times (ms) and raw index values of a Slicer sequence, when the file has them."""
    values = None
    for key in ("axis 3 index values", "axis 0 index values"):
        if img.HasMetaDataKey(key):
            values = img.GetMetaData(key).split()
    if values is None or len(values) != n:
        return None, values
    unit = img.GetMetaData("NRRD_units[pixel]").strip().lower() if img.HasMetaDataKey("NRRD_units[pixel]") else ""
    try:
        numbers = np.asarray([float(v) for v in values])
    except ValueError:
        return None, values
    scale = {"ms": 1.0, "msec": 1.0, "s": 1000.0, "sec": 1000.0}.get(unit)
    if scale is None:
        return None, values
    return numbers * scale, values


def load_volume_file(path: str | os.PathLike, allow_single_frame: bool = False) -> Cine:
    """A 4D image (x, y, z, t), a ``.seq.nrrd`` sequence or (with ``allow_single_frame``) one 3D volume."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file does not exist: {path}")
    img = read_image(path)
    _refuse_2d(img, path)
    meta: dict = {"format": "volume", "file": str(path)}
    trigger = None
    n_comp = img.GetNumberOfComponentsPerPixel()
    if n_comp > 1:
        kind = img.GetMetaData("NRRD_kinds[pixel]") if img.HasMetaDataKey("NRRD_kinds[pixel]") else ""
        if kind not in ("list", "") and not has_suffix(path, (".seq.nrrd",)):
            raise InputError(f"{path} holds {n_comp}-component ({kind}) voxels, not a scalar cine or a volume sequence")
        # (Z, Y, X, T) -> (T, Z, Y, X)
        image = np.moveaxis(sitk.GetArrayFromImage(img), -1, 0)
        trigger, index_values = _sequence_times(img, n_comp)
        meta.update(format="seq.nrrd", sequence_index_values=index_values)
    elif img.GetDimension() == 4:
        image = sitk.GetArrayFromImage(img)  # (T, Z, Y, X)
        meta["time_spacing"] = float(img.GetSpacing()[3])
        trigger = frame_times_ms(path, image.shape[0])
    elif img.GetDimension() == 3:
        if not allow_single_frame:
            raise InputError(
                f"{path} is a single 3D volume, not a cine: give a 4D file, a .seq.nrrd or a folder of frames "
                "(or allow a single frame where one is accepted)"
            )
        image = sitk.GetArrayFromImage(img)[None]
    else:
        raise InputError(f"{path} has {img.GetDimension()} dimensions; expected a 4D cine or a 3D volume")
    geometry = geometry_from_image(img)
    image = image.astype(np.float32, copy=False)
    check_finite(image, path)
    if image.shape[0] == 1 and not allow_single_frame:
        raise InputError(f"{path} holds one frame only: a cine needs several phases")
    log.info("volume cine %s: %d frames x %d slices", path, image.shape[0], image.shape[1])
    name = path.name.split(".")[0]
    return Cine(
        image=np.ascontiguousarray(image),
        geometry=geometry,
        trigger_times_ms=trigger,
        source=str(path),
        name=name,
        meta=meta,
    )


def list_frame_files(folder: Path) -> list[Path]:
    """The image frame files of a folder, sorted naturally; label maps beside them are never frames."""
    files = [p for p in folder.iterdir() if p.is_file() and has_suffix(p, VOLUME_SUFFIXES)]
    labels = [p.name for p in files if is_label_file(p)]
    if labels:
        log.info("%s: %d label files are not image frames (%s, ...)", folder, len(labels), sorted(labels)[0])
    return sorted((p for p in files if not is_label_file(p)), key=lambda p: natural_key(p.name))


def load_frames(paths: str | os.PathLike | Sequence[str | os.PathLike], allow_single_frame: bool = False) -> Cine:
    """A cine from 3D frame files: a folder (sorted naturally: frame2 before frame10) or an ordered list."""
    if isinstance(paths, (str, os.PathLike)):
        folder = Path(paths)
        if not folder.is_dir():
            raise InputError(f"frame folder does not exist: {folder}")
        files = list_frame_files(folder)
        if not files:
            raise InputError(f"no NIfTI/NRRD frame files in {folder}")
        source = str(folder)
    else:
        files = [Path(p) for p in paths]
        source = str(files[0].parent) if files else ""
    if not files:
        raise InputError("no frame files given")
    if len(files) == 1 and not allow_single_frame:
        raise InputError(f"only one frame file ({files[0]}): a cine needs several phases")
    frames = []
    geometry = None
    for f in files:
        img = read_image(f)
        _refuse_2d(img, f)
        if img.GetDimension() != 3 or img.GetNumberOfComponentsPerPixel() != 1:
            raise InputError(f"{f} is not a scalar 3D volume; every frame file must hold one 3D frame")
        g = geometry_from_image(img)
        arr = sitk.GetArrayFromImage(img).astype(np.float32)
        if geometry is None:
            geometry, shape = g, arr.shape
        elif arr.shape != shape or not g.isclose(geometry):
            raise InputError(
                f"frame {f.name} does not match the first frame {files[0].name} "
                f"(shape {arr.shape} vs {shape}, or different spacing/origin/direction)"
            )
        check_finite(arr, f)
        frames.append(arr)
    return Cine(
        image=np.stack(frames),
        geometry=geometry,
        source=source,
        name=Path(source).name,
        frame_names=[f.name for f in files],
        meta={"format": "frames", "files": [str(f) for f in files]},
    )
