"""What every `tunescale` command shares, defined once: the help layout, `--address`, `--json`.

`--json` prints a command's result as one JSON document on stdout and nothing else there
(progress goes to stderr), so the output pipes into `jq`; `--json-out FILE` writes the same
document to FILE and keeps the text report on stdout. A separate option, rather than an
optional value on `--json`, because `--json SPEC.toml` would swallow the positional argument.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from tunescale.contract.atomic import write_text
from tunescale.contract.errors import InputError
from tunescale.contract.writable import dir_problem


def layout(description: str, examples: Sequence[str]) -> dict:
    """Parser keywords for a `--help` that wraps the description and ends with example lines as written."""
    return {"description": textwrap.fill(description, width=100),
            "epilog": "examples:\n" + "\n".join(f"  {line}" for line in examples),
            "formatter_class": argparse.RawDescriptionHelpFormatter}


def add_command(subparsers: argparse._SubParsersAction, name: str, *, help: str, examples: Sequence[str],
                description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand with examples in its `--help`; the description defaults to the one-line help."""
    return subparsers.add_parser(name, help=help, **layout(description or help[0].upper() + help[1:] + ".", examples))


def add_address(p: argparse._ActionsContainer) -> None:
    p.add_argument("--address", metavar="HOST:PORT",
                   help="join a running Ray cluster (HOST:PORT, ray://HOST:PORT or auto) instead of a local Ray")


# Trial columns a table from elsewhere may call by other names, with an example of each.
MAPPED_COLUMNS = (("params", "'Model Size'"), ("tokens", "'Training Tokens'"), ("flops", "'Training FLOP'"),
                  ("loss", "'smooth loss'"), ("lr", "learning_rate"), ("batch_size", "bs"),
                  ("weight_decay", "wd"), ("status", "state"))


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (argparse reports the refusal in one line)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (so nan, inf and -1 are refused in one line)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def check_out_dir(path: str | None, option: str = "--out") -> None:
    """Refuse an output directory the command could not write, before it does any work."""
    if path and (problem := dir_problem(path)):
        raise InputError(f"{option} {path}: {problem}; choose a directory you can write.")


def check_json_out(path: str | None) -> None:
    """Refuse a --json-out the command could not write at its end, before it does any work."""
    if not path:
        return
    p = Path(path)
    if p.is_dir():
        raise InputError(f"--json-out {path}: is a directory; give a file name.")
    if not p.parent.is_dir():
        raise InputError(f"--json-out {path}: the directory {p.parent} does not exist; create it first.")
    if problem := dir_problem(p.parent):
        raise InputError(f"--json-out {path}: {problem}; choose another file.")
    if p.exists() and not os.access(p, os.W_OK):
        raise InputError(f"--json-out {path}: not writable; choose another file.")


def add_column_map(p: argparse.ArgumentParser, source: str = "tables not written by tunescale") -> None:
    """`--params-col NAME` and the like: where a foreign table keeps each trial column."""
    cols = p.add_argument_group(f"column mapping (for {source})")
    for name, example in MAPPED_COLUMNS:
        cols.add_argument(f"--{name.replace('_', '-')}-col", dest=f"{name}_col", metavar="NAME",
                          help=f"column holding {name} (e.g. {example})")


def column_map(args: argparse.Namespace):
    """The `ColumnMap` the `--*-col` options give."""
    from tunescale.scaling.columns import ColumnMap

    return ColumnMap(**{name: getattr(args, f"{name}_col") for name, _ in MAPPED_COLUMNS})


def add_json(p: argparse._ActionsContainer) -> None:
    p.add_argument("--json", action="store_true",
                   help="print the result as one JSON document on stdout instead of the text report")
    p.add_argument("--json-out", metavar="FILE", help="also write the result as one JSON document to FILE")


def json_safe(value):
    """Plain JSON values: NaN/inf become null, numpy numbers and arrays become numbers and lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_safe(value.tolist())
    return value


def to_json(document: dict) -> str:
    return json.dumps(json_safe(document), indent=2, allow_nan=False, default=str)


def emit(args: argparse.Namespace, document: dict, text: str) -> None:
    """Print `text`, or `document` as JSON under --json; write `document` to --json-out."""
    rendered = to_json(document)
    if args.json_out:
        try:
            write_text(args.json_out, rendered + "\n")
        except OSError as exc:
            raise InputError(f"--json-out {args.json_out}: cannot write the file ({exc.strerror}).") from None
    if args.json:
        print(rendered)
        return
    print(text)
    if args.json_out:
        print(f"wrote {args.json_out}")


@contextlib.contextmanager
def busy(label: str) -> Iterator[None]:
    """A live '<label> 0:07' line on a terminal's stderr while a step without countable parts runs
    (a fit's batched bootstrap refits); nothing off a terminal, where a log needs no ticking clock."""
    if not sys.stderr.isatty():
        yield
        return
    import shutil

    from tqdm import tqdm

    size = shutil.get_terminal_size((80, 24))  # a terminal reporting no size would get no line from tqdm
    bar = tqdm(desc=label, file=sys.stderr, bar_format="{desc} {elapsed}", leave=False, ncols=size.columns,
               nrows=size.lines)
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.5):
            bar.refresh()

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()
        bar.close()
