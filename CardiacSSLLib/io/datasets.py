"""Public dataset layouts: ACDC (SSL4MIS HDF5; NIfTI folders in :mod:`.acdc`), M&Ms and Sunnybrook.

Every loader returns canonical labels (:mod:`CardiacSSLLib.labels`) through an explicit
convention, and marks which ``(frame, slice)`` images carry a manual annotation in
``Cine.labelled`` (unlabelled images are unknown, not background).

Sunnybrook rule: an image is ``labelled`` when it has both the endocardial (i) and the
epicardial (o) contour, i.e. a complete LV + MYO annotation. Images with an i-contour
only (most end-systolic ones) still get their LV blood pool painted into ``label``, and
are marked in ``meta["lv_labelled"]``; they are *not* in ``labelled`` because their
myocardium is unknown, and treating it as background would teach a network wrong MYO.
LV-only consumers (volumes, ejection fraction) use ``meta["lv_labelled"]``.
"""

from __future__ import annotations

import csv
import functools
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CardiacSSLLib.cine import Cine, Geometry
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.io._common import geometry_from_image, read_image
from CardiacSSLLib.io.acdc import is_acdc_patient, load_acdc_patient  # noqa: F401 - the ACDC NIfTI layout
from CardiacSSLLib.io.dicom import load_dicom_cine
from CardiacSSLLib.io.volumes import load_volume_file
from CardiacSSLLib.labels import LV, MYO, to_canonical

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- M&Ms


def is_mnms_subject(folder: Path) -> bool:
    return folder.is_dir() and (folder / f"{folder.name}_sa.nii.gz").is_file()


def _mnms_ed_es(csv_path: Path, subject: str) -> tuple[int, int]:
    with open(csv_path, newline="") as fh:
        for row in csv.DictReader(fh):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            code = row.get("External code") or row.get("External Code") or row.get("SUBJECT_CODE") or ""
            if code == subject:
                try:
                    return int(row["ED"]), int(row["ES"])
                except (KeyError, ValueError) as exc:
                    raise InputError(f"{csv_path}: row of {subject} lacks integer ED/ES columns") from exc
    raise InputError(f"subject {subject} is not listed in {csv_path}")


def load_mnms_subject(
    folder: str | os.PathLike, info_csv: str | os.PathLike | None = None, convention: str = "mnms"
) -> Cine:
    """An M&Ms subject folder (``<id>_sa.nii.gz`` + ``<id>_sa_gt.nii.gz``).

    ED/ES frame indices (0-based, as in the M&Ms csv) come from ``info_csv`` when given,
    otherwise the labelled frames are those with any non-zero label.
    """
    folder = Path(folder)
    sid = folder.name
    cine = load_volume_file(folder / f"{sid}_sa.nii.gz")
    cine.name, cine.source = sid, str(folder)
    cine.meta["format"] = "mnms"
    gt_path = folder / f"{sid}_sa_gt.nii.gz"
    if not gt_path.is_file():
        return cine
    gt = read_image(gt_path)
    arr = sitk.GetArrayFromImage(gt)
    if arr.shape != cine.image.shape or not geometry_from_image(gt).isclose(cine.geometry, tol=1e-3):
        raise InputError(f"{gt_path.name} does not match the geometry of {sid}_sa.nii.gz (shape {arr.shape})")
    label = to_canonical(arr, convention)
    if info_csv is not None:
        ed, es = _mnms_ed_es(Path(info_csv), sid)
        frames = [ed, es]
    else:
        frames = [int(t) for t in np.flatnonzero(label.reshape(label.shape[0], -1).any(axis=1))]
        ed, es = (frames + [None, None])[:2] if len(frames) <= 2 else (None, None)
    for t in frames:
        if not 0 <= t < cine.n_frames:
            raise InputError(f"ED/ES frame {t} out of range for {sid} ({cine.n_frames} frames)")
    labelled = np.zeros(cine.image.shape[:2], dtype=bool)
    labelled[frames] = True
    label[~labelled] = 0
    cine.label, cine.labelled = label, labelled
    cine.meta.update(ed_frame=ed, es_frame=es)
    return cine


# --------------------------------------------------------------------------- SSL4MIS HDF5


def read_list(root: str | os.PathLike, split: str) -> list[str]:
    """Names in ``<root>/<split>.list`` (``train``, ``val``, ``test``, ``train_slices``, ``all_slices``)."""
    path = Path(root) / f"{split}.list"
    if not path.is_file():
        known = sorted(p.stem for p in Path(root).glob("*.list"))
        raise InputError(f"no split list {path}; available splits: {known}")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _h5_arrays(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    import h5py

    if not path.is_file():
        raise InputError(f"HDF5 file does not exist: {path}")
    try:
        with h5py.File(path, "r") as h5:
            if "image" not in h5:
                raise InputError(f"{path} has no 'image' dataset (keys: {list(h5)})")
            image = np.asarray(h5["image"], dtype=np.float32)
            label = np.asarray(h5["label"]) if "label" in h5 else None
    except OSError as exc:
        raise InputError(f"cannot read HDF5 file {path}: {exc}") from exc
    return image, label


@dataclass(frozen=True)
class AcdcInfo:
    """What the SSL4MIS HDF5 lost, from ``acdc_info.csv`` (original NIfTI headers + Info.cfg)."""

    patient: str
    group: str
    spacing: tuple[float, float, float]  # (sx, sy, sz) mm: x = the HDF5's last axis
    ed_frame: int  # 1-based, as in Info.cfg
    es_frame: int
    n_frames: int

    @property
    def geometry(self) -> Geometry:
        # origin and direction are unknown: identity, which volumes and distances do not need
        return Geometry(spacing=self.spacing, spacing_known=True)


@functools.lru_cache(maxsize=8)
def _read_acdc_info_csv(path: str) -> dict[str, AcdcInfo]:
    out: dict[str, AcdcInfo] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                out[row["patient"].strip()] = AcdcInfo(
                    patient=row["patient"].strip(),
                    group=row.get("group", "").strip(),
                    spacing=(
                        float(row["pixel_spacing_x_mm"]),
                        float(row["pixel_spacing_y_mm"]),
                        float(row["slice_spacing_mm"]),
                    ),
                    ed_frame=int(row["ed_frame"]),
                    es_frame=int(row["es_frame"]),
                    n_frames=int(row["nb_frames"]),
                )
            except (KeyError, ValueError) as exc:
                raise InputError(f"{path}: malformed row for {row.get('patient')!r} ({exc})") from exc
    return out


def read_acdc_info(root: str | os.PathLike) -> dict[str, AcdcInfo]:
    """``{patient: AcdcInfo}`` from ``<root>/acdc_info.csv``; empty when the file is absent."""
    path = Path(root) / "acdc_info.csv"
    return _read_acdc_info_csv(str(path.resolve())) if path.is_file() else {}


def _info_for_h5(path: Path) -> AcdcInfo | None:
    """The patient's row, looked up beside the SSL4MIS root (``<root>/data/<file>.h5``)."""
    patient = path.stem.split("_")[0]
    for root in (path.parent.parent, path.parent):
        info = read_acdc_info(root)
        if info:
            return info.get(patient)
    return None


def load_acdc_h5_volume(path: str | os.PathLike, convention: str = "acdc") -> Cine:
    """One SSL4MIS ACDC volume (``slices x H x W``) as a one-frame cine.

    Spacing, diagnostic group and ED/ES frame numbers come from ``acdc_info.csv`` of the
    dataset root when it is there; otherwise the spacing is unknown (never guessed).
    """
    path = Path(path)
    image, label = _h5_arrays(path)
    if image.ndim != 3:
        raise InputError(f"{path} holds a {image.ndim}D image; expected a slices x H x W volume")
    if not np.all(np.isfinite(image)):
        raise InputError(f"{path} holds NaN or infinite voxels")
    match = re.search(r"_frame(\d+)", path.stem)
    phase = {"01": "ED", "02": "ES"}.get(match.group(1)) if match else None
    info = _info_for_h5(path)
    meta = {"format": "ssl4mis_h5", "phase": phase, "patient": path.stem.split("_")[0]}
    if info is not None:
        meta.update(group=info.group, acdc_frames={"ED": info.ed_frame, "ES": info.es_frame})
    return Cine(
        image=image[None],
        geometry=info.geometry if info is not None else Geometry(spacing_known=False),
        label=None if label is None else to_canonical(label, convention)[None],
        source=str(path),
        name=path.stem,
        meta=meta,
    )


def load_acdc_h5_slices(
    root: str | os.PathLike, names: list[str], convention: str = "acdc", with_spacing: bool = False
) -> list[tuple]:
    """``(image2d float32, label2d uint8 canonical)`` pairs for SSL4MIS names (slices or whole volumes).

    ``with_spacing`` appends the in-plane spacing ``(sy, sx)`` in mm (None when unknown).
    """
    info = read_acdc_info(root)
    out = []
    for name in names:
        image, label = _h5_arrays(Path(root) / "data" / f"{name}.h5")
        if label is None:
            raise InputError(f"{name}.h5 has no label")
        label = to_canonical(label, convention)
        extra: tuple = ()
        if with_spacing:
            row = info.get(name.split("_")[0])
            extra = ((row.spacing[1], row.spacing[0]) if row else None,)
        if image.ndim == 2:
            out.append((image, label, *extra))
        else:
            out.extend((img, lab, *extra) for img, lab in zip(image, label, strict=True))
    return out


# --------------------------------------------------------------------------- Sunnybrook

_CONTOUR = re.compile(r"IM-\d+-(\d+)-([io])contour-manual\.txt$")


def _sunnybrook_links(root: Path) -> dict[str, str]:
    path = root / "link.csv"
    if not path.is_file():
        raise InputError(f"{path} is missing: it maps SCD ids to SC-HF-I contour folders")
    with open(path, newline="") as fh:
        return {row["patient_id"].strip(): row["original_id"].strip() for row in csv.DictReader(fh)}


def list_sunnybrook(root: str | os.PathLike) -> list[str]:
    """SCD ids that have both DICOM images and a contour folder."""
    root = Path(root)
    links = _sunnybrook_links(root)
    return sorted(
        scd
        for scd, orig in links.items()
        if (root / "dicoms" / scd).is_dir() and (root / "contourfiles" / orig).is_dir()
    )


def read_contour(path: Path) -> np.ndarray:
    """Polygon ``(N, 2)`` of pixel coordinates ``(x, y)`` from a Sunnybrook contour file."""
    try:
        points = np.loadtxt(path, dtype=float, ndmin=2)
    except ValueError as exc:
        raise InputError(f"contour file {path} is not a list of 'x y' lines") from exc
    if points.shape[1] != 2 or len(points) < 3:
        raise InputError(f"contour file {path} does not hold a polygon of 'x y' points")
    return points


def fill_polygon(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the pixel centres (column x, row y) inside the polygon."""
    from matplotlib.path import Path as PolygonPath

    rows, cols = np.mgrid[: shape[0], : shape[1]]
    centres = np.column_stack([cols.ravel(), rows.ravel()]).astype(float)
    return PolygonPath(points).contains_points(centres).reshape(shape)


def load_sunnybrook(root: str | os.PathLike, scd_id: str) -> Cine:
    """A Sunnybrook cine with its manual LV (inside i) and MYO (inside o minus inside i) contours."""
    root = Path(root)
    links = _sunnybrook_links(root)
    if scd_id not in links:
        raise InputError(f"{scd_id} is not in {root / 'link.csv'}; known: {sorted(links)}")
    cine = load_dicom_cine(root / "dicoms" / scd_id)
    cine.name = scd_id
    contour_dir = root / "contourfiles" / links[scd_id]
    if not contour_dir.is_dir():
        raise InputError(f"contour folder {contour_dir} is missing")
    where: dict[int, tuple[int, int]] = {}
    instances = cine.meta["instance_numbers"]
    for t, row in enumerate(cine.meta["dicom_files"]):
        for z, f in enumerate(row):
            stem = Path(f).stem
            if stem.isdigit():
                number = int(stem)
                if instances[t, z] != number:
                    raise InputError(
                        f"{f}: file number {number} differs from its InstanceNumber {instances[t, z]}; "
                        "the Sunnybrook contour file names would point to the wrong images"
                    )
                where[number] = (t, z)
    contours: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    for path in sorted(contour_dir.rglob("*contour-manual.txt")):
        match = _CONTOUR.search(path.name)
        if not match:
            continue
        number, kind = int(match.group(1)), match.group(2)
        if number not in where:
            raise InputError(f"contour {path.name} refers to image {number}.dcm, which is not in {scd_id}")
        contours.setdefault(where[number], {})[kind] = read_contour(path)
    shape = cine.image.shape[2:]
    label = np.zeros(cine.image.shape, dtype=np.uint8)
    labelled = np.zeros(cine.image.shape[:2], dtype=bool)
    lv_labelled = np.zeros(cine.image.shape[:2], dtype=bool)
    for (t, z), found in contours.items():
        if "i" not in found:
            log.warning("%s frame %d slice %d: epicardial contour without endocardial one, skipped", scd_id, t, z)
            continue
        inner = fill_polygon(found["i"], shape)
        if "o" in found:
            label[t, z][fill_polygon(found["o"], shape)] = MYO
            labelled[t, z] = True
        label[t, z][inner] = LV
        lv_labelled[t, z] = True
    cine.label, cine.labelled = label, labelled
    cine.structures = (LV, MYO)
    cine.meta.update(format="sunnybrook", lv_labelled=lv_labelled, contour_folder=str(contour_dir))
    return cine
