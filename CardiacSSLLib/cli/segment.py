"""``cardiacssl segment``: segment a cine, write the label map in native geometry, metrics and overlay."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from CardiacSSLLib.cli.common import add_progress_args, make_progress, output_folder, parse_frames
from CardiacSSLLib.metrics.summary_rows import FRAME_KEYS, SUMMARY_ROWS
from CardiacSSLLib.suffixes import readable_files_text


def add_parser(sub) -> None:
    p = sub.add_parser("segment", help="segment a short-axis cine (DICOM folder, 4D NIfTI, NRRD, frames...)")
    p.add_argument(
        "input", help=f"DICOM folder, 4D image ({readable_files_text()}), folder of 3D frames, ACDC/M&Ms folder"
    )
    p.add_argument("--model", default="default", help="registry name (see `cardiacssl models`) or checkpoint path")
    p.add_argument("--frames", default="all", help="all | ed-es | comma list of frame indices")
    p.add_argument("--out", help="output folder (default: ./<input name>_cardiacssl)")
    p.add_argument(
        "--format", default="nii.gz", choices=["nii.gz", "nii", "nrrd", "seg.nrrd"], help="segmentation file format"
    )
    p.add_argument("--series", help="DICOM SeriesInstanceUID when the folder holds several cine series")
    p.add_argument("--tta", action="store_true", help="flip test-time augmentation (4x slower)")
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16"],
        help="auto: bf16 on a GPU and on CPUs that compute bf16 natively (same labels, ~2.5x faster), else fp32",
    )
    p.add_argument("--no-cleanup", action="store_true", help="keep all connected components")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs in --out")
    add_progress_args(p)
    p.set_defaults(run=run)


def segment_to_folder(cine, args, out: Path) -> dict:
    """Segment ``cine`` and write segmentation, metrics, overlay and curve into ``out``; returns a summary."""
    import numpy as np

    from CardiacSSLLib.segment_frames import segment_frames
    from CardiacSSLLib.stage_timer import timed

    timings: dict[str, float] = getattr(args, "timings", None)
    timings = {} if timings is None else timings
    choice = parse_frames(args.frames, cine.n_frames)
    progress = make_progress(args, total=1, description="segment")
    found = segment_frames(
        args.model,
        cine,
        choice,
        device=args.device,
        tta=args.tta,
        precision=getattr(args, "precision", "auto"),
        cleanup=not args.no_cleanup,
        with_metrics=True,
        progress=progress,
        timings=timings,
    )
    progress.close()
    run_frames, out_frames, result = found.run, found.frames, found.clinical
    full = np.zeros(cine.image.shape, dtype=np.uint8)
    full[run_frames] = found.run_label
    summary: dict = {"input": str(args.input), "frames": out_frames, "model": args.model}
    summary["metrics"] = result.to_dict() if result is not None else "not computed: pixel spacing unknown"
    seg_label = full[out_frames] if len(out_frames) < cine.n_frames else full
    seg_cine = cine if len(out_frames) == cine.n_frames else frame_subset(cine, out_frames)
    with timed(timings, "write"):
        summary["segmentation"] = _write(seg_label, seg_cine, out_frames, args, out)
    with timed(timings, "plots"):
        summary.update(_plots(cine, full, result, run_frames, out_frames, args, out))
    summary["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    return summary


def _write(seg_label, seg_cine, out_frames, args, out: Path) -> str:
    """The segmentation file(s); returns their paths as one string."""
    from CardiacSSLLib.io import write_segmentation

    if args.format == "seg.nrrd" and len(out_frames) > 1:
        # a Slicer .seg.nrrd holds one 3D segmentation: one file per frame
        paths = [
            write_segmentation(
                seg_label, seg_cine, out / f"segmentation_frame{t:02d}.seg.nrrd", args.overwrite, frame=i
            )
            for i, t in enumerate(out_frames)
        ]
        return ", ".join(str(p) for p in paths)
    return str(write_segmentation(seg_label, seg_cine, out / f"segmentation.{args.format}", args.overwrite))


def _plots(cine, full, result, run_frames, out_frames, args, out: Path) -> dict:
    """Overlay PNG, metrics CSV/JSON and the volume curve; returns their summary entries."""
    from CardiacSSLLib.metrics.plots import plot_volume_curve
    from CardiacSSLLib.overlay import save_overlay_png

    summary = {}
    save_overlay_png(cine, full, out / "overlay.png", frame=out_frames[0], overwrite=args.overwrite)
    summary["overlay"] = str(out / "overlay.png")
    if result is not None:
        result.to_csv(out / "metrics.csv", overwrite=args.overwrite)
        result.to_json(out / "metrics.json", overwrite=args.overwrite)
        if len(run_frames) > 1:
            plot_volume_curve(result, out / "volume_curve.png", overwrite=args.overwrite)
            summary["volume_curve"] = str(out / "volume_curve.png")
    return summary


def frame_subset(cine, frames):
    from dataclasses import replace

    return replace(
        cine,
        image=cine.image[frames],
        label=None,
        labelled=None,
        trigger_times_ms=None if cine.trigger_times_ms is None else cine.trigger_times_ms[frames],
        frame_names=None,
    )


def print_summary(summary: dict, json_mode: bool) -> None:
    if json_mode:
        print(json.dumps({"event": "done", **summary}, default=float))
        return
    m = summary.get("metrics")
    print(f"segmentation: {summary['segmentation']}")
    print(f"overlay:      {summary['overlay']}")
    if isinstance(m, dict):
        s = m.get("summary", m)
        print(f"clinical metrics (ED frame {s.get('ed_frame')}, ES frame {s.get('es_frame')}):")
        for key, name, unit in SUMMARY_ROWS:
            v = None if key in FRAME_KEYS else s.get(key)  # the frames are in the heading
            if isinstance(v, (int, float)):
                print(f"  {name:<13} {v:7.1f} {unit}")
        for note in m.get("notes", []):
            print(f"  note: {note}")
    else:
        print(f"metrics: {m}")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    from CardiacSSLLib.io import load_cine
    from CardiacSSLLib.stage_timer import timed

    args.timings = {}
    with timed(args.timings, "read"):
        cine = load_cine(args.input, series=args.series, allow_single_frame=True)  # a lone 3D volume: one frame
    name = cine.name or Path(args.input).name.split(".")[0]
    parse_frames(args.frames, cine.n_frames)  # a bad frame list is refused before any folder is made
    names = [f"segmentation.{args.format}", "metrics.csv", "metrics.json", "overlay.png"]
    with output_folder(args.out or f"{name}_cardiacssl", args.overwrite, names) as out:
        summary = segment_to_folder(cine, args, out)
    print_summary(summary, args.json_progress)
    return 0
