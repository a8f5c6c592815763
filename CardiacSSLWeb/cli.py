"""``cardiacssl web`` (and ``python -m CardiacSSLWeb``): the annotate-then-fine-tune loop in a browser.

The library's ``cardiacssl`` finds this subcommand through the ``cardiacssl.commands``
entry point that pyproject.toml declares, so the library never imports its front ends.
The app (trame-slicer) is imported only when the subcommand runs: ``cardiacssl --help``
and the other subcommands never need trame or Slicer.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import sys
from pathlib import Path

from CardiacSSLLib.cli.common import EXIT_BAD_INPUT, EXIT_FAILURE

LOOPBACK = ("127.0.0.1", "localhost", "::1")
INSTALL_HINT = "pip install 'trame-slicer[standalone]'"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "web",
        help="segment, correct and fine-tune in a web browser (needs trame-slicer)",
        description="Start a local web app: list cines in a folder, segment, paint corrections, fine-tune, metrics.",
    )
    p.add_argument("--data", type=Path, help="folder whose cines (DICOM folders, NIfTI/NRRD files) are listed")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8080, help="port to serve on")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host: anyone who reaches the port can read the data and run jobs",
    )
    p.add_argument("--train-set", type=Path, help="training-set folder (default: ~/.cardiacssl/trainingset)")
    p.add_argument(
        "--model", action="append", default=[], help="also offer this checkpoint (besides the registry; repeatable)"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, gpu or cuda:N for segmenting and fine-tuning")
    p.add_argument("--steps", type=int, default=100, help="default number of fine-tuning steps")
    p.add_argument(
        "--finetune-args",
        default="",
        help='extra `cardiacssl finetune` options for every run, e.g. "--batch-size 2 --patch-size 64"',
    )
    p.set_defaults(run=run)


def _import_web_app():
    """``CardiacSSLWeb.app`` (imports trame-slicer and MRML), only once the checks have passed."""
    from CardiacSSLWeb import app

    return app


def run(args: argparse.Namespace) -> int:
    if args.host not in LOOPBACK and not args.allow_remote:
        print(
            f"cardiacssl web: refusing to listen on {args.host!r} (not loopback) without --allow-remote",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if not 0 <= args.port <= 65535:
        print(f"cardiacssl web: invalid --port {args.port}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.data is not None and not args.data.is_dir():
        print(f"cardiacssl web: --data {args.data} is not a folder", file=sys.stderr)
        return EXIT_BAD_INPUT
    missing = [m for m in ("trame", "trame_slicer", "slicer") if importlib.util.find_spec(m) is None]
    if missing:
        print(
            f"cardiacssl web: the web app needs trame-slicer ({', '.join(missing)} not installed): {INSTALL_HINT}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    if args.host not in LOOPBACK:
        print(
            f"WARNING: cardiacssl web listens on {args.host}:{args.port}; anyone who can reach it can read "
            "your images and start jobs. There is no authentication: use only on a trusted network.",
            file=sys.stderr,
        )
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    try:
        app = _import_web_app()
    except ImportError as exc:
        print(f"cardiacssl web: cannot start the web app: {exc}. Install it with: {INSTALL_HINT}", file=sys.stderr)
        return EXIT_FAILURE
    config = app.WebConfig(
        data=args.data,
        host=args.host,
        port=args.port,
        train_set=args.train_set,
        models=[str(Path(m).expanduser()) for m in args.model],
        device=args.device,
        finetune_steps=args.steps,
        finetune_args=shlex.split(args.finetune_args),
    )
    return app.serve(config)


def main(argv: list[str] | None = None) -> int:
    """``python -m CardiacSSLWeb [options]``: the same as ``cardiacssl web [options]``."""
    from CardiacSSLLib.cli.main import main as cardiacssl_main

    return cardiacssl_main(["web", *(sys.argv[1:] if argv is None else argv)], commands={"web": add_parser})


if __name__ == "__main__":
    sys.exit(main())
