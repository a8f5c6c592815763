"""``cardiacssl metrics``: clinical volumes, EF and mass from a segmentation file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from CardiacSSLLib.cli.common import prepare_out_dir


def add_parser(sub) -> None:
    p = sub.add_parser("metrics", help="EDV/ESV/SV/EF (LV, RV) and LV mass from a label map (3D or 4D)")
    p.add_argument("segmentation", help="label map (.nii/.nii.gz/.nrrd/.seg.nrrd), one or several frames")
    p.add_argument("--convention", default="canonical", help="label convention: canonical, acdc, mnms")
    p.add_argument("--trigger-times", help="comma-separated frame times in ms (optional)")
    p.add_argument("--out", help="folder for metrics.csv, metrics.json and volume_curve.png")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs in --out")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from CardiacSSLLib.errors import InputError
    from CardiacSSLLib.io import load_label_file
    from CardiacSSLLib.io.volumes import frame_times_ms
    from CardiacSSLLib.metrics.clinical import clinical_metrics
    from CardiacSSLLib.metrics.plots import plot_volume_curve

    label, geometry = load_label_file(args.segmentation, args.convention)
    if label.ndim == 3:
        label = label[None]
    times = None
    if args.trigger_times:
        try:
            times = [float(t) for t in args.trigger_times.split(",")]
        except ValueError as exc:
            raise InputError("--trigger-times must be comma-separated numbers") from exc
    elif label.shape[0] > 1:
        found = frame_times_ms(Path(args.segmentation), label.shape[0])  # a 4D NIfTI's time step
        times = None if found is None else [float(t) for t in found]
    result = clinical_metrics(label, geometry, times)
    if args.out:
        out = prepare_out_dir(args.out, args.overwrite, ["metrics.csv", "metrics.json"])
        result.to_csv(out / "metrics.csv", overwrite=args.overwrite)
        result.to_json(out / "metrics.json", overwrite=args.overwrite)
        if label.shape[0] > 1:
            plot_volume_curve(result, out / "volume_curve.png", overwrite=args.overwrite)
    if args.json:
        print(json.dumps(result.to_dict(), default=float, indent=1))
    else:
        for k, v in result.summary().items():
            if isinstance(v, float):
                v = f"{v:.4g}" if k == "voxel_volume_ml" else f"{v:.1f}"  # ~0.001 ml would print as 0.0
            print(f"{k:<16} {v}")
        for note in result.notes:
            print(f"note: {note}")
    return 0
