"""`tunescale trials ...`: look at a sweep's trial store, export it, or import runs made elsewhere.

Imports read Ray Tune experiment directories and Optuna storages. Ray opens an
experiment by unpickling its state files, so import only experiments you trust.
"""

from __future__ import annotations

import argparse

import pandas as pd

from tunescale.cli.options import (
    add_column_map,
    add_command,
    add_json,
    column_map,
    emit,
    positive_int,
)
from tunescale.contract.errors import InputError
from tunescale.contract.store import EXPORT_FORMATS, export, read_trials
from tunescale.contract.text import table

SHOW_COLUMNS = ["trial_id", "status", "params", "tokens", "lr", "batch_size", "weight_decay", "loss"]
SHOW_EXAMPLE = "tunescale trials show runs/my-sweep --top 5"
EXPORT_EXAMPLE = "tunescale trials export runs/my-sweep all.parquet"
EXPORT_OPTUNA_EXAMPLE = "tunescale trials export runs/my-sweep --format optuna --storage sqlite:///db.sqlite3"
IMPORT_RAY_EXAMPLE = "tunescale trials import ray ~/ray_results/my_exp runs/my-exp --loss-col val_loss"
IMPORT_OPTUNA_EXAMPLE = "tunescale trials import optuna sqlite:///db.sqlite3 runs/my-study --study my-study"


def register(subparsers: argparse._SubParsersAction) -> None:
    trials = add_command(subparsers, "trials", help="inspect or export a sweep's trial store",
                         examples=[SHOW_EXAMPLE, EXPORT_EXAMPLE])
    sub = trials.add_subparsers(dest="trials_command", metavar="{show,export,import}", required=True)

    p = add_command(sub, "show", help="status counts and the best trials of RUN_DIR", examples=[SHOW_EXAMPLE])
    p.add_argument("run_dir", metavar="RUN_DIR", help="sweep directory, .parquet or .csv of trial rows")
    p.add_argument("--top", type=positive_int, default=10, help="how many best rows to list (default 10)")
    add_json(p)
    p.set_defaults(func=_show)

    p = add_command(sub, "export", help="write every trial row of RUN_DIR to one Parquet or CSV file, "
                    "or into an Optuna study", examples=[EXPORT_EXAMPLE, EXPORT_OPTUNA_EXAMPLE])
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("out", metavar="OUT", nargs="?", help="the file to write (*.parquet or *.csv)")
    p.add_argument("--format", choices=(*EXPORT_FORMATS, "optuna"),
                   help="parquet or csv (default: from OUT's suffix), or optuna")
    p.add_argument("--storage", metavar="URL", help="--format optuna: the Optuna storage, e.g. sqlite:///db.sqlite3")
    p.add_argument("--study", metavar="NAME", help="--format optuna: the new study's name (default: the sweep's)")
    p.set_defaults(func=_export)

    imp = add_command(sub, "import", help="write runs made with Ray Tune or Optuna into a trial store",
                      examples=[IMPORT_RAY_EXAMPLE, IMPORT_OPTUNA_EXAMPLE])
    kinds = imp.add_subparsers(dest="import_kind", metavar="{ray,optuna}", required=True)
    p = add_command(kinds, "ray", help="import a Ray Tune experiment directory (trusted: Ray unpickles it)",
                    examples=[IMPORT_RAY_EXAMPLE])
    p.add_argument("path", metavar="EXPERIMENT_DIR", help="Ray Tune's storage_path/<experiment name>")
    p.add_argument("--full-iterations", type=positive_int, metavar="K",
                   help="training iterations of a finished trial: trials Ray stopped before K (a scheduler's "
                        "early stop, which Ray records as TERMINATED) are stored as pruned")
    _import_arguments(p)
    p.set_defaults(func=_import_ray)
    p = add_command(kinds, "optuna", help="import an Optuna study from its storage", examples=[IMPORT_OPTUNA_EXAMPLE])
    p.add_argument("storage", metavar="STORAGE_URL", help="e.g. sqlite:///db.sqlite3")
    p.add_argument("--study", metavar="NAME", help="the study's name (default: the storage's only study)")
    _import_arguments(p)
    p.set_defaults(func=_import_optuna)


def _import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("store", metavar="STORE_DIR", help="the trial store to write (a new sweep directory)")
    p.add_argument("--sweep", metavar="NAME", help="sweep name for the rows (default: the experiment's or study's)")
    add_column_map(p, "configs and metrics named otherwise")
    add_json(p)


def _imported(args: argparse.Namespace, summary) -> int:
    skipped = ", ".join(f"{n} {why}" for why, n in summary.skipped.items()) or "none"
    statuses = ", ".join(f"{s} {n}" for s, n in sorted(summary.statuses.items()))
    text = (f"wrote {summary.written} trials ({statuses}) of sweep {summary.sweep!r} to {summary.store_dir}; "
            f"skipped: {skipped}")
    emit(args, summary.summary(), "\n".join([text, *(f"note: {n}" for n in summary.notes)]))
    return 0


def _import_ray(args: argparse.Namespace) -> int:
    from tunescale.sweep.import_ray import import_ray_tune

    return _imported(args, import_ray_tune(args.path, args.store, column_map(args), args.sweep, args.full_iterations))


def _import_optuna(args: argparse.Namespace) -> int:
    from tunescale.sweep.import_optuna import import_optuna

    return _imported(args, import_optuna(args.storage, args.study, args.store, column_map(args), args.sweep))


def _export(args: argparse.Namespace) -> int:
    if args.format == "optuna":
        if not args.storage:
            raise InputError("--format optuna needs --storage URL (e.g. sqlite:///db.sqlite3).")
        from tunescale.sweep.export_optuna import export_optuna

        study = args.study or read_trials(args.run_dir, validated=True)["sweep"].iloc[0]
        n = export_optuna(args.run_dir, args.storage, study)
        print(f"wrote {n} trials to Optuna study {study!r} in {args.storage}")
        return 0
    if args.out is None:
        raise InputError("give the file to write (OUT.parquet or OUT.csv), or --format optuna --storage URL.")
    n = export(args.run_dir, args.out, args.format)
    print(f"wrote {n} trial rows to {args.out}")
    return 0


def _best(df: pd.DataFrame, top: int) -> pd.DataFrame:
    done = df[df["status"] == "completed"]
    return done.nsmallest(top, "loss")[[c for c in SHOW_COLUMNS if c in done.columns]]


def summarize(df: pd.DataFrame, top: int = 10) -> str:
    """Readable text: rows per status and the `top` completed trials by loss."""
    lines = [f"{len(df)} trials"]
    if len(df) == 0:
        return lines[0]
    counts = df["status"].value_counts()
    lines.append("  " + "  ".join(f"{s}: {n}" for s, n in counts.items()))
    best = _best(df, top)
    if len(best):
        lines.append(f"best {len(best)} by loss:")
        lines.append(table(list(best.columns), best.astype(object).where(best.notna(), None).values.tolist()))
    return "\n".join(lines)


def _show(args: argparse.Namespace) -> int:
    df = read_trials(args.run_dir, validated=True)
    document = {"trials": len(df), "statuses": {str(s): int(n) for s, n in df["status"].value_counts().items()},
                "best": _best(df, args.top).to_dict("records") if len(df) else []}
    emit(args, document, summarize(df, args.top))
    return 0
