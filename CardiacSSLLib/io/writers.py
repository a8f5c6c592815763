"""Write label maps and cines in the input's exact native geometry, atomically.

Formats by file name:

- ``.nii`` / ``.nii.gz``: 3D for one frame, 4D (x, y, z, t) for several.
- ``.nrrd`` / ``.seq.nrrd``: 3D for one frame; several frames make a Slicer volume
  sequence (NRRD kinds ``domain domain domain list``, ``axis 3 index values`` = trigger
  times in ms or frame numbers), which 3D Slicer loads as a sequence and
  :func:`CardiacSSLLib.io.load_cine` reads back. SimpleITK cannot write the ``list`` kind,
  so that header is written here.
- ``.seg.nrrd``: a 3D Slicer segmentation (one shared labelmap layer, one segment per
  structure with name, colour, label value, extent and SNOMED terminology tags). It holds
  one frame: pass ``frame=`` for a multi-frame label, or use ``.nii.gz`` / ``.nrrd``.

Existing files are never replaced unless ``overwrite=True`` (:class:`OutputExistsError`);
files are written to a temporary name in the destination folder and renamed.
"""

from __future__ import annotations

import gzip
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CardiacSSLLib.cine import Cine, Geometry
from CardiacSSLLib.errors import InputError, OutputExistsError
from CardiacSSLLib.filemode import set_umask_mode
from CardiacSSLLib.io._common import NIFTI_SUFFIXES, has_suffix, image_from_array
from CardiacSSLLib.labels import COLORS, NAMES, SNOMED

log = logging.getLogger(__name__)

_NRRD_TYPES = {
    np.dtype(np.uint8): "unsigned char",
    np.dtype(np.int16): "short",
    np.dtype(np.uint16): "unsigned short",
    np.dtype(np.int32): "int",
    np.dtype(np.float32): "float",
}
_ANATOMY_CATEGORY = ("SCT", "123037004", "Anatomical Structure")


def _suffix_of(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".seg.nrrd", ".seq.nrrd", ".nii.gz", ".nii", ".nrrd"):
        if name.endswith(suffix):
            return suffix
    raise InputError(f"unsupported output format {path.name}: use .nii.gz, .nii, .nrrd, .seq.nrrd or .seg.nrrd")


def _prepare_output(path: str | os.PathLike, overwrite: bool) -> Path:
    path = Path(path)
    if path.is_dir():
        raise InputError(f"output path {path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise InputError(f"cannot write {path}: {exc.filename or parent} is not a folder") from exc
    except PermissionError as exc:
        raise InputError(f"cannot create output folder {parent}: permission denied") from exc
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"output folder {parent} is not writable")
    return path


def _atomic_write(path: Path, suffix: str, write: Callable[[Path], None]) -> Path:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        set_umask_mode(tmp)
        os.replace(tmp, path)
    except PermissionError as exc:
        raise InputError(f"cannot write {path}: permission denied") from exc
    except RuntimeError as exc:  # SimpleITK
        raise InputError(f"cannot write {path}: {str(exc).strip().splitlines()[-1]}") from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    log.info("wrote %s", path)
    return path


def _sitk_write(img: sitk.Image) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        sitk.WriteImage(img, str(tmp), useCompression=True)

    return write


def _frame_step_ms(cine: Cine) -> float:
    times = cine.trigger_times_ms
    if times is not None and len(times) > 1 and np.all(np.diff(times) > 0):
        return float(np.median(np.diff(times)))
    return 1.0


def _image_4d(frames: np.ndarray, geometry: Geometry, step: float) -> sitk.Image:
    volumes = [image_from_array(f, geometry) for f in frames]
    return sitk.JoinSeries(volumes, 0.0, step)


def _sequence_writer(
    frames: np.ndarray, geometry: Geometry, index_values: list[str], unit: str, node_class: str
) -> Callable[[Path], None]:
    """A Slicer volume sequence NRRD: kinds ``domain domain domain list`` (list axis last)."""
    dtype = np.dtype(frames.dtype)
    if dtype not in _NRRD_TYPES:
        raise InputError(f"cannot write voxel type {dtype} to a sequence NRRD")
    t, z, y, x = frames.shape
    d = geometry.direction_matrix * np.asarray(geometry.spacing)  # columns scaled by spacing
    vec = " ".join("(" + ",".join(repr(float(v)) for v in d[:, i]) + ")" for i in range(3))
    header = "\n".join(
        [
            "NRRD0004",
            f"type: {_NRRD_TYPES[dtype]}",
            "dimension: 4",
            "space: left-posterior-superior",
            f"sizes: {x} {y} {z} {t}",
            f"space directions: {vec} none",
            "kinds: domain domain domain list",
            'labels: "" "" "" "frame"',
            f'units: "" "" "" "{unit}"',
            "endian: little",
            "encoding: gzip",
            "space origin: (" + ",".join(repr(float(v)) for v in geometry.origin) + ")",
            f"DataNodeClassName:={node_class}",
            "axis 3 index type:=numeric",
            "axis 3 index values:=" + " ".join(index_values),
            "",
            "",
        ]
    )
    # NRRD's fastest axis is x: the C-order (T, Z, Y, X) array is already in file order.
    payload = np.ascontiguousarray(frames.astype(dtype.newbyteorder("<"), copy=False)).tobytes()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(header.encode("ascii"))
            fh.write(gzip.compress(payload, compresslevel=6))

    return write


def _index_values(cine: Cine) -> tuple[list[str], str]:
    if cine.trigger_times_ms is not None:
        return [f"{float(v):g}" for v in cine.trigger_times_ms], "ms"
    return [str(i) for i in range(cine.n_frames)], ""


def _segment_metadata(label: np.ndarray, structures: tuple[int, ...]) -> dict[str, str]:
    meta = {
        "Segmentation_MasterRepresentation": "Binary labelmap",
        "Segmentation_ContainedRepresentationNames": "Binary labelmap|",
        "Segmentation_ReferenceImageExtentOffset": "0 0 0",
    }
    present = {int(v) for v in np.unique(label) if v}
    values = sorted(set(structures) | present)
    z, y, x = label.shape
    for i, value in enumerate(values):
        mask = label == value
        if mask.any():
            zz, yy, xx = (np.flatnonzero(mask.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1)))
            extent = (xx[0], xx[-1], yy[0], yy[-1], zz[0], zz[-1])
        else:
            extent = (0, x - 1, 0, y - 1, 0, z - 1)
        scheme, code, meaning = SNOMED[value]
        cat = "^".join(_ANATOMY_CATEGORY)
        terminology = (
            f"Segmentation category and type - 3D Slicer General Anatomy list~{cat}~{scheme}^{code}^{meaning}"
            "~^^~Anatomic codes - DICOM master list~^^~^^"
        )
        prefix = f"Segment{i}_"
        meta.update(
            {
                prefix + "ID": NAMES[value],
                prefix + "Name": NAMES[value],
                prefix + "NameAutoGenerated": "0",
                prefix + "Color": " ".join(f"{c:.6g}" for c in COLORS[value]),
                prefix + "ColorAutoGenerated": "0",
                prefix + "LabelValue": str(value),
                prefix + "Layer": "0",
                prefix + "Extent": " ".join(str(int(e)) for e in extent),
                prefix + "Tags": f"Segmentation.Status:inprogress|TerminologyEntry:{terminology}|",
            }
        )
    return meta


def _as_frames(label: np.ndarray, cine: Cine, frame: int | None) -> tuple[np.ndarray, Cine]:
    label = np.asarray(label)
    if label.ndim == 3:
        label = label[None]
    if label.ndim != 4:
        raise InputError(f"a label map must be (T, Z, Y, X) or (Z, Y, X), got shape {label.shape}")
    if label.shape[1:] != cine.frame_shape:
        raise InputError(f"label shape {label.shape[1:]} differs from the image frame shape {cine.frame_shape}")
    if frame is not None:
        if label.shape[0] == cine.n_frames:
            label = label[frame : frame + 1] if frame >= 0 else label[frame:][:1]
        cine = cine.frame(frame)
    elif label.shape[0] == 1 and cine.n_frames != 1:
        cine = cine.frame(0)
    if label.shape[0] != cine.n_frames:
        raise InputError(f"label has {label.shape[0]} frames but the cine has {cine.n_frames}")
    values = np.unique(label)
    bad = sorted(int(v) for v in values if int(v) not in (0, *NAMES))
    if bad:
        raise InputError(f"label map holds values {bad}; canonical labels are 0 background, 1 LV, 2 MYO, 3 RV")
    return label.astype(np.uint8), cine


def write_segmentation(
    label: np.ndarray, cine: Cine, path: str | os.PathLike, overwrite: bool = False, frame: int | None = None
) -> Path:
    """Write a canonical label map in ``cine``'s native geometry; returns the written path.

    ``label`` is ``(T, Z, Y, X)`` (all frames of ``cine``) or ``(Z, Y, X)`` (one frame:
    frame ``frame`` of ``cine``, default the first). ``frame`` also selects one frame of a
    multi-frame label.
    """
    path = Path(path)
    suffix = _suffix_of(path)
    frames, cine = _as_frames(label, cine, frame)
    if suffix == ".seg.nrrd" and len(frames) > 1:
        raise InputError(
            f"a .seg.nrrd holds one 3D frame but the label has {len(frames)}: pass frame=<index> "
            "or write all frames to .nii.gz / .nrrd (a Slicer sequence)"
        )
    path = _prepare_output(path, overwrite)
    if suffix == ".seg.nrrd":
        img = image_from_array(frames[0], cine.geometry)
        for key, value in _segment_metadata(frames[0], cine.structures).items():
            img.SetMetaData(key, value)
        return _atomic_write(path, ".nrrd", _sitk_write(img))
    return _write_frames(frames, cine, path, suffix, "vtkMRMLLabelMapVolumeNode")


def _write_frames(frames: np.ndarray, cine: Cine, path: Path, suffix: str, node_class: str) -> Path:
    if len(frames) == 1:
        return _atomic_write(path, suffix, _sitk_write(image_from_array(frames[0], cine.geometry)))
    if suffix in NIFTI_SUFFIXES:
        return _atomic_write(path, suffix, _sitk_write(_image_4d(frames, cine.geometry, _frame_step_ms(cine))))
    values, unit = _index_values(cine)
    return _atomic_write(path, suffix, _sequence_writer(frames, cine.geometry, values, unit, node_class))


def write_cine(cine: Cine, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the cine image (integers as int16 when they fit, else float32) in its native geometry."""
    path = Path(path)
    suffix = _suffix_of(path)
    if suffix == ".seg.nrrd":
        raise InputError("a .seg.nrrd holds segmentations; write a cine to .nii.gz, .nrrd or .seq.nrrd")
    path = _prepare_output(path, overwrite)
    image = cine.image
    if np.all(image == np.round(image)) and image.min() >= -32768 and image.max() <= 32767:
        image = image.astype(np.int16)
    else:
        image = image.astype(np.float32)
    return _write_frames(image, cine, path, suffix, "vtkMRMLScalarVolumeNode")


def is_segmentation_file(path: Path) -> bool:
    return has_suffix(path, (".seg.nrrd",))
