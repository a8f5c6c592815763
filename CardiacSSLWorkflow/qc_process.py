"""The quality check with the model-confidence flag in a separate process: progress, Stop, GUI free.

:class:`QualityProcess` writes a :class:`~CardiacSSLWorkflow.qc_logic.QualityRequest` with
:mod:`~CardiacSSLWorkflow.segment_worker`'s request format (plus the labels), runs
``python -m CardiacSSLWorkflow.qc_process FOLDER --json-progress`` through the same
:class:`~CardiacSSLWorkflow.finetune_runner.SubprocessRunner` as segmentation, and reads the
ranked rows (:func:`~CardiacSSLWorkflow.qc_logic.rows`, written atomically as JSON) back only
when the run succeeded. The worker imports neither ``slicer``, Qt nor VTK.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from CardiacSSLWorkflow.finetune_runner import RunResult
from CardiacSSLWorkflow.qc_logic import QualityRequest
from CardiacSSLWorkflow.segment_worker import read_request, write_request
from CardiacSSLWorkflow.worker_job import WorkerJob

LABELS_FILE = "labels.npz"
ROWS_FILE = "qc_rows.json"
MODE = "qc"  # the request's "mode" field: what the worker is asked for


def write_job(folder: str | Path, request: QualityRequest) -> None:
    write_request(folder, request.cine, request.model, request.frames, MODE, request.device)
    np.savez(Path(folder) / LABELS_FILE, labels=request.labels.astype(np.uint8))


def read_job(folder: str | Path) -> QualityRequest:
    from CardiacSSLLib.errors import InputError

    try:
        cine, meta = read_request(folder)
        with np.load(Path(folder) / LABELS_FILE, allow_pickle=False) as data:
            labels = np.array(data["labels"])
    except (OSError, KeyError, ValueError) as exc:  # missing or damaged files: say which folder, no traceback
        raise InputError(f"{folder} holds no readable quality-check request ({exc})") from exc
    if meta.get("mode") != MODE:
        raise InputError(f"{folder} holds a {meta.get('mode')!r} request, not a quality check")
    return QualityRequest(cine, meta["frames"], labels, meta["model"], meta["device"])


def write_rows(folder: str | Path, rows: list[dict]) -> Path:
    """Written under a temporary name, then renamed: a stopped run never leaves half a table."""
    path = Path(folder) / ROWS_FILE
    partial = path.with_name("partial-" + path.name)
    partial.write_text(json.dumps(rows))
    os.replace(partial, path)
    return path


def read_rows(folder: str | Path) -> list[dict]:
    return json.loads((Path(folder) / ROWS_FILE).read_text())


def qc_command(folder: str | Path, python: str) -> list[str]:
    return [python, "-m", "CardiacSSLWorkflow.qc_process", str(folder), "--json-progress"]


class QualityProcess(WorkerJob):
    """``start(request)`` -> the runner reports progress -> ``finish(result)`` gives the rows (or None)."""

    what = "Quality check"

    def start(self, request: QualityRequest) -> None:
        self._launch(lambda folder: write_job(folder, request), qc_command)

    def finish(self, result: RunResult) -> list[dict] | None:
        """The ranked rows of a successful run; None (keep what was shown) otherwise."""
        try:
            return read_rows(self._folder) if result.ok else None
        finally:
            self._cleanup()


def run(folder: Path, json_progress: bool) -> int:
    from CardiacSSLWorkflow import qc_logic
    from CardiacSSLWorkflow.worker_cli import progress_and_cancel, report_done

    request = read_job(folder)
    with progress_and_cancel("quality", json_progress) as (progress, cancel):
        rows = qc_logic.rows(qc_logic.compute(request, progress=progress, cancel=cancel, confidence=True))
        cancel.check()  # a Stop during the last step: no table
    write_rows(folder, rows)
    report_done(json_progress, rows=len(rows), flagged=sum(1 for r in rows if r["flags"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    from CardiacSSLWorkflow.worker_cli import main as worker_main

    folder_help = "folder written by write_job; the rows are written there"
    return worker_main(argv, "qc_process", "quality", run, __doc__.splitlines()[0], folder_help)


if __name__ == "__main__":
    sys.exit(main())
