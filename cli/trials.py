"""`tunescale trials ...`: look at and export a sweep's trial store."""

from __future__ import annotations

import argparse

import pandas as pd

from tunescale.cli.options import add_command
from tunescale.contract.store import export, read_trials

SHOW_COLUMNS = ["trial_id", "status", "params", "tokens", "lr", "batch_size", "weight_decay", "loss"]
SHOW_EXAMPLE = "tunescale trials show runs/my-sweep --top 5"
EXPORT_EXAMPLE = "tunescale trials export runs/my-sweep all.parquet"


def register(subparsers: argparse._SubParsersAction) -> None:
    trials = add_command(subparsers, "trials", help="inspect or export a sweep's trial store",
                         examples=[SHOW_EXAMPLE, EXPORT_EXAMPLE])
    sub = trials.add_subparsers(dest="trials_command", metavar="{show,export}", required=True)

    p = add_command(sub, "show", help="status counts and the best trials of RUN_DIR", examples=[SHOW_EXAMPLE])
    p.add_argument("run_dir", metavar="RUN_DIR", help="sweep directory, .parquet or .csv of trial rows")
    p.add_argument("--top", type=int, default=10, help="how many best rows to list (default 10)")
    p.set_defaults(func=_show)

    p = add_command(sub, "export", help="write every trial row of RUN_DIR to one Parquet file",
                    examples=[EXPORT_EXAMPLE])
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("out", metavar="OUT.parquet")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    n = export(args.run_dir, args.out)
    print(f"wrote {n} trial rows to {args.out}")
    return 0


def summarize(df: pd.DataFrame, top: int = 10) -> str:
    """Readable text: rows per status and the `top` completed trials by loss."""
    lines = [f"{len(df)} trials"]
    if len(df) == 0:
        return lines[0]
    counts = df["status"].value_counts()
    lines.append("  " + "  ".join(f"{s}: {n}" for s, n in counts.items()))
    done = df[df["status"] == "completed"]
    if len(done):
        cols = [c for c in SHOW_COLUMNS if c in done.columns]
        best = done.nsmallest(top, "loss")[cols]
        lines.append(f"best {len(best)} by loss:")
        lines.append(best.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return "\n".join(lines)


def _show(args: argparse.Namespace) -> int:
    print(summarize(read_trials(args.run_dir, validated=True), args.top))
    return 0
