"""Few-shot benchmark: pretrain each method, fine-tune on n labelled ACDC patients, 3D Dice on the test split.

    python benchmarks/fewshot.py --config cpu-small            # a few minutes on a laptop CPU
    python benchmarks/fewshot.py --config gpu-full             # the papers' protocol (hours on one GPU)
    python benchmarks/fewshot.py --config cpu-small --methods mim,pix2rep --shots 1,5

Unlabelled pretraining data: every ACDC image (all splits, labels never read) + every
Sunnybrook frame. Fine-tuning: ``engine.finetune`` on n = 1, 2, 5, 10 training patients (ED and
ES slices), 3 seeds; the seed picks the patients too. ``scratch`` is the same fine-tuning from
random weights; ``pix2rep-probe`` is linear probing of the Pix2Rep backbone (pretrained weights
frozen for all steps); ``ccm+cps`` fine-tunes both CCM networks with cross pseudo supervision
(``engine.semisupervised``, unlabelled ACDC training images; evaluated with network a).
Prints per-structure 3D Dice (mean +- std over seeds), wall times and pretraining images/s
next to the papers' numbers, and writes ``results.json`` in ``--out``.
This prints numbers; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from CardiacSSLLib.method_names import METHOD_NAMES

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
ALL_METHODS = tuple(METHOD_NAMES)

# The papers' few-shot numbers (not directly comparable: other splits, backbones, label sets).
# Pix2Rep (ACDC, avg Dice incl. background, n labelled subjects 1/2/5/10, fine-tuning):
PAPERS = {
    "scratch": "Pix2Rep baseline 53.5/67.3/79.2/83.1; Chaitanya random init 0.614 (n=1)",
    "pix2rep": "Pix2Rep 84.7/88.2/90.2/91.2 (n=1/2/5/10, avg incl. BG)",
    "pix2rep-probe": "Pix2Rep linear probe 83.3/85.7/87.0/87.7",
    "pix2rep-v2": "Pix2Rep-v2 85.6/88.4/91.1/92.0",
    "simclr": "SimCLR (in Pix2Rep) 63.3/77.8/85.0/88.9; M&Ms 10 subj 0.80 vs 0.82 scratch",
    "chaitanya": "G^D+L^R 0.725/0.789 (n=1/2), 0.872 (n=8); in Pix2Rep 76.7/78.0/85.9/88.7",
    "mim": "M&Ms 10 subjects: MIM 0.86 vs scratch 0.82 (mean DSC LV/MYO/RV)",
    "pcl": "M&Ms 10 subjects: PCL 0.84 vs scratch 0.82",
    "dino": "M&Ms 10 subjects: DINO 0.74 vs scratch 0.82",
    "ccm": "CCM+CPS, ACDC 5% labels: 86.66 avg vs 79.93 baseline, 85.10 CPS alone",
    "ccm+cps": "CCM+CPS, ACDC 5% labels (~3-4 patients): RV 87.21 MYO 82.71 LV 90.05, avg 86.66",
}


@dataclass
class BenchConfig:
    methods: tuple[str, ...] = ALL_METHODS
    shots: tuple[int, ...] = (1, 2, 5, 10)
    seeds: tuple[int, ...] = (0, 1, 2)
    image_size: int = 128
    features: tuple[int, ...] = (16, 32, 64, 128, 256)
    pretrain_iterations: int | None = None  # None: the paper's epochs
    pretrain_batch: int | None = None  # None: the paper's batch size
    pretrain_hparams: dict = field(default_factory=dict)  # per method overrides
    finetune_steps: int = 2000
    finetune_batch: int = 16
    finetune_patch: int = 160
    finetune_lr: float = 1e-3
    test_volumes: int | None = None  # None: all 40 test volumes (20 patients x ED/ES)
    probe: bool = True  # add Pix2Rep linear probing
    cps: bool = True  # add CCM + cross pseudo supervision (unlabelled: the ACDC training images)
    device: str = "auto"


CONFIGS = {
    "cpu-small": BenchConfig(
        methods=ALL_METHODS,
        shots=(1, 5),
        seeds=(0,),
        image_size=64,
        features=(8, 16, 32, 64),
        pretrain_iterations=50,
        pretrain_batch=8,
        finetune_steps=120,
        finetune_batch=4,
        finetune_patch=96,
        test_volumes=6,
        device="cpu",
        pretrain_hparams={
            "pix2rep": {"n_pixels": 256, "proj_hidden": 64, "proj_dim": 32},
            "pix2rep-v2": {"proj_hidden": 64, "proj_dim": 32},
            "dino": {"out_dim": 1024, "hidden_dim": 256, "bottleneck_dim": 64, "n_local": 4},
            "ccm": {"proj_dim": 256},
            "chaitanya": {"g1_hidden": 256},
        },
    ),
    "gpu-full": BenchConfig(pretrain_iterations=None, finetune_steps=3000, finetune_batch=16, device="cuda"),
}


def log_line(text: str) -> None:
    print(text, flush=True)


def pretrain_all(cfg: BenchConfig, out: Path, acdc: Path, sunnybrook: Path) -> dict[str, dict]:
    from CardiacSSLLib.engine.pretrain import PretrainConfig, pretrain
    from CardiacSSLLib.engine.unlabelled import load_unlabelled

    t0 = time.monotonic()
    frames = load_unlabelled([f"acdc:{acdc}", f"sunnybrook:{sunnybrook}"], cfg.image_size)
    log_line(f"unlabelled: {len(frames)} frames, {frames.n_volumes} volumes ({time.monotonic() - t0:.0f} s)")
    done = {}
    for method in cfg.methods:
        pcfg = PretrainConfig(
            method=method,
            sources=[f"acdc:{acdc}", f"sunnybrook:{sunnybrook}"],
            out=str(out / "pretrain" / method),
            iterations=cfg.pretrain_iterations,
            batch_size=cfg.pretrain_batch,
            image_size=cfg.image_size,
            features=cfg.features,
            hparams=cfg.pretrain_hparams.get(method, {}),
            device=cfg.device,
            overwrite=True,
            checkpoint_every=10**9 if cfg.pretrain_iterations and cfg.pretrain_iterations < 1000 else 1000,
            log_every=max(1, (cfg.pretrain_iterations or 1000) // 10),
        )
        res = pretrain(pcfg, frames=frames)
        done[method] = {
            "backbone": str(res.backbones["backbone"]),
            "wall_s": res.wall_s,
            "steps": res.steps,
            "images_per_s": res.images_per_s,
            "final_loss": res.final_metrics.get("loss"),
        }
        log_line(
            f"pretrained {method:11s} {res.steps:6d} steps {res.wall_s:7.1f} s {res.images_per_s:8.1f} img/s "
            f"loss {res.final_metrics.get('loss', float('nan')):.4f}"
        )
    return done


def test_cines(cfg: BenchConfig, acdc: Path):
    from CardiacSSLLib.engine.sources import acdc_volumes
    from CardiacSSLLib.io.datasets import read_list

    names = read_list(acdc, "test")
    if cfg.test_volumes:
        names = names[: cfg.test_volumes]
    return acdc_volumes(acdc, names)


def evaluate(model, cines, device: str) -> dict[str, float]:
    from CardiacSSLLib.engine.finetune import dice_per_structure
    from CardiacSSLLib.inference import segment_cine

    scores = []
    for cine in cines:
        pred = segment_cine(model, cine, device=device)
        scores.append(dice_per_structure(pred, cine.label))
    return {k: float(np.nanmean([s[k] for s in scores])) for k in scores[0]}


def finetune_one(
    cfg: BenchConfig, out: Path, acdc: Path, init: str | None, patients: list[str], seed: int, probe: bool
) -> str:
    from CardiacSSLLib.engine.finetune import FinetuneConfig, finetune
    from CardiacSSLLib.progress import Progress

    fcfg = FinetuneConfig(
        out=str(out),
        init=init,
        acdc_root=str(acdc),
        acdc_train=patients,
        acdc_val=[],
        steps=cfg.finetune_steps,
        batch_size=cfg.finetune_batch,
        patch_size=cfg.finetune_patch,
        lr=cfg.finetune_lr,
        features=cfg.features,
        seed=seed,
        device=cfg.device,
        overwrite=True,
        freeze_pretrained_steps=cfg.finetune_steps if probe else 0,
    )
    return str(finetune(fcfg, progress=Progress(total=cfg.finetune_steps, show_bar=False)))


def cps_one(cfg: BenchConfig, out: Path, acdc: Path, init: str, patients: list[str], seed: int, unlabelled):
    from CardiacSSLLib.engine.semisupervised import SemiSupervisedConfig, load_semisupervised, train_semisupervised
    from CardiacSSLLib.progress import Progress

    scfg = SemiSupervisedConfig(
        out=str(out),
        method="cps",
        init=init,
        acdc_root=str(acdc),
        acdc_train=patients,
        steps=cfg.finetune_steps,
        batch_size=cfg.finetune_batch,
        unlabelled_batch_size=cfg.finetune_batch,
        patch_size=cfg.finetune_patch,
        lr=cfg.finetune_lr,
        features=cfg.features,
        seed=seed,
        device=cfg.device,
        overwrite=True,
    )
    stem = train_semisupervised(
        scfg, progress=Progress(total=cfg.finetune_steps, show_bar=False), unlabelled=unlabelled
    )
    # network a: inference.segment_cine takes UNet2D instances (the a/b ensemble needs duck typing there)
    return load_semisupervised(stem, "a")


def run(cfg: BenchConfig, out: Path, acdc: Path, sunnybrook: Path) -> dict:
    t_start = time.monotonic()
    pre = pretrain_all(cfg, out, acdc, sunnybrook)
    cines = test_cines(cfg, acdc)
    rows = [("scratch", None, "finetune")] + [(m, pre[m]["backbone"], "finetune") for m in cfg.methods]
    if cfg.probe and "pix2rep" in pre:
        rows.append(("pix2rep-probe", pre["pix2rep"]["backbone"], "probe"))
    unlabelled_train = None
    if cfg.cps and "ccm" in pre:
        from CardiacSSLLib.engine.unlabelled import load_unlabelled

        rows.append(("ccm+cps", pre["ccm"]["backbone"], "cps"))
        unlabelled_train = load_unlabelled([f"acdc:{acdc}:train"], cfg.finetune_patch)
    results = []
    for name, init, mode in rows:
        for n in cfg.shots:
            for seed in cfg.seeds:
                from CardiacSSLLib.engine.sources import acdc_patients, sample_patients

                patients = sample_patients(acdc_patients(acdc, "train"), n, seed)  # the seed picks the patients
                run_dir = out / "finetune" / f"{name}-n{n}-s{seed}"
                t0 = time.monotonic()
                if mode == "cps":
                    model = cps_one(cfg, run_dir, acdc, init, patients, seed, unlabelled_train)
                else:
                    model = finetune_one(cfg, run_dir, acdc, init, patients, seed, probe=mode == "probe")
                wall = time.monotonic() - t0
                dice = evaluate(model, cines, cfg.device)
                results.append(
                    {"method": name, "n": n, "seed": seed, "patients": patients, "dice": dice, "finetune_wall_s": wall}
                )
                log_line(
                    f"{name:13s} n={n:2d} seed={seed} {', '.join(patients)}: "
                    + " ".join(f"{k} {v:.3f}" for k, v in dice.items())
                    + f" ({wall:.0f} s)"
                )
    summary = {
        "config": asdict(cfg),
        "pretraining": pre,
        "results": results,
        "test_volumes": len(cines),
        "total_wall_s": time.monotonic() - t_start,
    }
    (out / "results.json").write_text(json.dumps(summary, indent=2, default=str))
    print_table(summary)
    return summary


def print_table(summary: dict) -> None:
    res = summary["results"]
    pre = summary["pretraining"]
    methods = list(dict.fromkeys(r["method"] for r in res))
    shots = sorted({r["n"] for r in res})
    print()
    print(f"3D Dice on {summary['test_volumes']} ACDC test volumes (mean +- std over seeds)")
    header = f"{'method':13s} {'n':>3s} {'LV':>13s} {'MYO':>13s} {'RV':>13s} {'mean':>13s} {'pre s':>7s} {'img/s':>7s}"
    print(header)
    print("-" * len(header))
    for m in methods:
        base = m.replace("-probe", "").replace("+cps", "")
        for n in shots:
            sel = [r["dice"] for r in res if r["method"] == m and r["n"] == n]
            if not sel:
                continue
            cells = []
            for key in ("LV", "MYO", "RV"):
                v = np.array([s[key] for s in sel], dtype=float)
                cells.append(f"{np.nanmean(v):.3f}+-{np.nanstd(v):.3f}")
            means = np.array([np.nanmean([s["LV"], s["MYO"], s["RV"]]) for s in sel])
            cells.append(f"{means.mean():.3f}+-{means.std():.3f}")
            p = pre.get(base, {})
            wall = f"{p['wall_s']:.0f}" if p else "-"
            ips = f"{p['images_per_s']:.0f}" if p else "-"
            print(f"{m:13s} {n:3d} " + " ".join(f"{c:>13s}" for c in cells) + f" {wall:>7s} {ips:>7s}")
    print()
    print("papers (not directly comparable):")
    for m in methods:
        if m in PAPERS:
            print(f"  {m:13s} {PAPERS[m]}")
    print(f"total wall time {summary['total_wall_s']:.0f} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", choices=sorted(CONFIGS), default="cpu-small")
    p.add_argument("--methods", help=f"comma list from {','.join(ALL_METHODS)}")
    p.add_argument("--shots", help="comma list of labelled patient counts")
    p.add_argument("--seeds", help="comma list")
    p.add_argument("--acdc", default=str(DATA / "acdc"))
    p.add_argument("--sunnybrook", default=str(DATA / "sunnybrook"))
    p.add_argument("--out", default=str(ROOT / "runs" / "fewshot"))  # /runs/ is git-ignored
    p.add_argument("--device")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cfg = CONFIGS[args.config]
    if args.methods:
        cfg = replace(cfg, methods=tuple(m for m in args.methods.split(",") if m))
    if args.shots:
        cfg = replace(cfg, shots=tuple(int(s) for s in args.shots.split(",")))
    if args.seeds:
        cfg = replace(cfg, seeds=tuple(int(s) for s in args.seeds.split(",")))
    if args.device:
        cfg = replace(cfg, device=args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    acdc, sb = Path(args.acdc), Path(args.sunnybrook)
    if not acdc.is_dir() or not sb.is_dir():
        print(f"data not found: {acdc} / {sb} (see ../shared/data/README.md)", file=sys.stderr)
        return 2
    out = Path(args.out) / args.config
    out.mkdir(parents=True, exist_ok=True)
    log_line(f"few-shot benchmark, config {args.config}: {json.dumps(asdict(cfg), default=str)}")
    run(cfg, out, acdc, sb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
