"""Propagation in a separate process, like segmentation: progress, Stop, and the scene untouched until done.

:class:`PropagateProcess` writes a :class:`~CardiacSSLWorkflow.propagate_logic.PropagationRequest`
with :mod:`~CardiacSSLWorkflow.segment_worker`'s request format (plus the labels), runs
``python -m CardiacSSLWorkflow.propagate_process FOLDER --json-progress`` through the same
:class:`~CardiacSSLWorkflow.finetune_runner.SubprocessRunner`, and reads the proposal back with
:func:`~CardiacSSLWorkflow.segment_worker.read_prediction` only when the run succeeded. The
front end applies it (:func:`propagate_logic.apply`) and keeps ``proposal.before`` for Undo.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from CardiacSSLWorkflow.finetune_runner import ProcessRunner, RunResult
from CardiacSSLWorkflow.propagate_logic import PropagationProposal, PropagationRequest
from CardiacSSLWorkflow.segment_worker import (
    WorkerPrediction,
    read_prediction,
    read_request,
    write_prediction,
    write_request,
)
from CardiacSSLWorkflow.worker_job import WorkerJob

LABELS_FILE = "labels.npz"


def write_job(folder: str | Path, request: PropagationRequest) -> None:
    # the request's "mode" field carries the propagation method
    write_request(folder, request.cine, request.model, request.frames, request.method, request.device)
    np.savez(
        Path(folder) / LABELS_FILE,
        labels=request.labels.astype(np.uint8),
        corrected=np.asarray(request.corrected, dtype=int),
    )


def read_job(folder: str | Path) -> PropagationRequest:
    cine, meta = read_request(folder)
    with np.load(Path(folder) / LABELS_FILE, allow_pickle=False) as data:
        labels, corrected = np.array(data["labels"]), [int(f) for f in data["corrected"]]
    return PropagationRequest(cine, meta["frames"], labels, corrected, meta["mode"], meta["model"], meta["device"])


def propagate_command(folder: str | Path, python: str) -> list[str]:
    return [python, "-m", "CardiacSSLWorkflow.propagate_process", str(folder), "--json-progress"]


class PropagateProcess(WorkerJob):
    """``start(request)`` -> the runner reports progress -> ``finish(result)`` gives the proposal (or None)."""

    what = "Propagation"

    def __init__(self, runner: ProcessRunner | None = None, python: str | None = None) -> None:
        super().__init__(runner, python)
        self.request: PropagationRequest | None = None

    def start(self, request: PropagationRequest) -> None:
        def write(folder: Path) -> None:
            write_job(folder, request)
            self.request = request

        self._launch(write, propagate_command)

    def finish(self, result: RunResult) -> PropagationProposal | None:
        """The proposal of a successful run; None (nothing to apply) otherwise."""
        try:
            if not result.ok:
                return None
            found = read_prediction(self._folder)
            request = self.request
            return PropagationProposal(request.frames, request.labels.copy(), found.label, request.corrected)
        finally:
            self._cleanup()


def run(folder: Path, json_progress: bool) -> int:
    from CardiacSSLWorkflow.propagate_logic import compute
    from CardiacSSLWorkflow.worker_cli import progress_and_cancel, report_done

    request = read_job(folder)
    with progress_and_cancel("propagate", json_progress) as (progress, cancel):
        proposal = compute(request, progress=progress, cancel=cancel)
    write_prediction(folder, WorkerPrediction(proposal.frames, proposal.after, None))
    report_done(json_progress, changed=proposal.changed)
    return 0


def main(argv: list[str] | None = None) -> int:
    from CardiacSSLWorkflow.worker_cli import main as worker_main

    folder_help = "folder written by write_job; the proposal is written there"
    return worker_main(argv, "propagate_process", "propagate", run, __doc__.splitlines()[0], folder_help)


if __name__ == "__main__":
    sys.exit(main())
