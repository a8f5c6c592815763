"""The training-set store: corrected frames saved by the Slicer module, read by fine-tuning.

Layout (one folder per case, written atomically, never overwritten)::

    <folder>/cases/<case_id>/image.nii.gz   float32 frame (Z, Y, X), native geometry
    <folder>/cases/<case_id>/label.nii.gz   uint8 canonical labels (0 bg, 1 LV, 2 MYO, 3 RV)
    <folder>/cases/<case_id>/case.json      provenance, structures, labelled slices

A case is staged in a hidden folder next to its final place and renamed into place, so
an interrupted write never leaves a half case, and ``cases()`` never sees one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from CardiacSSLLib import labels
from CardiacSSLLib.cine import Cine, Geometry
from CardiacSSLLib.errors import InputError, OutputExistsError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
IMAGE_FILE = "image.nii.gz"
LABEL_FILE = "label.nii.gz"
CASE_FILE = "case.json"


@dataclass(frozen=True)
class Provenance:
    """Where a case came from: source image, frame, the model that drafted the label, when."""

    source: str = ""
    frame: int | None = None
    model: str = ""
    created: str = ""  # ISO 8601 UTC; filled in by ``TrainingSet.add`` when empty
    note: str = ""

    @classmethod
    def from_dict(cls, d: dict) -> Provenance:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class CaseInfo:
    case_id: str
    folder: Path
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    spacing_known: bool
    structures: tuple[int, ...]
    label_voxels: dict[str, int]
    provenance: Provenance = field(default_factory=Provenance)


def _slug(text: str, max_len: int = 24) -> str:
    stem = Path(text.rstrip("/\\")).name if text else ""
    stem = re.sub(r"\.(nii|nii\.gz|nrrd|seq\.nrrd|h5)$", "", stem)
    return re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-")[:max_len] or "case"


def _new_case_id(provenance: Provenance) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    frame = "" if provenance.frame is None else f"-f{provenance.frame}"
    return f"{stamp}-{_slug(provenance.source)}{frame}-{uuid.uuid4().hex[:6]}"


def _to_sitk(array: np.ndarray, geometry: Geometry):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing([float(s) for s in geometry.spacing])
    image.SetOrigin([float(o) for o in geometry.origin])
    image.SetDirection([float(d) for d in geometry.direction])
    return image


def _geometry_of(image, spacing_known: bool) -> Geometry:
    return Geometry(
        spacing=tuple(float(s) for s in image.GetSpacing()),
        origin=tuple(float(o) for o in image.GetOrigin()),
        direction=tuple(float(d) for d in image.GetDirection()),
        spacing_known=spacing_known,
    )


def _frame_and_geometry(image: Cine | np.ndarray, geometry: Geometry | None) -> tuple[np.ndarray, Geometry]:
    if isinstance(image, Cine):
        if image.n_frames != 1:
            raise InputError(f"a training case is one frame, got {image.n_frames} frames (use cine.frame(t))")
        return np.asarray(image.image[0], dtype=np.float32), geometry or image.geometry
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3:
        raise InputError(f"a training image must be one 3D frame (Z, Y, X), got shape {array.shape}")
    if geometry is None:
        raise InputError("an image given as an array needs its Geometry")
    return array, geometry


class TrainingSet:
    """Corrected frames in ``folder``: ``add``, ``cases``, ``remove``, ``load``, ``load_all``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser()
        if self.folder.exists() and not self.folder.is_dir():
            raise InputError(f"training-set path {self.folder} is a file, not a folder")

    @property
    def cases_dir(self) -> Path:
        return self.folder / "cases"

    def add(
        self,
        image: Cine | np.ndarray,
        label: np.ndarray,
        provenance: Provenance | dict | None = None,
        geometry: Geometry | None = None,
        structures: tuple[int, ...] = (labels.LV, labels.MYO, labels.RV),
        labelled_slices: list[int] | None = None,
    ) -> str:
        """Store one frame and its canonical label map; returns the new case id.

        ``labelled_slices`` lists the slices the user checked (default: all); other slices
        are stored but count as unlabelled, not background, for training.
        """
        frame, geometry = _frame_and_geometry(image, geometry)
        label = np.asarray(label)
        if label.ndim == 4 and label.shape[0] == 1:
            label = label[0]
        if label.shape != frame.shape:
            raise InputError(f"label shape {label.shape} differs from image shape {frame.shape}")
        if not np.all(np.isfinite(frame)):
            raise InputError("the image holds NaN or infinite values")
        label = labels.to_canonical(label, "canonical")
        if not label.any():
            raise InputError("the label map is empty: segment or correct the frame before adding it")
        structures = tuple(int(s) for s in structures)
        if not set(structures) <= set(labels.NAMES):
            raise InputError(f"structures must be canonical labels {sorted(labels.NAMES)}, got {structures}")
        slices = list(range(frame.shape[0])) if labelled_slices is None else sorted({int(z) for z in labelled_slices})
        if any(not 0 <= z < frame.shape[0] for z in slices):
            raise InputError(f"labelled slices {slices} outside 0..{frame.shape[0] - 1}")
        if isinstance(provenance, dict):
            provenance = Provenance.from_dict(provenance)
        provenance = provenance or Provenance()
        if not provenance.created:
            provenance = Provenance(**{**asdict(provenance), "created": datetime.now(timezone.utc).isoformat()})

        case_id = _new_case_id(provenance)
        final = self.cases_dir / case_id
        if final.exists():
            raise OutputExistsError(f"training case {final} already exists")
        self.cases_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{case_id}.", dir=self.cases_dir))
        try:
            self._write_case(staging, case_id, frame, label, geometry, structures, slices, provenance)
            os.rename(staging, final)  # atomic; fails rather than replacing an existing case
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        log.info("added training case %s (%s)", case_id, provenance.source)
        return case_id

    @staticmethod
    def _write_case(folder, case_id, frame, label, geometry, structures, slices, provenance) -> None:
        import SimpleITK as sitk

        sitk.WriteImage(_to_sitk(frame, geometry), str(folder / IMAGE_FILE), useCompression=True)
        sitk.WriteImage(_to_sitk(label.astype(np.uint8), geometry), str(folder / LABEL_FILE), useCompression=True)
        record = {
            "format_version": FORMAT_VERSION,
            "case_id": case_id,
            "shape": list(frame.shape),
            "spacing_known": bool(geometry.spacing_known),
            "structures": list(structures),
            "labelled_slices": slices,
            "label_voxels": {labels.NAMES[v]: int((label == v).sum()) for v in labels.NAMES},
            "provenance": asdict(provenance),
        }
        (folder / CASE_FILE).write_text(json.dumps(record, indent=2))

    def _record(self, case_id: str) -> dict:
        path = self.cases_dir / case_id / CASE_FILE
        if not path.is_file():
            raise InputError(f"no training case {case_id!r} in {self.folder}")
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"training case {path.parent} has an unreadable {CASE_FILE}: {exc}") from exc
        if record.get("format_version", 0) > FORMAT_VERSION:
            raise InputError(f"training case {path.parent} was written by a newer CardiacSSL")
        return record

    def cases(self) -> list[CaseInfo]:
        """All complete cases, oldest first."""
        if not self.cases_dir.is_dir():
            return []
        infos = []
        for folder in self.cases_dir.iterdir():
            if folder.name.startswith(".") or not (folder / CASE_FILE).is_file():
                continue  # staging folders of writes in progress (or interrupted)
            record = self._record(folder.name)
            infos.append(
                CaseInfo(
                    case_id=folder.name,
                    folder=folder,
                    shape=tuple(record["shape"]),
                    spacing=tuple(self._spacing(folder)),
                    spacing_known=bool(record.get("spacing_known", True)),
                    structures=tuple(record.get("structures", (1, 2, 3))),
                    label_voxels=dict(record.get("label_voxels", {})),
                    provenance=Provenance.from_dict(record.get("provenance", {})),
                )
            )
        return sorted(infos, key=lambda c: (c.provenance.created, c.case_id))

    @staticmethod
    def _spacing(folder: Path) -> tuple[float, ...]:
        import SimpleITK as sitk

        reader = sitk.ImageFileReader()
        reader.SetFileName(str(folder / IMAGE_FILE))
        reader.ReadImageInformation()
        return tuple(float(s) for s in reader.GetSpacing())

    def __len__(self) -> int:
        return len(self.cases())

    def remove(self, case_id: str) -> None:
        folder = self.cases_dir / case_id
        if not case_id or case_id.startswith(".") or folder.parent != self.cases_dir or not folder.is_dir():
            raise InputError(f"no training case {case_id!r} in {self.folder}")
        # rename first so a crash mid-delete leaves a hidden folder, never a half case
        trash = self.cases_dir / f".deleted-{case_id}-{uuid.uuid4().hex[:6]}"
        os.rename(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def load(self, case_id: str) -> Cine:
        """One case as a labelled one-frame cine in its native geometry."""
        import SimpleITK as sitk

        record = self._record(case_id)
        folder = self.cases_dir / case_id
        try:
            image = sitk.ReadImage(str(folder / IMAGE_FILE))
            label = sitk.ReadImage(str(folder / LABEL_FILE))
        except RuntimeError as exc:
            raise InputError(f"training case {folder} is damaged: {exc}") from exc
        known = bool(record.get("spacing_known", True))
        geometry = _geometry_of(image, known)
        if not geometry.isclose(_geometry_of(label, known)):
            raise InputError(f"training case {folder}: image and label geometries differ")
        array = sitk.GetArrayFromImage(image).astype(np.float32)
        label_array = labels.to_canonical(sitk.GetArrayFromImage(label), "canonical")
        if array.shape != label_array.shape:
            raise InputError(f"training case {folder}: image and label sizes differ")
        labelled = np.zeros((1, array.shape[0]), dtype=bool)
        labelled[0, record.get("labelled_slices", list(range(array.shape[0])))] = True
        provenance = Provenance.from_dict(record.get("provenance", {}))
        return Cine(
            image=array[None],
            geometry=geometry,
            label=label_array[None],
            labelled=labelled,
            structures=tuple(record.get("structures", (1, 2, 3))),
            source=provenance.source,
            name=case_id,
            meta={"case_id": case_id, "provenance": asdict(provenance)},
        )

    def load_all(self) -> list[Cine]:
        return [self.load(c.case_id) for c in self.cases()]
