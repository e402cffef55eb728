"""`tunescale`: one command line with a subcommand per job.

Each command's module exposes `register(subparsers)` and keeps heavy imports (torch, ray)
inside its handler, so `tunescale trials show` starts fast. Every command runs through
`run`, the one error funnel: an error a user can cause surfaces as one line on stderr and
exit code 2; set TUNESCALE_DEBUG=1 to see the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import sys

from tunescale.cli.options import check_json_out, layout
from tunescale.contract.errors import EXTRA_MODULES, TunescaleError

# Modules that add subcommands, in the order `tunescale --help` lists them.
COMMAND_MODULES = (
    "tunescale.cli.trials",
    "tunescale.cli.sweep",
    "tunescale.cli.study",
    "tunescale.cli.report",
    "tunescale.cli.fit_scaling",
    "tunescale.cli.checks",
    "tunescale.cli.stn",
)

EXAMPLES = (
    "tunescale study                       # the shipped study: proxies, laws, verified prediction, report",
    "tunescale sweep sweep/specs/tiny.toml --json",
    "tunescale COMMAND --help              # options and examples of one command",
)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports misuse as a single line (plus the hint to ask for --help)."""

    def error(self, message: str) -> None:  # noqa: D102 - argparse hook
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="tunescale", **layout(__doc__.splitlines()[0], EXAMPLES))
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                       parser_class=OneLineParser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse `argv` and call the handler it names; return the exit code, never raise for a user's error."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0), or misuse argparse has already reported in one line (2)
        return int(exc.code or 0)
    try:
        check_json_out(getattr(args, "json_out", None))
        return int(args.func(args) or 0)
    except TunescaleError as exc:
        if os.environ.get("TUNESCALE_DEBUG"):
            raise
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if exc.name not in EXTRA_MODULES or os.environ.get("TUNESCALE_DEBUG"):
            raise
        print(f"{parser.prog}: error: this command needs {exc.name}, which the core install leaves out; "
              f"install the full tool with: pip install 'tunescale[all]'", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `tunescale trials show ... | head` closed our stdout: stop quietly
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141  # 128 + SIGPIPE, what a shell reports for a tool that a pipe closed
    except KeyboardInterrupt as exc:  # a sweep's says what is stored and how to resume
        print(f"{parser.prog}: {exc or 'interrupted'}", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
