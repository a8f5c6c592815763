"""``cardiacssl pretrain``: self-supervised pretraining of a U-Net backbone on unlabelled frames.

Also runnable alone (``python -m CardiacSSLLib.cli.pretrain ...``, or under ``torchrun`` for
several GPUs) and from Slicer through ``scripts/slicer_pretrain.py``; all three call :func:`main`.
Exit codes: 0 success, 1 failure, 2 bad input, 3 model problem, 130 cancelled.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from CardiacSSLLib.errors import CardiacSSLError, InputError

EPILOG = """data sources (repeat --data):
  acdc:ROOT[:train,val,test]   SSL4MIS ACDC HDF5 (labels are never read)
  sunnybrook:ROOT              every Sunnybrook cine, all phases
  phantom[:N]                  N synthetic cines
  PATH                         any cine the library reads (DICOM folder, NIfTI, NRRD, ...)
method hyperparameters: --set key=value (JSON values), e.g. --set global_strategy=GD --set n_pixels=500
several GPUs: torchrun --nproc_per_node 4 -m CardiacSSLLib.cli.pretrain ..."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    # the names, not the registry: building the parser must not import torch (CardiacSSLLib.methods does)
    from CardiacSSLLib.method_names import METHOD_NAMES

    p.add_argument("--method", required=True, choices=sorted(METHOD_NAMES), help="pretraining method")
    p.add_argument("--data", action="append", default=[], metavar="SOURCE", help="unlabelled data source")
    p.add_argument("--out", required=True, help="output folder (backbone.safetensors/.json, log.jsonl, checkpoints/)")
    p.add_argument("--iterations", type=int, help="optimiser steps (default: --epochs over the frames)")
    p.add_argument("--epochs", type=float, help="default: the method paper's")
    p.add_argument("--batch-size", type=int, help="per process; default: the method paper's")
    p.add_argument("--lr", type=float, help="default: the method paper's")
    p.add_argument(
        "--optimizer",
        choices=("adamw", "adam", "sgd"),
        help="default: AdamW for every method (SGD, as some papers use, barely moves instance-normalised layers)",
    )
    p.add_argument("--image-size", type=int, default=128, help="frames are resized to this square size")
    p.add_argument(
        "--target-spacing",
        default="1.5",
        help="mm per pixel for sources with known spacing ('none': native pixels); match fine-tuning",
    )
    p.add_argument("--features", default="16,32,64,128,256", help="U-Net widths (must match fine-tuning)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="method hyperparameter")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--no-amp", action="store_true", help="disable bf16 autocast on CUDA")
    p.add_argument("--checkpoint-every", type=int, default=500, help="steps between resumable checkpoints")
    p.add_argument("--log-every", type=int, default=10, help="report the loss every N steps")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--overwrite", action="store_true", help="replace the backbone already in --out")
    p.add_argument(
        "--health-probe",
        help="ACDC root (SSL4MIS layout) for the health checks' frozen-feature probe (default: an acdc: --data root)",
    )
    p.add_argument("--no-health", action="store_true", help="skip the backbone health checks at the end")
    p.add_argument(
        "--stop-when-healthy",
        action="store_true",
        help="run the health checks at every checkpoint of the last stage and stop once they pass "
        "(--iterations is then the budget, not the length)",
    )
    p.add_argument("--json-progress", action="store_true", help="one JSON object per logged step on stdout")
    p.add_argument("--device", default="auto", help="auto, cpu, gpu, cuda:N")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "pretrain",
        help="self-supervised pretraining of a U-Net backbone",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(run=run)


def parse_hparams(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value  # plain strings need no quotes
    return out


def config_from_args(args: argparse.Namespace):
    from CardiacSSLLib.engine.pretrain import PretrainConfig

    try:
        features = tuple(int(f) for f in args.features.split(","))
    except ValueError as exc:
        raise InputError(f"--features must be comma-separated integers, got {args.features!r}") from exc
    try:
        spacing = None if args.target_spacing.lower() == "none" else float(args.target_spacing)
    except ValueError as exc:
        raise InputError(f"--target-spacing must be a number of mm or 'none', got {args.target_spacing!r}") from exc
    if spacing is not None and spacing <= 0:
        raise InputError(f"--target-spacing must be positive, got {spacing}")
    if not args.data:
        raise InputError("give at least one --data source (e.g. --data acdc:/data/acdc --data sunnybrook:/data/sb)")
    for name in ("iterations", "batch_size", "epochs", "lr", "image_size", "checkpoint_every", "log_every"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise InputError(f"--{name.replace('_', '-')} must be positive, got {value}")
    return PretrainConfig(
        method=args.method,
        sources=list(args.data),
        out=args.out,
        iterations=args.iterations,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        image_size=args.image_size,
        target_spacing=spacing,
        features=features,
        hparams=parse_hparams(args.set),
        seed=args.seed,
        device=args.device,
        amp=not args.no_amp,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        resume=args.resume,
        overwrite=args.overwrite,
        health=not args.no_health,
        health_probe=args.health_probe,
        stop_when_healthy=args.stop_when_healthy,
    )


def run(args: argparse.Namespace) -> int:
    from CardiacSSLLib.engine.pretrain import pretrain
    from CardiacSSLLib.progress import CancelToken, Progress

    cfg = config_from_args(args)
    cancel = CancelToken()
    restore = cancel.install_signal_handlers()
    progress = Progress(
        total=1, description=f"pretrain {cfg.method}", json_stream=sys.stdout if args.json_progress else None
    )
    try:
        result = pretrain(cfg, progress=progress, cancel=cancel)
    finally:
        progress.close()
        restore()
    if result.backbones and not args.json_progress:
        for name, path in result.backbones.items():
            print(f"{name}: {path}")
        print(f"{result.steps} steps, {result.images_per_s:.1f} images/s, {result.wall_s:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m CardiacSSLLib.cli.pretrain``, Slicer script): errors -> exit codes."""
    parser = argparse.ArgumentParser(
        prog="cardiacssl-pretrain",
        description=__doc__.splitlines()[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return run(args)
    except CardiacSSLError as exc:
        print(f"cardiacssl pretrain: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cardiacssl pretrain: cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
