"""The worker-process side of a :class:`~CardiacSSLWorkflow.worker_job.WorkerJob`.

Every worker (segmentation, propagation, quality check) is ``python -m MODULE FOLDER
--json-progress``: JSON progress lines on stdout, Stop as SIGTERM between steps, one line on
stderr and the documented exit code on a bad request, 130 on an interrupt. Imports neither
``slicer`` nor Qt, so it runs in ``PythonSlicer``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def progress_and_cancel(description: str, json_progress: bool) -> Iterator[tuple]:
    """``(Progress, CancelToken)`` for one run; a Stop (SIGTERM) cancels between steps."""
    from CardiacSSLLib.progress import CancelToken, Progress

    progress = Progress(total=1, description=description, json_stream=sys.stdout if json_progress else None)
    cancel = CancelToken()
    restore = cancel.install_signal_handlers()
    try:
        yield progress, cancel
    finally:
        restore()
        progress.close()


def report_done(json_progress: bool, **fields) -> None:
    if json_progress:
        print(json.dumps({"event": "done", **fields}), flush=True)


def main(
    argv: list[str] | None,
    prog: str,
    label: str,
    run: Callable[[Path, bool], int],
    description: str,
    folder_help: str,
) -> int:
    """Parse ``FOLDER [--json-progress]``, call ``run`` and turn errors into ``label: message`` + exit code."""
    from CardiacSSLLib.cli.exit_codes import run_reporting_errors

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("folder", type=Path, help=folder_help)
    parser.add_argument("--json-progress", action="store_true")
    args = parser.parse_args(argv)
    # verbose: the front end shows a worker's stderr, so an unexpected failure keeps its traceback
    return run_reporting_errors(label, lambda: run(args.folder, args.json_progress), verbose=True)
