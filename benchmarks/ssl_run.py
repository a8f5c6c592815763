"""One command for a lent GPU (or a long CPU night): pretrain each method, then the paired few-shot table.

For every ``--methods`` entry: ``cardiacssl pretrain`` on the unlabelled frames of the ACDC
training split and Sunnybrook (never the validation or test split) for ``--budget`` steps
(6000: the Chaitanya backbone that beat scratch on validation at n = 1 was pretrained that long;
800 CPU steps were below scratch), resumable (rerun the same command after an interruption);
``--until-healthy`` instead stops at the first checkpoint whose health checks pass. Then
``benchmarks/fewshot_paired.py`` fine-tunes scratch, every backbone that exists and the
semi-supervised Mean Teacher on the same patient draws and seeds and prints the paired gains.
Tune on ``--split val``; run ``--split test`` once. Prints numbers; not a test
(``--smoke`` runs everything tiny on a CPU, which the test suite does).

    python benchmarks/ssl_run.py --device cuda --out runs/ssl-gpu                 # the full run
    python benchmarks/ssl_run.py --device cuda --out runs/ssl-gpu --split test    # once, at the end
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
METHODS = ("mim", "chaitanya", "pix2rep-v2", "ccm")


def pretrain_command(method: str, out: Path, args) -> list[str]:
    cmd = [sys.executable, "-m", "CardiacSSLLib.cli", "pretrain", "--method", method, "--out", str(out)]
    cmd += ["--data", f"acdc:{args.acdc}:train", "--data", f"sunnybrook:{args.sunnybrook}"]
    cmd += ["--iterations", str(args.budget), "--checkpoint-every", str(args.check_every)]
    if args.until_healthy:
        cmd.append("--stop-when-healthy")
    cmd += ["--device", args.device, "--features", args.features, "--json-progress"]
    if args.batch_size:
        cmd += ["--batch-size", str(args.batch_size)]
    if args.image_size:
        cmd += ["--image-size", str(args.image_size)]
    if any((out / "checkpoints").glob("resume-*.json")):
        cmd.append("--resume")
    return cmd


def fewshot_command(backbones: list[Path], args) -> list[str]:
    starts = [str(b) for b in backbones] + ["semi:mean_teacher"]
    cmd = [sys.executable, str(ROOT / "benchmarks" / "fewshot_paired.py"), "--init", ",".join(starts)]
    cmd += ["--acdc", str(args.acdc), "--shots", args.shots, "--draws", str(args.draws), "--steps", str(args.steps)]
    cmd += ["--split", args.split, "--device", args.device, "--out", str(Path(args.out) / "fewshot")]
    cmd += ["--pretrained-lr-scale", str(args.pretrained_lr_scale)]
    cmd += ["--freeze-pretrained-steps", str(args.freeze_pretrained_steps)]
    if args.patch_size:
        cmd += ["--patch-size", str(args.patch_size)]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    return cmd + ["--jobs", str(args.jobs)]


def smoke(args) -> None:
    """Everything tiny, on a CPU: checks the command chain end to end in about two minutes."""
    args.methods, args.budget, args.check_every, args.batch_size = "mim", 2, 1, 4
    args.image_size, args.features, args.shots, args.draws = 64, "8,16,32", "1", 1
    args.steps, args.patch_size, args.limit, args.device = 2, 64, 1, "cpu"
    args.freeze_pretrained_steps, args.jobs, args.until_healthy = 1, 2, True


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--acdc", default=str(DATA / "acdc"))
    ap.add_argument("--sunnybrook", default=str(DATA / "sunnybrook"))
    ap.add_argument("--out", default=str(ROOT / "runs" / "ssl"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--budget", type=int, default=6000, help="pretraining steps per method")
    ap.add_argument("--check-every", type=int, default=1500, help="steps between checkpoints")
    ap.add_argument("--until-healthy", action="store_true", help="stop once a checkpoint passes the health checks")
    ap.add_argument("--batch-size", type=int, default=24, help="pretraining batch (0: the method paper's)")
    ap.add_argument("--image-size", type=int, default=128, help="0: the method paper's")
    ap.add_argument("--features", default="16,32,64,128,256")
    ap.add_argument("--shots", default="1,2,5")
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--steps", type=int, default=1000, help="fine-tuning steps")
    ap.add_argument("--patch-size", type=int)
    ap.add_argument("--pretrained-lr-scale", type=float, default=0.3)
    ap.add_argument("--freeze-pretrained-steps", type=int, default=50)
    ap.add_argument("--split", default="val", help="val while choosing; test once")
    ap.add_argument("--limit", type=int, help="score only the first N patients")
    ap.add_argument("--jobs", type=int, default=1, help="few-shot cells run at once (e.g. 8 on a GPU machine)")
    ap.add_argument("--smoke", action="store_true", help="tiny settings on CPU (checks the chain)")
    args = ap.parse_args(argv)
    if args.smoke:
        smoke(args)
    backbones = []
    for method in [m for m in args.methods.split(",") if m]:
        out = Path(args.out) / method
        if not (out / "backbone.json").exists():
            print(f"pretraining {method} -> {out}", flush=True)
            out.mkdir(parents=True, exist_ok=True)
            with open(out.parent / f"{method}.log", "a") as log:
                subprocess.run(
                    pretrain_command(method, out, args), check=True, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
                )
        backbones.append(out / "backbone.safetensors")
    subprocess.run(fewshot_command(backbones, args), check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
