"""``cardiacssl propagate``: carry corrected frames to the other phases of a cine; corrected frames untouched."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from CardiacSSLLib.cli.common import add_progress_args, make_progress, prepare_out_dir
from CardiacSSLLib.propagation.methods import DEFAULT_METHOD, METHODS


def add_parser(sub) -> None:
    p = sub.add_parser("propagate", help="carry corrected frame(s) of a label map to the other phases of the cine")
    p.add_argument("input", help="the cine (any format `cardiacssl segment` reads)")
    p.add_argument("--labels", required=True, help="label map of every frame (e.g. segmentation.nii.gz, corrected)")
    p.add_argument("--corrected-frames", required=True, help="comma list of the frames the user corrected (kept as is)")
    p.add_argument("--frames", default="all", help="frames to update: all (default) or a comma list")
    p.add_argument(
        "--method",
        default=DEFAULT_METHOD,
        choices=METHODS,
        help="calibrate: weigh the model's classes to agree with the corrected frames and re-segment the others "
        "(default, best on ACDC); fused: registration fused with the labels' own edges; registration: warped "
        "labels only; adapt: fine-tune the model on the corrected frames and re-segment",
    )
    p.add_argument("--band-mm", type=float, default=None, help="fused: width of the band where the labels' edges win")
    p.add_argument("--direct", action="store_true", help="register each frame to the corrected one directly (no chain)")
    p.add_argument("--model", default="default", help="calibrate, adapt: the model that re-segments")
    p.add_argument("--convention", default="canonical", help="label convention of --labels: canonical, acdc, mnms")
    p.add_argument("--series", help="DICOM SeriesInstanceUID when the folder holds several cine series")
    p.add_argument("--out", default="propagated", help="output folder (default ./propagated)")
    p.add_argument("--format", default="nii.gz", choices=["nii.gz", "nii", "nrrd"], help="label map file format")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs in --out")
    add_progress_args(p)
    p.set_defaults(run=run)


def _frames(spec: str, n: int, what: str) -> list[int] | None:
    from CardiacSSLLib.errors import InputError

    if spec.strip().lower() == "all":
        return None
    try:
        frames = [int(f) for f in spec.split(",") if f.strip()]
    except ValueError as exc:
        raise InputError(f"{what} must be a comma list of frame indices, got {spec!r}") from exc
    bad = [f for f in frames if not 0 <= f < n]
    if bad or not frames:
        raise InputError(f"{what} {bad or spec!r} out of range: this cine has {n} frames")
    return frames


def run(args: argparse.Namespace) -> int:
    from CardiacSSLLib.errors import InputError
    from CardiacSSLLib.io import load_cine, load_label_file, write_segmentation
    from CardiacSSLLib.progress import CancelToken
    from CardiacSSLLib.propagation.methods import propagate_cine

    cine = load_cine(args.input, series=args.series)
    labels, _ = load_label_file(args.labels, args.convention, expect=cine)
    if labels.ndim == 3 or labels.shape[0] != cine.n_frames:
        raise InputError(f"--labels must hold every frame of the cine ({cine.n_frames}); it holds {labels.shape}")
    corrected = _frames(args.corrected_frames, cine.n_frames, "--corrected-frames")
    if corrected is None:
        raise InputError("--corrected-frames must name the corrected frames, e.g. 0")
    targets = _frames(args.frames, cine.n_frames, "--frames")
    target = f"propagated.{args.format}"
    out = prepare_out_dir(args.out, args.overwrite, [target])
    if (out / target).resolve() == Path(args.labels).resolve():
        raise InputError("the output would replace --labels: choose another --out")
    cancel = CancelToken()
    restore = cancel.install_signal_handlers()
    progress = make_progress(args, total=1, description="propagate")
    try:
        new = propagate_cine(
            cine, labels, corrected, targets, args.method, args.model, args.device, args.band_mm,
            chain=not args.direct, progress=progress, cancel=cancel,
        )  # fmt: skip
    finally:
        progress.close()
        restore()
    path = write_segmentation(new, cine, out / target, args.overwrite)
    changed = [int(t) for t in range(cine.n_frames) if (new[t] != labels[t]).any()]
    summary = {"segmentation": str(path), "corrected_frames": corrected, "changed_frames": changed}
    print(
        json.dumps({"event": "done", **summary})
        if args.json_progress
        else f"propagated: {path} (frames changed: {changed})"
    )
    return 0
