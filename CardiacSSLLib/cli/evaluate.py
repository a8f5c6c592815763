"""``cardiacssl evaluate``: score a model on a dataset, or a segmentation file against ground truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from CardiacSSLLib.cli.common import add_progress_args, make_progress


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="Dice/HD95/ASSD of a model on ACDC or Sunnybrook, or of a file vs ground truth")
    p.add_argument("--model", default="default")
    p.add_argument("--acdc", help="ACDC SSL4MIS HDF5 root")
    p.add_argument("--split", default="test", help="ACDC split: test, val, train")
    p.add_argument("--sunnybrook", help="Sunnybrook root (dicoms/, contourfiles/, link.csv)")
    p.add_argument("--pred", help="a segmentation file to score (instead of a model)")
    p.add_argument("--gt", help="ground-truth label file for --pred")
    p.add_argument("--gt-convention", default="canonical", help="label convention of --gt: canonical, acdc, mnms")
    p.add_argument("--tta", action="store_true")
    p.add_argument("--limit", type=int, help="only the first N cases")
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
    from CardiacSSLLib.evaluation import evaluate_acdc, evaluate_sunnybrook, format_summary

    results = []
    if args.pred or args.gt:
        if not (args.pred and args.gt):
            raise InputError("--pred and --gt go together")
        results.append(_score_files(args))
    if args.acdc:
        progress = make_progress(args, 1, f"ACDC {args.split}")
        results.append(evaluate_acdc(args.model, args.acdc, args.split, args.device, args.tta, args.limit, progress))
        progress.close()
    if args.sunnybrook:
        progress = make_progress(args, 1, "Sunnybrook")
        results.append(evaluate_sunnybrook(args.model, args.sunnybrook, args.device, args.tta, progress))
        progress.close()
    if not results:
        raise InputError("nothing to evaluate: give --acdc, --sunnybrook or --pred with --gt")
    for r in results:
        if args.json_progress:
            print(json.dumps({"event": "result", "dataset": r["dataset"], "summary": r["summary"]}, default=float))
        else:
            print(format_summary(r))
    if args.json_out:
        from CardiacSSLLib.metrics.output import write_atomic

        write_atomic(args.json_out, json.dumps(results, indent=1, default=float), overwrite=False)
    return 0
