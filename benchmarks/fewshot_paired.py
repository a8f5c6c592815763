"""Paired few-shot benchmark: does a pretrained start beat scratch on the same patients and seed?

For every n (labelled ACDC training patients) and draw d, the patients are drawn with seed d
and every start (``scratch`` and each ``--init`` backbone or model) is fine-tuned on exactly
those patients with seed d (same augmentation stream, same steps), through the command line
users run. Each run is scored on ACDC test (or ``--split val`` while tuning) by 3D Dice
per structure. Prints, per n and start, the mean Dice and the paired gain over scratch
(mean and SD over draws, per structure); a gain counts only when it exceeds the spread.
Runs are deterministic (same command, same numbers) and reused from ``--out``, so an
interrupted benchmark continues. Prints numbers; not a test.

    python benchmarks/fewshot_paired.py --init runs/mim/backbone.safetensors,semi:mean_teacher \\
        --shots 1,2,5 --draws 3 --steps 500 --out runs/fewshot-paired [--split val]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from CardiacSSLLib.metrics.paired import STRUCTURES, mean_and_sd, paired_gain

ROOT = Path(__file__).resolve().parents[1]


def run_one(out: Path, acdc: str, init: str | None, n: int, draw: int, args) -> dict:
    """Fine-tune one (start, n, draw) cell and score it; cached in ``out/model.*`` and ``out/result.json``.

    A cached score is reused only when it was made with today's default clean-up steps (models
    fine-tuned here name none, so they get ``postprocess.DEFAULT_STEPS``); otherwise the cached
    model is scored again, without training it again.
    """
    from CardiacSSLLib.postprocess import DEFAULT_STEPS

    result = out / "result.json"
    if result.exists():
        record = json.loads(result.read_text())
        if record.get("cleanup") == list(DEFAULT_STEPS):
            return record
    if not (out / "model.json").exists():
        train_cell(out, acdc, init, n, draw, args)
    return score_cell(out, acdc, init, n, draw, args)


def train_cell(out: Path, acdc: str, init: str | None, n: int, draw: int, args) -> None:
    """Fine-tune one cell through the command line users run."""
    cmd = [sys.executable, "-m", "CardiacSSLLib.cli", "finetune", "--acdc", acdc, "--acdc-patients", str(n)]
    cmd += ["--acdc-val", "none", "--steps", str(args.steps), "--seed", str(draw), "--out", str(out)]
    cmd += ["--patch-size", str(args.patch_size), "--device", args.device, "--overwrite", "--json-progress"]
    cmd += ["--pretrained-lr-scale", str(args.pretrained_lr_scale)]
    cmd += ["--freeze-pretrained-steps", str(args.freeze_pretrained_steps)]
    if init and init.startswith("semi:"):  # a semi-supervised path, e.g. semi:mean_teacher[+backbone]
        method, _, backbone = init[len("semi:") :].partition("+")
        cmd += ["--semi", method] + (["--init", backbone] if backbone else [])
        # self-training's teacher is plain fine-tuning from the same start, patients and seed:
        # that cell, when already run (deterministic, so identical to training it again)
        teacher = out.parent / (backbone or "scratch").replace("/", "_") / "model.safetensors"
        # model.json is written after the weights (atomically), so a cell still training is not used
        if method == "self_training" and teacher.with_suffix(".json").exists():
            cmd += ["--teacher", str(teacher)]
    elif init:
        cmd += ["--init", init]
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "train.log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def score_cell(out: Path, acdc: str, init: str | None, n: int, draw: int, args) -> dict:
    """3D Dice per structure on the scoring split, with the clean-up steps recorded."""
    from CardiacSSLLib.evaluation import evaluate_acdc
    from CardiacSSLLib.postprocess import DEFAULT_STEPS

    r = evaluate_acdc(str(out / "model.safetensors"), acdc, args.split, device=args.device, limit=args.limit)
    dice = {k: v["dice"]["mean"] for k, v in r["summary"]["structures"].items()}
    dice["mean"] = r["summary"]["mean"]["dice"]
    patients = json.loads((out / "model.json").read_text())["training"]["acdc_train"]
    record = {"init": init or "scratch", "n": n, "draw": draw, "split": args.split, "patients": patients, "dice": dice}
    record["precision"] = r["precision"]  # scoring's inference: bf16 on CPUs with AMX, else fp32
    record["cleanup"] = list(DEFAULT_STEPS)
    (out / "result.json").write_text(json.dumps(record, indent=1))
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--init",
        default="",
        help="comma list of starts to compare with scratch: backbones / models, or semi:mean_teacher, semi:cps "
        "(semi-supervised on the ACDC training frames; semi:METHOD+BACKBONE starts it from a backbone)",
    )
    ap.add_argument("--acdc", default=str(ROOT.parent / "shared" / "data" / "acdc"))
    ap.add_argument("--split", default="test", help="scoring split (val while tuning, test once)")
    ap.add_argument("--shots", default="1,2,5")
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--patch-size", type=int, default=128)
    ap.add_argument("--pretrained-lr-scale", type=float, default=1.0)
    ap.add_argument("--freeze-pretrained-steps", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--limit", type=int, help="score only the first N patients of the split (smoke runs)")
    ap.add_argument("--out", default="runs/fewshot-paired")
    ap.add_argument("--jobs", type=int, default=1, help="cells run at once (each is its own process)")
    args = ap.parse_args()

    starts = [None] + [s for s in args.init.split(",") if s]
    shots = [int(s) for s in args.shots.split(",")]
    root = Path(args.out)
    cells = [(n, draw, init) for n in shots for draw in range(args.draws) for init in starts]

    def one(cell: tuple) -> dict:
        n, draw, init = cell
        name = (init or "scratch").replace("/", "_")
        record = run_one(root / f"n{n}" / f"draw{draw}" / name, args.acdc, init, n, draw, args)
        print(f"n={n} draw={draw} {record['init']:28} mean Dice {record['dice']['mean']:.3f}", flush=True)
        return record

    # each cell is its own process with its own seed, so running several at once (a GPU machine's
    # spare cores) gives the same numbers as running them one by one
    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        done = list(pool.map(one, cells))
    results = {(init or "scratch", n, draw): r for (n, draw, init), r in zip(cells, done, strict=True)}

    ran = sorted({r.get("precision", "unrecorded") for r in done})
    print(
        f"\nACDC {args.split}, {args.steps} steps, {args.draws} draws (paired: same patients and seed); "
        f"scored with {'/'.join(ran)} inference"
    )
    header = " ".join(f"{s:>15}" for s in STRUCTURES)
    for n in shots:
        print(f"\nn = {n}: Dice (mean over draws) and paired gain over scratch (mean +- SD)\n{'start':28} {header}")
        base = [results[("scratch", n, d)]["dice"] for d in range(args.draws)]
        for init in starts:
            label = init or "scratch"
            runs = [results[(label, n, d)]["dice"] for d in range(args.draws)]
            if init is None:
                cells = ["{:.3f} sd {:.3f}".format(*mean_and_sd(runs, s)) for s in STRUCTURES]
            else:
                gain = paired_gain(runs, base)
                cells = [f"{gain[s]['mean']:+.3f}+-{gain[s]['sd']:.3f}" for s in STRUCTURES]
            print(f"{label:28} " + " ".join(f"{c:>15}" for c in cells))


if __name__ == "__main__":
    main()
