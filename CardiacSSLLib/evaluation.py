"""Evaluate a segmentation model on labelled studies: ACDC splits, Sunnybrook, a user's folder.

Every source becomes a :class:`LabelledStudy` (a cine with manual labels and its ED and
ES frames); :func:`evaluate_studies` segments the ED and ES frames and reports

- 3D Dice / HD95 / ASSD per structure at ED and at ES separately
  (:mod:`CardiacSSLLib.metrics.segmentation`; distances in mm when spacing is known);
- per patient, the clinical quantities of the model and of the manual labels (LV EDV,
  ESV, SV, EF, mass; RV EDV, ESV, EF) and their agreement (bias, 95 % limits, MAE, r),
  overall and per diagnostic group (:mod:`CardiacSSLLib.metrics.agreement`).

ACDC (SSL4MIS HDF5) takes spacing, group and ED/ES from the dataset's ``acdc_info.csv``;
without it, distances are in pixels and no clinical quantity is computed. Sunnybrook has
no RV labels and its end-systolic images mostly carry the endocardial contour only: RV
is not scored there and ES is scored on the LV of the contoured slices.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from CardiacSSLLib.cine import Cine
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.labels import LV, MYO, RV
from CardiacSSLLib.progress import CancelToken, Progress

log = logging.getLogger(__name__)


@dataclass
class LabelledStudy:
    """A cine with manual labels on (at least) its ED frame."""

    cine: Cine
    ed: int
    es: int | None
    group: str = ""
    lv_labelled: np.ndarray | None = None  # (T, Z) slices whose LV is annotated; default cine.labelled
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.cine.name

    def lv_mask(self, t: int) -> np.ndarray:
        return (self.lv_labelled if self.lv_labelled is not None else self.cine.labelled)[t]


# --------------------------------------------------------------------------- sources


def acdc_split_studies(root: str | Path, split: str = "test", limit: int | None = None) -> Iterator[LabelledStudy]:
    """One two-frame (ED, ES) study per patient of an SSL4MIS ACDC split, in list order."""
    from CardiacSSLLib.engine.sources import acdc_volumes
    from CardiacSSLLib.io.datasets import read_list

    patients: dict[str, list[str]] = {}
    for name in read_list(root, split):
        patients.setdefault(name.split("_")[0], []).append(name)
    for pid in list(patients)[:limit]:
        frames = {n.rsplit("_", 1)[-1]: n for n in patients[pid]}
        if "frame01" not in frames:
            raise InputError(f"ACDC split {split} lists {pid} without its ED volume (frame01)")
        names = [frames["frame01"]] + ([frames["frame02"]] if "frame02" in frames else [])
        vols = acdc_volumes(root, names)
        if len({v.image.shape for v in vols}) != 1:
            raise InputError(f"{pid}: ED and ES volumes have different shapes")
        first = vols[0]
        cine = Cine(
            image=np.concatenate([v.image for v in vols]),
            geometry=first.geometry,
            label=np.concatenate([v.label for v in vols]),
            source=str(Path(root) / "data"),
            name=pid,
            meta={**first.meta, "phase": None},
        )
        yield LabelledStudy(cine, 0, 1 if len(vols) > 1 else None, group=first.meta.get("group", ""))


def sunnybrook_studies(root: str | Path, limit: int | None = None) -> Iterator[LabelledStudy]:
    """Each Sunnybrook cine; ED/ES = the LV-contoured frames of largest / smallest manual LV volume."""
    from CardiacSSLLib.io.datasets import list_sunnybrook, load_sunnybrook

    for scd in list_sunnybrook(root)[:limit]:
        cine = load_sunnybrook(root, scd)
        lv_labelled = cine.meta["lv_labelled"]
        ed, es = _ed_es_from_labels(cine, lv_labelled)
        yield LabelledStudy(cine, ed, es, lv_labelled=lv_labelled)


def folder_studies(folder: str | Path, convention: str | None = None) -> Iterator[LabelledStudy]:
    """Labelled cines in ``folder`` (itself, or each entry): ACDC patient and M&Ms subject folders.

    ED/ES come from the dataset's own metadata (ACDC ``Info.cfg``, M&Ms csv) when present,
    else from the labelled frames (largest / smallest manual LV volume).
    """
    from CardiacSSLLib.io import load_cine

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"--data must be a folder of labelled studies, got {folder}")
    candidates = [folder] if _is_labelled_layout(folder) else sorted(p for p in folder.iterdir() if p.is_dir())
    found = False
    for path in candidates:
        if not _is_labelled_layout(path):
            continue
        cine = load_cine(path, label_convention=convention)
        if cine.label is None or not cine.labelled.any():
            log.warning("%s has no manual labels: skipped", path)
            continue
        found = True
        ed, es = cine.meta.get("ed_frame"), cine.meta.get("es_frame")
        labelled = cine.labelled_frames()
        if ed not in labelled:
            ed, es = _ed_es_from_labels(cine, cine.labelled)
        elif es not in labelled:
            es = None
        group = str(cine.meta.get("info", {}).get("Group", ""))
        yield LabelledStudy(cine, ed, es, group=group)
    if not found:
        raise InputError(
            f"no labelled study in {folder}: expected ACDC patient folders "
            "(patientNNN_4d.nii.gz or _frameNN.nii.gz, with _gt files) "
            "or M&Ms subject folders (<id>_sa.nii.gz + <id>_sa_gt.nii.gz)"
        )


def _is_labelled_layout(path: Path) -> bool:
    from CardiacSSLLib.io.datasets import is_acdc_patient, is_mnms_subject

    return is_acdc_patient(path) or is_mnms_subject(path)


def _ed_es_from_labels(cine: Cine, mask: np.ndarray) -> tuple[int, int | None]:
    frames = [int(t) for t in np.flatnonzero(mask.any(axis=1))]
    if not frames:
        raise InputError(f"{cine.name}: no annotated frame")
    volumes = [int(((cine.label[t] == LV) & mask[t][:, None, None]).sum()) for t in frames]
    ed = frames[int(np.argmax(volumes))]
    es = frames[int(np.argmin(volumes))] if len(frames) > 1 else None
    return ed, (None if es == ed else es)


# --------------------------------------------------------------------------- scoring


def _score_phase(study: LabelledStudy, t: int, pred: np.ndarray) -> dict | None:
    """Dice/HD95/ASSD of one frame on its annotated slices (LV only where only LV is annotated)."""
    from CardiacSSLLib.metrics.segmentation import score_volume

    cine = study.cine
    full = cine.labelled[t]
    if full.any():
        structures = [s for s in cine.structures if s in (LV, MYO, RV)]
        return score_volume(pred, cine.label[t], cine.geometry, structures, full)
    lv = study.lv_mask(t)
    if lv.any():
        return score_volume(np.where(pred == LV, LV, 0), np.where(cine.label[t] == LV, LV, 0), cine.geometry, [LV], lv)
    return None


def _clinical(study: LabelledStudy, pred: dict[int, np.ndarray]) -> dict | None:
    from CardiacSSLLib.metrics.agreement import clinical_quantities

    cine = study.cine
    if not cine.geometry.spacing_known:
        return None
    ed, es = study.ed, study.es
    masks = {"ed_mask": study.lv_mask(ed), "es_mask": None if es is None else study.lv_mask(es)}
    structures = tuple(cine.structures)

    def quantities(ed_map, es_map):
        return clinical_quantities(ed_map, es_map, cine.geometry, structures, **masks)

    return {
        "model": quantities(pred[ed], None if es is None else pred[es]),
        "manual": quantities(cine.label[ed], None if es is None else cine.label[es]),
    }


def score_study(study: LabelledStudy, pred: dict[int, np.ndarray]) -> tuple[list[dict], dict | None]:
    """Per-phase scores and the model/manual clinical quantities of one study.

    ``pred`` maps the study's ED (and ES) frame index to its predicted ``(Z, Y, X)`` map.
    """
    cases = []
    for phase, t in (("ED", study.ed), ("ES", study.es)):
        if t is None:
            continue
        score = _score_phase(study, t, pred[t])
        if score is not None:
            cases.append({"case": study.name, "phase": phase, "frame": t, "group": study.group, **score})
    clinical = _clinical(study, pred)
    patient = None if clinical is None else {"case": study.name, "group": study.group, **clinical}
    return cases, patient


def summarise(dataset: str, cases: list[dict], patients: list[dict]) -> dict:
    """The result dict of :func:`evaluate_studies` from scored cases and patients."""
    from CardiacSSLLib.metrics.agreement import agreement_table
    from CardiacSSLLib.metrics.segmentation import score_cases

    if not cases:
        raise InputError(f"{dataset}: no annotated frame to score")
    notes = [] if patients else ["pixel spacing unknown: distances in pixels, no volumes, EF or mass"]
    phases = [ph for ph in ("ED", "ES") if any(c["phase"] == ph for c in cases)]
    return {
        "dataset": dataset,
        "cases": cases,
        "summary": score_cases(cases),
        "summary_by_phase": {ph: score_cases([c for c in cases if c["phase"] == ph]) for ph in phases},
        "patients": patients,
        "agreement": agreement_table(patients),
        "notes": notes,
    }


def predict_study(
    net, study: LabelledStudy, device: str = "auto", tta: bool = False, cleanup=True, precision: str = "auto"
):
    """``{frame: (Z, Y, X) label map}`` of the study's ED and ES frames."""
    from CardiacSSLLib.inference import segment_cine

    frames = [study.ed] + ([study.es] if study.es is not None else [])
    out = segment_cine(net, study.cine, frames=frames, device=device, tta=tta, cleanup=cleanup, precision=precision)
    if RV not in study.cine.structures:
        out[out == RV] = 0  # unannotated structure: its predictions are not errors
    return dict(zip(frames, out, strict=True))


def evaluate_studies(
    model,
    studies: Iterable[LabelledStudy],
    dataset: str,
    device: str = "auto",
    tta: bool = False,
    total: int | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    precision: str = "auto",
) -> dict:
    """Segment ED and ES of each study and score them; see the module docstring. The result
    names the inference precision that ran (``auto`` is bf16 on some CPUs, fp32 on others)."""
    from CardiacSSLLib.device import inference_precision, resolve_device
    from CardiacSSLLib.inference import load_model

    ran = inference_precision(resolve_device(device), precision)
    net, _ = load_model(model)
    if progress is not None and total is not None:
        progress.total = total
    cases, patients = [], []
    for i, study in enumerate(studies):
        if cancel is not None:
            cancel.check()
        study_cases, patient = score_study(study, predict_study(net, study, device, tta, precision=precision))
        cases += study_cases
        if patient is not None:
            patients.append(patient)
        if progress is not None:
            progress.step(i + 1, case=study.name)
    return {**summarise(dataset, cases, patients), "precision": ran}


def evaluate_acdc(
    model,
    root: str | Path,
    split: str = "test",
    device: str = "auto",
    tta: bool = False,
    limit: int | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    precision: str = "auto",
) -> dict:
    """:func:`evaluate_studies` over the patients of an ACDC split (``limit``: the first N patients)."""
    from CardiacSSLLib.io.datasets import read_list

    n = len({name.split("_")[0] for name in read_list(root, split)})
    studies = acdc_split_studies(root, split, limit)
    return evaluate_studies(
        model, studies, f"acdc:{split}", device, tta, min(n, limit or n), progress, cancel, precision
    )


def evaluate_sunnybrook(
    model,
    root: str | Path,
    device: str = "auto",
    tta: bool = False,
    limit: int | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    precision: str = "auto",
) -> dict:
    """:func:`evaluate_studies` over the Sunnybrook cines (LV and MYO; spacing known)."""
    from CardiacSSLLib.io.datasets import list_sunnybrook

    n = len(list_sunnybrook(root))
    studies = sunnybrook_studies(root, limit)
    return evaluate_studies(model, studies, "sunnybrook", device, tta, min(n, limit or n), progress, cancel, precision)


def evaluate_folder(
    model,
    folder: str | Path,
    convention: str | None = None,
    device: str = "auto",
    tta: bool = False,
    limit: int | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
    precision: str = "auto",
) -> dict:
    """:func:`evaluate_studies` over the labelled studies of a user's folder."""
    studies = itertools.islice(folder_studies(folder, convention), limit)
    return evaluate_studies(model, studies, Path(folder).name, device, tta, limit, progress, cancel, precision)
