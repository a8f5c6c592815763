"""Segmentation in a separate process, so a long inference never blocks Slicer's GUI.

The front end writes the request (the cine as arrays + geometry, the model and the frames)
to a folder with :func:`write_request`, runs ``python -m CardiacSSLWorkflow.segment_worker
FOLDER --json-progress`` through the same :class:`~CardiacSSLWorkflow.finetune_runner.SubprocessRunner`
as fine-tuning (JSON progress lines, exit codes 0/2/3/130/1, cancel of the process tree),
and reads the prediction back with :func:`read_prediction` only when the run succeeded.
The worker imports neither ``slicer`` nor Qt: only CardiacSSLLib, so it runs in ``PythonSlicer``.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from CardiacSSLLib.cine import Cine, Geometry

REQUEST_FILE = "request.npz"
RESULT_FILE = "prediction.npz"


@dataclass
class WorkerPrediction:
    """What the worker found: the same fields as ``segment_logic.Prediction`` minus the cine."""

    frames: list[int]
    label: np.ndarray  # (len(frames), Z, Y, X) uint8 canonical
    ed_es: tuple[int, int] | None


def write_request(folder: str | Path, cine: Cine, model: str, frames: list[int], mode: str, device: str) -> Path:
    """The request of one run as ``folder/request.npz`` (plain arrays: no pickle)."""
    g = cine.geometry
    trigger = np.asarray([] if cine.trigger_times_ms is None else cine.trigger_times_ms, dtype=float)
    meta = {"model": str(model), "frames": [int(t) for t in frames], "mode": mode, "device": device}
    meta |= {"spacing_known": bool(g.spacing_known), "has_trigger": cine.trigger_times_ms is not None}
    path = Path(folder) / REQUEST_FILE
    np.savez(
        path,
        image=np.asarray(cine.image, dtype=np.float32),
        spacing=np.asarray(g.spacing, dtype=float),
        origin=np.asarray(g.origin, dtype=float),
        direction=np.asarray(g.direction, dtype=float),
        trigger=trigger,
        meta=np.asarray(json.dumps(meta)),
    )
    return path


def read_request(folder: str | Path) -> tuple[Cine, dict]:
    with np.load(Path(folder) / REQUEST_FILE, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        geometry = Geometry(
            spacing=tuple(float(v) for v in data["spacing"]),
            origin=tuple(float(v) for v in data["origin"]),
            direction=tuple(float(v) for v in data["direction"]),
            spacing_known=bool(meta["spacing_known"]),
        )
        trigger = np.array(data["trigger"]) if meta["has_trigger"] else None
        cine = Cine(image=np.array(data["image"]), geometry=geometry, trigger_times_ms=trigger)
    return cine, meta


def write_prediction(folder: str | Path, prediction: WorkerPrediction) -> Path:
    """Written under a temporary name, then renamed: a cancelled run never leaves half a result."""
    path = Path(folder) / RESULT_FILE
    partial = path.with_name("partial-" + path.name)
    ed_es = np.asarray(prediction.ed_es if prediction.ed_es is not None else [], dtype=int)
    with open(partial, "wb") as f:
        np.savez(
            f, frames=np.asarray(prediction.frames, dtype=int), label=prediction.label.astype(np.uint8), ed_es=ed_es
        )
    os.replace(partial, path)
    return path


def read_prediction(folder: str | Path) -> WorkerPrediction:
    with np.load(Path(folder) / RESULT_FILE, allow_pickle=False) as data:
        ed_es = tuple(int(v) for v in data["ed_es"]) or None
        return WorkerPrediction([int(t) for t in data["frames"]], np.array(data["label"]), ed_es)


def segment_command(folder: str | Path, python: str) -> list[str]:
    return [python, "-m", "CardiacSSLWorkflow.segment_worker", str(folder), "--json-progress"]


def run(folder: Path, json_progress: bool) -> int:
    from CardiacSSLLib.segment_frames import FRAMES_EDES, segment_frames
    from CardiacSSLWorkflow.worker_cli import progress_and_cancel, report_done

    cine, meta = read_request(folder)
    with progress_and_cancel("segment", json_progress) as (progress, cancel):
        run_frames = meta["frames"]
        choice = FRAMES_EDES if meta["mode"] == FRAMES_EDES else run_frames
        found = segment_frames(
            meta["model"], cine, choice, current=run_frames[0] if run_frames else 0,
            device=meta["device"], progress=progress, cancel=cancel,
        )  # fmt: skip
    write_prediction(folder, WorkerPrediction(list(found.frames), found.label, found.ed_es))
    report_done(json_progress, frames=list(found.frames), ed_es=found.ed_es)
    return 0


def main(argv: list[str] | None = None) -> int:
    from CardiacSSLWorkflow.worker_cli import main as worker_main

    folder_help = f"folder holding {REQUEST_FILE}; {RESULT_FILE} is written there"
    return worker_main(argv, "segment_worker", "segment", run, __doc__.splitlines()[0], folder_help)


if __name__ == "__main__":
    sys.exit(main())
