"""``cardiacssl`` entry point: subcommands, and errors turned into messages and exit codes.

Exit codes: 0 success, 1 unexpected failure, 2 bad input, 3 model problem, 130 cancelled.
The library's own subcommands are listed here; a front end adds its own (``web``) through
the ``cardiacssl.commands`` entry-point group, so nothing here names a front end.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib.metadata import entry_points

from CardiacSSLLib import __version__

SUBCOMMANDS = ("segment", "finetune", "pretrain", "evaluate", "metrics", "models", "demo", "propagate", "qc")
ENTRY_POINT_GROUP = "cardiacssl.commands"  # name = subcommand, value = its ``add_parser(subparsers)``

AddParser = Callable[[argparse._SubParsersAction], None]


def plugin_commands() -> dict[str, AddParser]:
    """Subcommands that installed front ends declare (``[project.entry-points."cardiacssl.commands"]``)."""
    return {ep.name: ep.load for ep in entry_points(group=ENTRY_POINT_GROUP)}


def build_parser(commands: dict[str, AddParser] | None = None) -> argparse.ArgumentParser:
    """The library's subcommands, then ``commands`` (name -> ``add_parser``), then installed plugins."""
    import importlib

    parser = argparse.ArgumentParser(prog="cardiacssl", description="Cardiac cine MRI segmentation with SSL U-Nets")
    parser.add_argument("--version", action="version", version=f"cardiacssl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", metavar="command")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"CardiacSSLLib.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"CardiacSSLLib.cli.{name}":
                raise
            continue  # a subcommand not installed in this build
        module.add_parser(sub)
    extra = dict(commands or {})
    for name, load in plugin_commands().items():
        if name not in extra and name not in SUBCOMMANDS:
            extra[name] = lambda sub, load=load: load()(sub)  # the front end is imported only here
    for add_parser in extra.values():
        add_parser(sub)
    return parser


def main(argv: list[str] | None = None, commands: dict[str, AddParser] | None = None) -> int:
    from CardiacSSLLib.cli.common import setup_logging

    parser = build_parser(commands)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for bad usage, 0 for --help
        return int(exc.code or 0)
    setup_logging(args.verbose)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from CardiacSSLLib.cli.exit_codes import run_reporting_errors

    return run_reporting_errors(f"cardiacssl {args.command}", lambda: args.run(args), args.verbose)


if __name__ == "__main__":
    sys.exit(main())
