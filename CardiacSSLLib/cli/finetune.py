"""``cardiacssl finetune``: supervised / few-shot fine-tuning from a backbone, a model or scratch."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from CardiacSSLLib.cli.common import add_progress_args, make_progress


def add_parser(sub) -> None:
    p = sub.add_parser("finetune", help="fine-tune a segmentation model on labelled data (few-shot or full)")
    p.add_argument("--init", help="pretrained backbone or segmentation model (name or path); omit for scratch")
    p.add_argument("--train-set", help="training-set folder (the corrections saved by the Slicer module)")
    p.add_argument("--acdc", help="ACDC SSL4MIS HDF5 root (with data/ and *.list)")
    p.add_argument(
        "--acdc-patients",
        default="",
        help="ACDC training patients: a number n (sampled from train.list by --seed) or ids",
    )
    p.add_argument("--acdc-val", default="val", help="'val', 'none' or comma list of patientNNN_frameNN volumes")
    p.add_argument("--name", help="register the result as a user model with this name (see `cardiacssl models`)")
    p.add_argument("--out", help="output folder (default: the user model folder of --name)")
    p.add_argument("--steps", type=int, default=1000, help="training steps (batches)")
    p.add_argument("--batch-size", type=int, default=8, help="slices per batch")
    p.add_argument("--patch-size", type=int, default=160, help="square training crop, pixels")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    p.add_argument("--features", default="16,32,64,128,256", help="U-Net widths (scratch only)")
    p.add_argument(
        "--pretrained-lr-scale",
        type=float,
        help="learning-rate factor for weights loaded from --init (e.g. 0.1 keeps a backbone close to its start; "
        "default: the recipe a backbone records, which its card's few-shot numbers used, else 1)",
    )
    p.add_argument(
        "--freeze-pretrained-steps",
        type=int,
        help="train only the freshly initialised layers (the head) for this many steps first (warm-up; "
        "default: the recipe a backbone records, else 0)",
    )
    p.add_argument(
        "--target-spacing",
        type=float,
        default=1.5,
        help="in-plane mm/pixel the network trains and infers at (0: native pixels, for data without spacing)",
    )
    p.add_argument("--val-every", type=int, default=200, help="validate every N steps (keeps the best)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same model)")
    p.add_argument("--linear-probe", action="store_true", help="train only the output layer on a frozen --init")
    p.add_argument(
        "--semi",
        choices=["self_training", "mean_teacher", "cps"],
        help="semi-supervised: also learn from unlabelled frames (--unlabelled): self_training (a teacher "
        "fine-tuned as usual pseudo-labels them, a student learns from both), a Mean Teacher or CPS",
    )
    p.add_argument(
        "--teacher",
        help="self_training: a model already fine-tuned on the same labelled data and seed (skips training one)",
    )
    p.add_argument(
        "--min-agreement",
        type=float,
        default=0.9,
        help="self_training: keep a pseudo-labelled frame when the teacher's flipped predictions agree this much",
    )
    p.add_argument(
        "--labelled-share",
        type=float,
        default=0.5,
        help="self_training: share of each batch drawn from the labelled slices (the rest pseudo-labelled)",
    )
    p.add_argument(
        "--unlabelled",
        action="append",
        metavar="SOURCE",
        help="unlabelled frames for --semi (repeat; as `pretrain --data`; default: acdc:<--acdc>:train)",
    )
    p.add_argument("--resume", action="store_true", help="continue a cancelled run in --out")
    p.add_argument("--overwrite", action="store_true", help="replace the model already in --out (or of --name)")
    add_progress_args(p)
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace):
    from CardiacSSLLib.engine.finetune import FinetuneConfig
    from CardiacSSLLib.engine.sources import acdc_patients, sample_patients
    from CardiacSSLLib.errors import InputError
    from CardiacSSLLib.registry import user_model_dir

    if not args.out and not args.name:
        raise InputError("give --name (a user model) or --out (a folder)")
    out = Path(args.out) if args.out else user_model_dir(args.name)
    train, val = [], []
    if args.acdc:
        spec = args.acdc_patients.strip()
        if spec.isdigit():
            train = sample_patients(acdc_patients(args.acdc, "train"), int(spec), args.seed)
        elif spec:
            train = [s.strip() for s in spec.split(",") if s.strip()]
        if args.acdc_val == "val":
            val = [f"{p}_frame{f}" for p in acdc_patients(args.acdc, "val") for f in ("01", "02")]
        elif args.acdc_val not in ("", "none"):
            val = [s.strip() for s in args.acdc_val.split(",")]
    if not (train or args.train_set):
        raise InputError("no training data: give --train-set and/or --acdc with --acdc-patients")
    try:
        features = tuple(int(f) for f in args.features.split(","))
    except ValueError as exc:
        raise InputError(f"--features must be comma-separated integers, got {args.features!r}") from exc
    return FinetuneConfig(
        out=str(out),
        init=args.init,
        train_set=args.train_set,
        acdc_root=args.acdc,
        acdc_train=train,
        acdc_val=val,
        steps=args.steps,
        batch_size=args.batch_size,
        patch_size=args.patch_size,
        lr=args.lr,
        pretrained_lr_scale=args.pretrained_lr_scale,
        freeze_pretrained_steps=args.freeze_pretrained_steps,
        target_spacing=args.target_spacing or None,
        features=features,
        val_every=args.val_every,
        seed=args.seed,
        device=args.device,
        name=args.name or out.name,
        linear_probe=args.linear_probe,
        overwrite=args.overwrite,
        resume=args.resume,
        labelled_share=getattr(args, "labelled_share", 0.5),
    )


def semi_config(args: argparse.Namespace, cfg):
    """The semi-supervised run that ``--semi`` asks for, on the data and settings of ``cfg``."""
    from CardiacSSLLib.engine.semisupervised import SemiSupervisedConfig
    from CardiacSSLLib.errors import InputError

    if args.resume or args.linear_probe:
        raise InputError("--semi runs cannot --resume or --linear-probe")
    unlabelled = args.unlabelled or ([f"acdc:{args.acdc}:train"] if args.acdc else [])
    if not unlabelled:
        raise InputError("--semi needs unlabelled frames: give --unlabelled SOURCE (or --acdc)")
    return SemiSupervisedConfig(
        out=cfg.out,
        method=args.semi,
        init=cfg.init,
        acdc_root=cfg.acdc_root,
        acdc_train=cfg.acdc_train,
        unlabelled=unlabelled,
        steps=cfg.steps,
        batch_size=cfg.batch_size,
        patch_size=cfg.patch_size,
        target_spacing=cfg.target_spacing,
        lr=cfg.lr,
        features=cfg.features,
        seed=cfg.seed,
        device=cfg.device,
        overwrite=cfg.overwrite,
    )


def train(args: argparse.Namespace, cfg, progress, cancel) -> Path:
    """Supervised fine-tuning, or the semi-supervised run ``--semi`` names (same labelled slices)."""
    from CardiacSSLLib.engine.finetune import collect_data, finetune
    from CardiacSSLLib.errors import InputError

    if getattr(args, "teacher", None) and getattr(args, "semi", None) != "self_training":
        raise InputError("--teacher is for --semi self_training")
    if not getattr(args, "semi", None):
        return finetune(cfg, progress=progress, cancel=cancel)
    if args.semi == "self_training":
        from CardiacSSLLib.engine.self_training import SelfTrainingConfig, self_train

        if args.resume or args.linear_probe:
            raise InputError("--semi runs cannot --resume or --linear-probe")
        unlabelled = args.unlabelled or ([f"acdc:{args.acdc}:train"] if args.acdc else [])
        st = SelfTrainingConfig(unlabelled=unlabelled, teacher=args.teacher, min_agreement=args.min_agreement)
        return self_train(cfg, st, progress=progress, cancel=cancel)
    from CardiacSSLLib.engine.semisupervised import train_semisupervised

    semi = semi_config(args, cfg)
    labelled, _ = collect_data(cfg)
    return train_semisupervised(semi, progress=progress, cancel=cancel, labelled=labelled)


def run(args: argparse.Namespace) -> int:
    from CardiacSSLLib.progress import CancelToken

    cfg = config_from_args(args)
    cancel = CancelToken()
    restore = cancel.install_signal_handlers()
    progress = make_progress(args, total=cfg.steps, description="fine-tune")
    try:
        stem = train(args, cfg, progress, cancel)
    finally:
        restore()
    if not args.json_progress:
        cfg_out = json.loads(stem.with_suffix(".json").read_text())
        print(f"model: {stem}.safetensors")
        if cfg_out.get("validation"):
            print(
                "validation Dice: "
                + ", ".join(f"{k} {v:.3f}" for k, v in cfg_out["validation"].items() if isinstance(v, float))
            )
        sys.stdout.flush()
    return 0
