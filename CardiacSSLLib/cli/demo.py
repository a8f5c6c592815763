"""``cardiacssl demo``: segment the embedded beating-heart phantom with the default model."""

from __future__ import annotations

import argparse

from CardiacSSLLib.cli.common import add_progress_args, output_folder


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="segment the built-in phantom cine: no data needed")
    p.add_argument("--model", default="default", help="registry name (see `cardiacssl models`) or checkpoint path")
    p.add_argument("--out", default="cardiacssl_demo", help="output folder")
    p.add_argument("--frames", default="all", help="all | ed-es | comma list of frame indices")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs in --out")
    add_progress_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from CardiacSSLLib.cli.segment import print_summary, segment_to_folder
    from CardiacSSLLib.phantom import make_phantom

    cine = make_phantom()
    args.input = "phantom"
    args.format, args.tta, args.no_cleanup, args.series = "nii.gz", False, False, None
    with output_folder(args.out, args.overwrite, ["segmentation.nii.gz", "metrics.csv", "overlay.png"]) as out:
        summary = segment_to_folder(cine, args, out)
    print_summary(summary, args.json_progress)
    if not args.json_progress:
        truth = cine.meta
        print(
            f"phantom truth: LV EF {truth['ef_percent']['LV']:.1f} %, RV EF {truth['ef_percent']['RV']:.1f} %, "
            f"LV mass {truth['lv_mass_ed_g']:.1f} g (ED frame {truth['ed_frame']}, ES frame {truth['es_frame']})"
        )
    return 0
