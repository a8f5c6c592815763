"""``cardiacssl demo``: segment the embedded beating-heart phantom with the default model."""

from __future__ import annotations

import argparse

from CardiacSSLLib.cli.common import add_progress_args, prepare_out_dir


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="segment the built-in phantom cine: no data needed")
    p.add_argument("--model", default="default")
    p.add_argument("--out", default="cardiacssl_demo")
    p.add_argument("--frames", default="all")
    p.add_argument("--overwrite", action="store_true")
    add_progress_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from CardiacSSLLib.cli.segment import print_summary, segment_to_folder
    from CardiacSSLLib.phantom import make_phantom

    cine = make_phantom()
    args.input = "phantom"
    args.format, args.tta, args.no_cleanup, args.series = "nii.gz", False, False, None
    out = prepare_out_dir(args.out, args.overwrite, ["segmentation.nii.gz", "metrics.csv", "overlay.png"])
    summary = segment_to_folder(cine, args, out)
    print_summary(summary, args.json_progress)
    if not args.json_progress and "true_volumes_ml" in cine.meta:
        print("(phantom truth: LV EF {:.1f} %)".format(cine.meta.get("true_lv_ef_pct", float("nan"))))
    return 0
