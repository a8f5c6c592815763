"""``cardiacssl qc``: quality flags per slice and frame, a score, and what to correct first, as ``qc.csv``."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    p = sub.add_parser(
        "qc", help="flag slices and frames that are likely wrong; qc.csv ranked by what to correct first"
    )
    p.add_argument("input", help="the cine (any format `cardiacssl segment` reads)")
    p.add_argument("--labels", help="label map of every frame to check (default: segment with --model)")
    p.add_argument("--convention", default="canonical", help="label convention of --labels: canonical, acdc, mnms")
    p.add_argument("--model", default="default", help="model for the segmentation and the confidence flag")
    p.add_argument("--ed-frame", type=int, default=0, help="end-diastolic frame (default 0: ECG-triggered cines)")
    p.add_argument("--no-confidence", action="store_true", help="skip the flip-disagreement flag (2 model runs less)")
    p.add_argument("--series", help="DICOM SeriesInstanceUID when the folder holds several cine series")
    p.add_argument("--out", default=".", help="folder for qc.csv (default: here)")
    p.add_argument("--top", type=int, default=5, help="how many suggestions to print")
    p.add_argument("--overwrite", action="store_true", help="replace an existing qc.csv in --out")
    p.add_argument("--device", default="auto", help="auto (GPU if usable, else CPU), cpu, gpu, cuda:N")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from CardiacSSLLib.cli.common import prepare_out_dir
    from CardiacSSLLib.errors import InputError
    from CardiacSSLLib.io import load_cine, load_label_file
    from CardiacSSLLib.progress import CancelToken
    from CardiacSSLLib.quality.report import qc_rows, write_qc_csv
    from CardiacSSLLib.quality.run import assess_cine

    cine = load_cine(args.input, series=args.series)
    if not 0 <= args.ed_frame < cine.n_frames:
        raise InputError(f"--ed-frame {args.ed_frame} out of range: this cine has {cine.n_frames} frames")
    labels = None
    if args.labels:
        labels, _ = load_label_file(args.labels, args.convention, expect=cine)
        labels = labels if labels.ndim == 4 else labels[None]
        if labels.shape[0] != cine.n_frames:
            raise InputError(
                f"--labels must hold every frame of the cine ({cine.n_frames}); it holds {labels.shape[0]}"
            )
    out = prepare_out_dir(args.out, args.overwrite, ["qc.csv"])
    cancel = CancelToken()
    restore = cancel.install_signal_handlers()
    try:
        table, _ = assess_cine(
            args.model,
            cine,
            labels,
            ed_frame=args.ed_frame,
            confidence=not args.no_confidence,
            device=args.device,
            cancel=cancel,
        )
    finally:
        restore()
    path = write_qc_csv(table, out / "qc.csv", overwrite=args.overwrite)
    top = qc_rows(table)[: args.top]
    summary = {"qc": str(path), "next_frame": table.next_frame(), "next": top}
    if args.json:
        print(json.dumps(summary, default=float))
        return 0
    print(f"qc: {path}\nnext frame to correct: {table.next_frame()}")
    for row in top:
        print(f"  frame {row['frame']:>3} slice {row['slice']:>2}  score {row['score']:.3f}  {row['flags'] or '-'}")
    return 0
