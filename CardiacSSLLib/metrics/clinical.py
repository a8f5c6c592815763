"""Clinical cardiac function from a canonical label map: volumes, ED/ES, EF, LV mass.

Volumes are voxel counts times the voxel volume (Simpson's slice summation on the
native grid), in millilitres; LV mass is the myocardial volume times 1.05 g/ml.
End-diastole (ED) is the frame of largest LV blood-pool volume, end-systole (ES) the
frame of smallest (first one on ties). The RV uses the LV's ED and ES frames (the
usual clinical convention when ED/ES come from the LV curve), so RV stroke volume and
EF are measured between the same two instants as the LV. When the label map has no RV
(Sunnybrook contours), RV values are NaN and :attr:`ClinicalResult.notes` says why.
With a single frame only volumes and ED values are reported (ES, SV and EF are NaN);
two frames (ED + ES, as in ACDC) are enough for everything.

Units: ml, g, percent (EF), milliseconds. Unknown spacing is refused
(:meth:`Geometry.voxel_volume_ml` raises :class:`InputError`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from CardiacSSLLib.cine import Geometry
from CardiacSSLLib.errors import InputError
from CardiacSSLLib.labels import LV, MYO, RV
from CardiacSSLLib.metrics.output import csv_cell, write_atomic

MYO_DENSITY_G_PER_ML = 1.05
CSV_COLUMNS = ("section", "quantity", "structure", "frame", "time_ms", "value", "unit")


@dataclass
class ClinicalResult:
    """Per-frame volumes and the ED/ES summary. Lists run over :attr:`frames`."""

    frames: list[int]
    times_ms: list[float] | None
    lv_volume_ml: list[float]
    myo_volume_ml: list[float]
    rv_volume_ml: list[float]
    ed_frame: int
    es_frame: int | None
    lv_edv_ml: float
    lv_esv_ml: float
    lv_sv_ml: float
    lv_ef_percent: float
    rv_edv_ml: float
    rv_esv_ml: float
    rv_sv_ml: float
    rv_ef_percent: float
    lv_mass_ed_g: float
    rv_present: bool
    voxel_volume_ml: float
    notes: list[str] = field(default_factory=list)

    @property
    def lv_mass_g(self) -> list[float]:
        return [v * MYO_DENSITY_G_PER_ML for v in self.myo_volume_ml]

    def time_of(self, frame: int) -> float | None:
        if self.times_ms is None or frame is None:
            return None
        return self.times_ms[self.frames.index(frame)]

    def summary(self) -> dict:
        return {
            k: v
            for k, v in asdict(self).items()
            if k not in ("frames", "times_ms", "lv_volume_ml", "myo_volume_ml", "rv_volume_ml", "notes")
        }

    def per_frame(self) -> list[dict]:
        rows = []
        for i, frame in enumerate(self.frames):
            rows.append(
                {
                    "frame": frame,
                    "time_ms": None if self.times_ms is None else self.times_ms[i],
                    "lv_volume_ml": self.lv_volume_ml[i],
                    "rv_volume_ml": self.rv_volume_ml[i],
                    "myo_volume_ml": self.myo_volume_ml[i],
                    "lv_mass_g": self.lv_mass_g[i],
                }
            )
        return rows

    def to_dict(self) -> dict:
        """``{"summary": {...}, "per_frame": [{...}, ...], "notes": [...]}``; NaN stays NaN."""
        return {"summary": self.summary(), "per_frame": self.per_frame(), "notes": list(self.notes)}

    def to_json(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write :meth:`to_dict` as JSON (NaN written as ``null``)."""
        text = json.dumps(_json_safe(self.to_dict()), indent=2, allow_nan=False)
        return write_atomic(path, text + "\n", overwrite)

    def csv_rows(self) -> list[dict]:
        """One tidy table: ``section`` is ``per_frame`` (volume/mass of each frame) or ``summary``."""
        rows = []
        for r in self.per_frame():
            base = {"section": "per_frame", "frame": r["frame"], "time_ms": r["time_ms"]}
            rows.append({**base, "quantity": "volume", "structure": "LV", "value": r["lv_volume_ml"], "unit": "ml"})
            rows.append({**base, "quantity": "volume", "structure": "RV", "value": r["rv_volume_ml"], "unit": "ml"})
            rows.append({**base, "quantity": "volume", "structure": "MYO", "value": r["myo_volume_ml"], "unit": "ml"})
            rows.append({**base, "quantity": "mass", "structure": "MYO", "value": r["lv_mass_g"], "unit": "g"})
        ed, es = self.ed_frame, self.es_frame
        for struct, prefix in (("LV", "lv"), ("RV", "rv")):
            for quantity, frame, unit in (("EDV", ed, "ml"), ("ESV", es, "ml"), ("SV", None, "ml"), ("EF", None, "%")):
                key = f"{prefix}_{quantity.lower()}_{'percent' if unit == '%' else 'ml'}"
                rows.append(_summary_row(quantity, struct, frame, self.time_of(frame), getattr(self, key), unit))
        rows.append(_summary_row("mass_ED", "MYO", ed, self.time_of(ed), self.lv_mass_ed_g, "g"))
        return rows

    def to_csv(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write :meth:`csv_rows` with columns :data:`CSV_COLUMNS`; NaN as ``nan``, missing as empty."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.csv_rows():
            writer.writerow({k: csv_cell(row[k]) for k in CSV_COLUMNS})
        return write_atomic(path, buf.getvalue(), overwrite)


def _summary_row(quantity: str, structure: str, frame: int | None, time: float | None, value: float, unit: str):
    return {
        "section": "summary",
        "quantity": quantity,
        "structure": structure,
        "frame": frame,
        "time_ms": time,
        "value": value,
        "unit": unit,
    }


def _json_safe(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _as_frames(label: np.ndarray) -> np.ndarray:
    label = np.asarray(label)
    if label.ndim == 3:
        label = label[None]
    if label.ndim != 4:
        raise InputError(f"clinical metrics need a (T, Z, Y, X) or (Z, Y, X) label map, got shape {label.shape}")
    if not np.issubdtype(label.dtype, np.integer):
        raise InputError(f"the label map must hold integers, got {label.dtype}: is this an image?")
    if label.size and (label.min() < 0 or label.max() > RV):
        raise InputError(f"label values must be canonical 0-3 (1 LV, 2 MYO, 3 RV), got {label.min()}..{label.max()}")
    return label


def _select_frames(n: int, frames: Sequence[int] | None) -> list[int]:
    if frames is None:
        return list(range(n))
    chosen = [int(f) for f in frames]
    if not chosen:
        raise InputError("no frames selected for clinical metrics")
    if len(set(chosen)) != len(chosen) or any(not 0 <= f < n for f in chosen):
        raise InputError(f"frames must be distinct indices in 0..{n - 1}, got {chosen}")
    return sorted(chosen)


def _function(edv: float, esv: float) -> tuple[float, float]:
    sv = edv - esv
    ef = 100.0 * sv / edv if edv > 0 else math.nan
    return sv, ef


def clinical_metrics(
    label: np.ndarray,
    geometry: Geometry,
    trigger_times_ms: Sequence[float] | None = None,
    frames: Sequence[int] | None = None,
) -> ClinicalResult:
    """Volumes, ED/ES, EDV/ESV/SV/EF (LV and RV) and LV mass at ED.

    ``label`` is canonical ``(T, Z, Y, X)`` (or one ``(Z, Y, X)`` frame); ``frames``
    restricts the analysis to some frame indices (e.g. the labelled ones); frame numbers
    in the result are indices into ``label``. ``trigger_times_ms`` has one entry per
    frame of ``label``.
    """
    voxel_ml = geometry.voxel_volume_ml()
    label = _as_frames(label)
    chosen = _select_frames(label.shape[0], frames)
    times = None
    if trigger_times_ms is not None:
        if len(trigger_times_ms) != label.shape[0]:
            raise InputError(f"{len(trigger_times_ms)} trigger times for {label.shape[0]} frames")
        times = [float(trigger_times_ms[f]) for f in chosen]

    counts = np.stack([np.bincount(label[f].ravel(), minlength=RV + 1)[: RV + 1] for f in chosen])
    lv, myo, rv = (counts[:, v] * voxel_ml for v in (LV, MYO, RV))
    if not lv.any():
        raise InputError("no LV blood pool (label 1) in the selected frames: ED and ES cannot be found")
    notes: list[str] = []
    i_ed = int(np.argmax(lv))
    i_es = int(np.argmin(lv)) if len(chosen) > 1 else None
    if i_es is None:
        notes.append("single frame: ES, stroke volume and EF need two frames (ED and ES); not reported (NaN)")
    lv_esv = float(lv[i_es]) if i_es is not None else math.nan
    lv_sv, lv_ef = _function(float(lv[i_ed]), lv_esv)

    rv_present = bool(rv.any())
    if rv_present:
        rv_edv = float(rv[i_ed])
        rv_esv = float(rv[i_es]) if i_es is not None else math.nan
        rv_sv, rv_ef = _function(rv_edv, rv_esv)
        rv_list = [float(v) for v in rv]
        notes.append("RV ED/ES are the LV's ED/ES frames")
    else:
        rv_edv = rv_esv = rv_sv = rv_ef = math.nan
        rv_list = [math.nan] * len(chosen)
        notes.append("no RV (label 3) in the label map: RV volumes and EF are not reported (NaN)")
    return ClinicalResult(
        frames=chosen,
        times_ms=times,
        lv_volume_ml=[float(v) for v in lv],
        myo_volume_ml=[float(v) for v in myo],
        rv_volume_ml=rv_list,
        ed_frame=chosen[i_ed],
        es_frame=None if i_es is None else chosen[i_es],
        lv_edv_ml=float(lv[i_ed]),
        lv_esv_ml=lv_esv,
        lv_sv_ml=lv_sv,
        lv_ef_percent=lv_ef,
        rv_edv_ml=rv_edv,
        rv_esv_ml=rv_esv,
        rv_sv_ml=rv_sv,
        rv_ef_percent=rv_ef,
        lv_mass_ed_g=float(myo[i_ed]) * MYO_DENSITY_G_PER_ML,
        rv_present=rv_present,
        voxel_volume_ml=voxel_ml,
        notes=notes,
    )
