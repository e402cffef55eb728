"""`tunescale`: one command line with a subcommand per job.

Each job's module exposes `register(subparsers)` and keeps heavy imports (torch, ray)
inside its handlers, so `tunescale trials show` starts fast. Every error a user can
cause surfaces as one line on stderr and exit code 2; set TUNESCALE_DEBUG=1 to see the
traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from tunescale.contract.errors import TunescaleError

# Modules that add subcommands, in the order `tunescale --help` lists them.
COMMAND_MODULES = (
    "tunescale.cli.trials_cmd",
    "tunescale.cli.sweep_cmd",
    "tunescale.cli.study_cmd",
    "tunescale.cli.report_cmd",
    "tunescale.cli.fit_scaling_cmd",
    "tunescale.cli.check_cmd",
    "tunescale.cli.stn_cmd",
)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports misuse as a single line (plus the hint to ask for --help)."""

    def error(self, message: str) -> None:  # noqa: D102 - argparse hook
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="tunescale", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def run(handler, args: argparse.Namespace, prog: str) -> int:
    """Call a command handler through the one error funnel."""
    try:
        return int(handler(args) or 0)
    except TunescaleError as exc:
        if os.environ.get("TUNESCALE_DEBUG"):
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run(args.func, args, "tunescale")


if __name__ == "__main__":
    sys.exit(main())
