"""ACDC patient folders in the original NIfTI layout, with or without the 4D cine.

The challenge ships ``patientNNN_4d.nii.gz`` beside the ED and ES frames
(``patientNNN_frameNN.nii.gz``), their manual labels (``_frameNN_gt.nii.gz``) and
``Info.cfg``; many copies drop the ``_4d`` file. Without it the two (or more) frame files
form a short cine in frame-number order, the ``_gt`` files are their labels (never image
frames), and ED/ES come from ``Info.cfg`` when it names frames that are present.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CardiacSSLLib.cine import Cine, Geometry
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.io._common import geometry_from_image, read_image
from CardiacSSLLib.io.volumes import load_frames, load_volume_file
from CardiacSSLLib.labels import to_canonical

log = logging.getLogger(__name__)

_FRAME = re.compile(r"^(?P<pid>.+)_frame(?P<number>\d+)(?P<gt>_gt)?\.nii(\.gz)?$", re.IGNORECASE)


def read_info_cfg(path: Path) -> dict[str, str]:
    info: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            info[key.strip()] = value.strip()
    return info


def _label_volume(path: Path, geometry: Geometry, shape: tuple[int, ...], convention: str) -> np.ndarray:
    img = read_image(path)
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"label map {path} has vector voxels")
    arr = sitk.GetArrayFromImage(img)
    if arr.shape != tuple(shape) or not geometry_from_image(img).isclose(geometry, tol=1e-3):
        raise InputError(
            f"label map {path} does not match the image geometry (shape {arr.shape} vs {tuple(shape)}, "
            "or different spacing/origin/direction)"
        )
    return to_canonical(arr, convention)


def _frame_files(folder: Path) -> tuple[dict[int, Path], dict[int, Path]]:
    """``({frame number: image file}, {frame number: label file})`` named after the folder."""
    images: dict[int, Path] = {}
    labels: dict[int, Path] = {}
    for p in folder.iterdir():
        m = _FRAME.match(p.name)
        if p.is_file() and m and m.group("pid").lower() == folder.name.lower():
            (labels if m.group("gt") else images)[int(m.group("number"))] = p
    return images, labels


def is_acdc_patient(folder: Path) -> bool:
    """A ``patientNNN`` folder with its 4D cine, or with ``patientNNN_frameNN.nii[.gz]`` frames."""
    if not folder.is_dir():
        return False
    if (folder / f"{folder.name}_4d.nii.gz").is_file():
        return True
    return bool(_frame_files(folder)[0])


def load_acdc_patient(folder: str | os.PathLike, convention: str = "acdc") -> Cine:
    """An ACDC patient folder: the 4D cine when present, else its frame files (see the module docstring)."""
    folder = Path(folder)
    pid = folder.name
    images, labels = _frame_files(folder) if folder.is_dir() else ({}, {})
    four_d = folder / f"{pid}_4d.nii.gz"
    if four_d.is_file():
        cine = load_volume_file(four_d)
        index = {n + 1: n for n in range(cine.n_frames)}  # ACDC frame numbers are 1-based
    elif images:
        numbers = sorted(images)
        cine = load_frames([images[n] for n in numbers], allow_single_frame=True)
        index = {number: i for i, number in enumerate(numbers)}
        cine.meta["acdc_frame_numbers"] = numbers
        log.info("%s: no %s; a %d-frame cine of frames %s", pid, four_d.name, len(numbers), numbers)
    else:
        raise InputError(f"{folder} is not an ACDC patient folder: neither {four_d.name} nor {pid}_frameNN.nii.gz")
    cine.name, cine.source = pid, str(folder)
    info = read_info_cfg(folder / "Info.cfg") if (folder / "Info.cfg").is_file() else {}
    label = np.zeros(cine.image.shape, dtype=np.uint8)
    labelled = np.zeros(cine.image.shape[:2], dtype=bool)
    for number, gt in sorted(labels.items()):
        t = index.get(number)
        if t is None or not 0 <= t < cine.n_frames:
            raise InputError(f"{gt.name} names frame {number}, which is not an image frame of {pid}")
        label[t] = _label_volume(gt, cine.geometry, cine.frame_shape, convention)
        labelled[t] = True
    meta: dict = {"format": "acdc", "info": info}
    for key in ("ED", "ES"):
        number = _int(info.get(key))
        if number is not None and number in index:
            meta[f"{key.lower()}_frame"] = index[number]
    if "ed_frame" in meta and "es_frame" in meta:
        meta["study_ed_es"] = (meta["ed_frame"], meta["es_frame"])  # named by the study's own files
    cine.meta.update(meta)
    if labelled.any():
        cine.label, cine.labelled = label, labelled
    return cine


def _int(text: str | None) -> int | None:
    try:
        return int(float(text)) if text is not None else None
    except ValueError:
        return None
