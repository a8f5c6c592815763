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
        if {truth["ed_frame"], truth["es_frame"]} <= set(summary["frames"]):
            for line in _agreement_lines(cine, out, summary["frames"], args.model):
                print(line)
    return 0


def _agreement_lines(cine, out, frames: list[int], model: str) -> list[str]:
    """Why the model's numbers differ from the phantom's truth (measured), and its accuracy on real cines."""
    import numpy as np

    from CardiacSSLLib.cli.segment import frame_subset
    from CardiacSSLLib.errors import ModelError
    from CardiacSSLLib.io import load_label
    from CardiacSSLLib.phantom_agreement import compare_to_truth, explain
    from CardiacSSLLib.registry import resolve

    written = cine if len(frames) == cine.n_frames else frame_subset(cine, frames)
    label = np.zeros(cine.image.shape, dtype=np.uint8)
    label[frames] = load_label(out / "segmentation.nii.gz", written).reshape((len(frames), *cine.frame_shape))
    try:
        entry = resolve(model)
        name, summary = entry.name, entry.summary
    except ModelError:  # a checkpoint path outside the registry
        name, summary = model, None
    return explain(compare_to_truth(label, cine), name, summary)
