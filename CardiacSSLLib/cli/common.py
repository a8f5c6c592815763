"""Shared command-line plumbing: logging, progress streams, output folders, error -> exit code."""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from CardiacSSLLib.errors import InputError, OutputExistsError
from CardiacSSLLib.progress import Progress

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_MODEL, EXIT_CANCELLED = 0, 1, 2, 3, 130


def add_progress_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--json-progress",
        action="store_true",
        help="print one JSON object per step on stdout (for the Slicer module and scripts)",
    )
    p.add_argument("--device", default="auto", help="auto (GPU if usable, else CPU), cpu, gpu, cuda:N")


def make_progress(args: argparse.Namespace, total: int, description: str) -> Progress:
    return Progress(total=total, description=description, json_stream=sys.stdout if args.json_progress else None)


def prepare_out_dir(path: str | Path, overwrite: bool, names: list[str]) -> Path:
    """Create the output folder; refuse when any of ``names`` exists there unless ``overwrite``."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} exists and is not a folder")
    existing = [n for n in names if (out / n).exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{out} already holds {', '.join(existing)}: choose another --out or pass --overwrite")
    from CardiacSSLLib.metrics.output import ensure_writable_dir

    return ensure_writable_dir(out)


@contextlib.contextmanager
def output_folder(path: str | Path, overwrite: bool, names: list[str]) -> Iterator[Path]:
    """``prepare_out_dir``, and when the body fails, remove the folders this run created (never older ones)."""
    absolute = Path(path).absolute()
    first_new = next((p for p in (*reversed(absolute.parents), absolute) if not p.exists()), None)
    folder = prepare_out_dir(path, overwrite, names)
    try:
        yield folder
    except BaseException:
        if first_new is not None:
            shutil.rmtree(first_new, ignore_errors=True)
        raise


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def parse_frames(spec: str, n_frames: int) -> list[int] | str:
    """``all``, ``ed-es`` or a comma list of frame indices (negative counts from the end)."""
    spec = spec.strip().lower()
    if spec in ("all", "ed-es", "edes"):
        return "ed-es" if spec != "all" else list(range(n_frames))
    try:
        frames = [int(f) for f in spec.split(",") if f.strip()]
    except ValueError as exc:
        raise InputError(f"--frames must be 'all', 'ed-es' or indices like 0,7: got {spec!r}") from exc
    bad = [f for f in frames if not -n_frames <= f < n_frames]
    if bad or not frames:
        raise InputError(f"frames {bad or spec} out of range: this cine has {n_frames} frames")
    return [f % n_frames for f in frames]
