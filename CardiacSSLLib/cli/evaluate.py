"""``cardiacssl evaluate``: score a model on a dataset, or a segmentation file against ground truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from CardiacSSLLib.cli.common import add_progress_args, make_progress


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="Dice/HD95 at ED and ES and clinical agreement (EF, volumes, LV mass) of a model on labelled studies",
        description="Segment the ED and ES frames of labelled studies and compare with the manual labels: "
        "Dice/HD95/ASSD per structure and phase, and bias, 95%% limits of agreement, MAE and Pearson r of "
        "LV EDV/ESV/SV/EF/mass and RV EDV/ESV/EF (overall and per diagnostic group), with CSVs and "
        "Bland-Altman plots in --out.",
    )
    p.add_argument("--model", default="default", help="registry name or checkpoint path (default: the default model)")
    p.add_argument(
        "--acdc",
        help="ACDC in the SSL4MIS HDF5 layout (data/*.h5, *.list; spacing, group and ED/ES from acdc_info.csv)",
    )
    p.add_argument("--split", default="test", help="ACDC split: test, val, train")
    p.add_argument("--sunnybrook", help="Sunnybrook root (dicoms/, contourfiles/, link.csv)")
    p.add_argument(
        "--data",
        help="your labelled studies: a folder of ACDC patient folders (original NIfTI) or M&Ms subject folders",
    )
    p.add_argument("--convention", help="label convention of --data labels (default: the layout's own)")
    p.add_argument("--out", help="write the CSVs and Bland-Altman PNGs of each dataset into this folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing report files in --out")
    p.add_argument("--pred", help="a segmentation file to score (instead of a model)")
    p.add_argument("--gt", help="ground-truth label file for --pred")
    p.add_argument("--gt-convention", default="canonical", help="label convention of --gt: canonical, acdc, mnms")
    p.add_argument("--tta", action="store_true", help="average the predictions of 4 flips (slower)")
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16"],
        help="auto: bf16 on a GPU and on CPUs that compute bf16 natively, else fp32 (the report names which ran)",
    )
    p.add_argument("--limit", type=int, help="only the first N patients of each dataset")
    p.add_argument("--json-out", help="write all per-case scores to this JSON file")
    add_progress_args(p)
    p.set_defaults(run=run)


def _score_files(args) -> dict:
    from CardiacSSLLib.errors import InputError
    from CardiacSSLLib.io import load_label_file
    from CardiacSSLLib.metrics.segmentation import score_cases, score_volume

    pred, geom = load_label_file(args.pred, "canonical")
    gt, gt_geom = load_label_file(args.gt, args.gt_convention)
    if pred.shape != gt.shape or not geom.isclose(gt_geom, tol=1e-3):
        raise InputError(f"--pred {pred.shape} and --gt {gt.shape} are not on the same grid")
    vols = [(pred, gt)] if pred.ndim == 3 else list(zip(pred, gt, strict=True))
    cases = [{"case": f"frame{i}", **score_volume(p, g, geom)} for i, (p, g) in enumerate(vols)]
    return {"dataset": Path(args.gt).name, "cases": cases, "summary": score_cases(cases)}


def run(args: argparse.Namespace) -> int:
    from CardiacSSLLib.errors import InputError
    from CardiacSSLLib.evaluation import evaluate_acdc, evaluate_folder, evaluate_sunnybrook
    from CardiacSSLLib.evaluation_report import format_summary, write_report

    results = []
    if args.pred or args.gt:
        if not (args.pred and args.gt):
            raise InputError("--pred and --gt go together")
        results.append(_score_files(args))
    if args.acdc:
        progress = make_progress(args, 1, f"ACDC {args.split}")
        results.append(
            evaluate_acdc(
                args.model, args.acdc, args.split, args.device, args.tta, args.limit, progress, precision=args.precision
            )
        )
        progress.close()
    if args.sunnybrook:
        progress = make_progress(args, 1, "Sunnybrook")
        results.append(
            evaluate_sunnybrook(
                args.model, args.sunnybrook, args.device, args.tta, args.limit, progress, precision=args.precision
            )
        )
        progress.close()
    if args.data:
        progress = make_progress(args, 1, Path(args.data).name)
        results.append(
            evaluate_folder(
                args.model,
                args.data,
                args.convention,
                args.device,
                args.tta,
                args.limit,
                progress,
                precision=args.precision,
            )
        )
        progress.close()
    if not results:
        raise InputError("nothing to evaluate: give --acdc, --sunnybrook, --data or --pred with --gt")
    for r in results:
        if args.json_progress:
            print(json.dumps({"event": "result", "dataset": r["dataset"], "summary": r["summary"]}, default=float))
        else:
            print(format_summary(r))
        if args.out:
            for path in write_report(r, args.out, args.overwrite):
                if not args.json_progress:
                    print(f"wrote {path}")
    if args.json_out:
        from CardiacSSLLib.metrics.output import write_atomic

        write_atomic(args.json_out, json.dumps(results, indent=1, default=float), overwrite=False)
    return 0
