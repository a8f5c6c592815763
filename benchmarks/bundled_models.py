"""Re-evaluate every bundled model and print the accuracy table of their model cards.

Segmentation models: 3D Dice per structure on the ACDC test split (40 volumes) and LV/MYO
Dice on the Sunnybrook cines, next to the Dice each card states. With ``--fewshot``, also
the few-shot table: from scratch and from every bundled backbone, fine-tuned through the
``cardiacssl`` command line on n ACDC training patients (seed 0 picks them; no validation
set), scored on the ACDC test split. Finished runs found in ``--out`` are reused, so an
interrupted run continues; ``<out>/fewshot.json`` is what ``scripts/bundle_model.py
--fewshot`` puts on the cards. Prints numbers; not a test.

    python benchmarks/bundled_models.py [--data ../shared/data] [--device auto]
    python benchmarks/bundled_models.py --fewshot --shots 1,2,5 --steps 500 --out runs/fewshot-bundled
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from CardiacSSLLib.labels import NAMES

STRUCTURES = tuple(NAMES.values())


def _dice(result: dict) -> dict[str, float]:
    d = {k: v["dice"]["mean"] for k, v in result["summary"]["structures"].items()}
    d["mean"] = result["summary"]["mean"]["dice"]
    return d


def _fmt(v: float | None) -> str:
    return "   -  " if v is None else f"{v:6.3f}"


def evaluate_bundled(data: Path, device: str) -> list[dict]:
    from CardiacSSLLib.evaluation import evaluate_acdc, evaluate_sunnybrook
    from CardiacSSLLib.registry import list_models

    rows = []
    for e in list_models(kind="segmentation"):
        if e.origin != "bundled":
            continue
        acdc = _dice(evaluate_acdc(e.name, data / "acdc", "test", device=device))
        sunny = _dice(evaluate_sunnybrook(e.name, data / "sunnybrook", device=device))
        rows.append({"name": e.name, "acdc": acdc, "sunnybrook": sunny, "stated": e.summary.get("dice", {})})
    print(f"\nBundled segmentation models, ACDC test (40 volumes) and Sunnybrook (LV/MYO), 3D Dice, {device}")
    print(f"{'model':<26}" + "".join(f"{s:>7}" for s in (*STRUCTURES, "mean")) + "  stated  |   SB LV  SB MYO")
    for r in rows:
        a, s = r["acdc"], r["sunnybrook"]
        line = f"{r['name']:<26}" + "".join(f" {_fmt(a.get(k))}" for k in (*STRUCTURES, "mean"))
        print(f"{line}  {_fmt(r['stated'].get('mean'))}  |  {_fmt(s.get('LV'))} {_fmt(s.get('MYO'))}")
    return rows


def _run(cmd: list[str], log: Path) -> None:
    with log.open("w") as f:
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}; see {log}")


def run_fewshot(
    data: Path, out: Path, shots: list[int], steps: int, seed: int, device: str
) -> dict[str, dict[str, dict[str, float]]]:
    from CardiacSSLLib.checkpoint import read_config
    from CardiacSSLLib.registry import list_models

    inits: dict[str, str | None] = {"scratch": None}
    for e in list_models(kind="backbone"):
        if e.origin == "bundled":
            inits[read_config(e.path).get("method", e.name)] = e.name
    out.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "CardiacSSLLib.cli.main"]
    table: dict[str, dict[str, dict[str, float]]] = {}
    commands: dict[str, str] = {}
    for label, init in inits.items():
        for n in shots:
            run = out / f"{label}-n{n}"
            scores = run.with_suffix(".json")
            train = [*cli, "finetune", *(["--init", init] if init else []), "--acdc", str(data / "acdc")]
            train += ["--acdc-patients", str(n), "--acdc-val", "none", "--seed", str(seed), "--steps", str(steps)]
            train += ["--patch-size", "128", "--out", str(run), "--device", device, "--overwrite"]
            score = [*cli, "evaluate", "--model", str(run / "model.safetensors"), "--acdc", str(data / "acdc")]
            score += ["--split", "test", "--device", device, "--json-out", str(scores)]
            commands[f"{label}-n{n}"] = " ".join(["cardiacssl", *train[3:]])
            if not scores.exists():
                print(f"fine-tuning {label} on {n} patient(s), {steps} steps ...", flush=True)
                _run(train, run.with_suffix(".train.log"))
                _run(score, run.with_suffix(".eval.log"))
            result = json.loads(scores.read_text())
            table.setdefault(label, {})[str(n)] = _dice(result[0] if isinstance(result, list) else result)
    protocol = {"shots": shots, "steps": steps, "seed": seed, "patch_size": 128, "validation": "none"}
    (out / "fewshot.json").write_text(
        json.dumps({"protocol": protocol, "results": table, "commands": commands}, indent=1)
    )
    print(f"\nFew-shot: fine-tuned on n ACDC training patients ({steps} steps, seed {seed}), ACDC test mean 3D Dice")
    print(f"{'init':<10}" + "".join(f"{'n=' + str(n):>8}" for n in shots))
    for label, row in table.items():
        print(f"{label:<10}" + "".join(f"  {_fmt(row[str(n)]['mean'])}" for n in shots))
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--fewshot", action="store_true", help="also run the few-shot table (long: 1 fine-tune per cell)")
    ap.add_argument("--shots", default="1,2,5")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/fewshot-bundled"))
    ap.add_argument("--skip-eval", action="store_true", help="only the few-shot table")
    args = ap.parse_args()
    if not args.skip_eval:
        evaluate_bundled(args.data, args.device)
    if args.fewshot:
        shots = [int(s) for s in args.shots.split(",")]
        run_fewshot(args.data, args.out, shots, args.steps, args.seed, args.device)


if __name__ == "__main__":
    main()
