"""`fit-scaling PATH` (also `tunescale fit-scaling PATH`): from a table of runs to laws, predictions, figures.

Notations
---------
PATH   a trial-store sweep directory, a Parquet file or a CSV of runs, a Ray Tune experiment
       directory, or an Optuna storage (URL or SQLite file; --study NAME when it holds several)
N, D, C, L   params, tokens, flops, loss columns (mapped with --params-col etc.)
"""

from __future__ import annotations

import argparse
import sys

from tunescale.cli.options import (
    add_column_map,
    add_command,
    add_json,
    busy,
    column_map,
    emit,
    layout,
    to_json,
)
from tunescale.contract.atomic import replacing, write_text
from tunescale.scaling.optima import DEFAULT_BAND_PCT

DESCRIPTION = __doc__.split("\n\n")[0]
EXAMPLES = (
    "fit-scaling runs/sweep --predict params=7e9,tokens=2e12 --out fit/",
    "fit-scaling ~/ray_results/lr_sweep --params-col n_params --loss-col val_loss --holdout 'params>=1e9' \\\n"
    "      --predict-table next_runs.csv --out fit/",
    "fit-scaling steplaw.csv --params-col N --tokens-col D --batch-size-col bs --seq-len 2048 \\\n"
    "      --loss-col 'smooth loss' --compare steplaw --json-out fit.json",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(subparsers, "fit-scaling", description=DESCRIPTION, examples=EXAMPLES,
                    help="fit optima per scale, hyperparameter and loss laws, and predict a larger run")
    add_arguments(p)
    p.set_defaults(func=handle)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH",
                   help="sweep directory, .parquet or .csv of runs, Ray Tune experiment directory, or Optuna storage")
    p.add_argument("--study", metavar="NAME", help="the study to read when PATH is an Optuna storage holding several")
    add_column_map(p)
    p.add_argument("--seq-len", type=float, metavar="T",
                      help="tokens per sequence: batch sizes are multiplied by T and reported in tokens")
    rows = p.add_argument_group("which rows")
    rows.add_argument("--where", action="append", default=[], metavar="COL OP VALUE",
                      help="keep only rows where COL OP VALUE holds, OP one of = != < <= > >= (repeatable), "
                           "e.g. source=epochai_chinchilla, params<5e8")
    rows.add_argument("--ignore-col", action="append", default=[], metavar="NAME",
                      help="drop column NAME before anything else (repeatable), e.g. a logged HP you do not trust")
    rows.add_argument("--run-col", metavar="ID",
                      help="column naming each run; one row per run is kept, its final evaluation (most tokens). "
                           "Default: the first of run_id, run, run_name, exp_name, name, id whose values repeat")
    rows.add_argument("--holdout", action="append", default=[], metavar="COL OP VALUE",
                      help="hold out runs matching (repeatable, all must hold), e.g. params>=1e9: fit on the rest and "
                           "report the prediction error on them (--method joint)")
    rows.add_argument("--exclude-top-loss", type=int, default=0, metavar="K",
                      help="drop the K highest-loss runs (the Chinchilla replication drops 5); counted in the report")
    rows.add_argument("--drop-bad-rows", action="store_true",
                      help="drop (and count) NaN/inf losses, non-positive scale/HP values and duplicated trials "
                           "instead of stopping")
    fit = p.add_argument_group("fitting")
    fit.add_argument("--law", action="append", default=[], metavar="FORMULA",
                     help="law form, repeatable: 'lr ~ params + tokens', 'batch_size ~ tokens', 'lr ~ flops', "
                          "'loss ~ params + tokens', 'loss ~ flops' (defaults: these, as the data allow; the joint "
                          "method takes lr, batch_size and weight_decay laws in params and/or tokens); "
                          "'hp_resid_dropout ~ params' for a column each run tuned online (an STN's final value: "
                          "mean per scale, bootstrap over runs; default: every column the runs mark as tuned)")
    fit.add_argument("--method", choices=["grid", "joint", "auto"], default="auto",
                     help="grid: optima per scale then laws (needs 3+ values of an HP at one scale, others fixed); "
                          "joint: one model across scales (random, Bayesian, CARBS searches); auto (default): "
                          "grid when the table has such a sweep, else joint; the report says which and why")
    fit.add_argument("--hp-col", action="append", default=[], metavar="NAME",
                     help="another hyperparameter column, entered in the joint model as a nuisance term "
                          "(linear + quadratic, in log when it spans 10x), e.g. beta2 (repeatable)")
    fit.add_argument("--no-loss-law", action="store_true", help="fit and report no loss law")
    fit.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (default 1000)")
    fit.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    fit.add_argument("--band", type=float, default=DEFAULT_BAND_PCT, metavar="PCT",
                     help=f"near-optimal band: runs within PCT%% of the best loss (default {DEFAULT_BAND_PCT})")
    fit.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    fit.add_argument("--no-validate", action="store_true", help="skip the leave-largest-scale-out check")
    out = p.add_argument_group("output")
    out.add_argument("--predict", action="append", default=[], metavar="params=N,tokens=D|flops=C",
                     help="predict optimal lr, batch_size, weight_decay and loss at a scale (repeatable)")
    out.add_argument(
        "--predict-table",
        metavar="RUNS",
        help="a .csv/.parquet of runs (same column mapping, no loss needed): write predictions.csv under "
        "--out with its columns plus predicted_loss at each row's HPs (joint method), optimal_lr, "
        "optimal_batch_size, optimal_weight_decay, predicted_optimal_loss and their _low/_high bounds",
    )
    out.add_argument(
        "--compare",
        action="append",
        default=[],
        choices=["steplaw", "deepseek"],
        help="overlay a published law on the figures and in the JSON",
    )
    out.add_argument("--out", metavar="DIR", help="write fit.json and the figures (PNG and PDF) to DIR")
    add_json(out)


def handle(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tunescale.contract.errors import InputError
    from tunescale.scaling.columns import select
    from tunescale.scaling.fit import fit_scaling
    from tunescale.scaling.predict import parse_target

    check_options(args)
    targets = [check_target(t, parse_target(t)) for t in args.predict]
    mapping = column_map(args)
    table = read_runs(args, mapping)
    holdout = select(table.frame, args.holdout, table.source, "--holdout") if args.holdout else None
    with busy(f"fitting {len(table.frame)} runs, {args.bootstrap} bootstrap resamples per law:"):
        fit = fit_scaling(
            table,
            laws=args.law,
            n_bootstrap=args.bootstrap,
            seed=args.seed,
            band_pct=args.band,
            confidence=args.confidence,
            compare=args.compare,
            validate=not args.no_validate,
            method=args.method,
            hp_cols=tuple(args.hp_col),
            loss_law=not args.no_loss_law,
            holdout=holdout,
            holdout_rule=" and ".join(args.holdout),
        )
    predictions = [fit.predict(**t) for t in targets]
    document = {**fit.summary(), "predictions": [p.summary() for p in predictions]}
    text = "\n\n".join([fit.report(), *(p.report() for p in predictions)])
    if args.out:
        from tunescale.scaling.plots import write_figures

        out = Path(args.out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--out {out}: cannot create the directory ({exc.strerror}).") from None
        write_text(out / "fit.json", to_json(document) + "\n")
        written = write_figures(fit, out, predictions=predictions)
        text += f"\n\nwrote {out / 'fit.json'} and {len(written)} figure file(s) to {out}/"
        if args.predict_table:
            import pandas as pd

            from tunescale.scaling.columns import read_rows
            from tunescale.scaling.predict import predict_table

            raw, rows = read_rows(args.predict_table, mapping, seq_len=args.seq_len)
            table_out = pd.concat([raw, predict_table(fit, rows)], axis=1)
            with replacing(out / "predictions.csv") as tmp:
                table_out.to_csv(tmp, index=False)
            text += f"\nwrote {out / 'predictions.csv'}: {len(table_out)} row(s) of {args.predict_table}"
    emit(args, document, text)
    return 0


def read_runs(args: argparse.Namespace, mapping):
    """The usable runs of PATH. A Ray Tune experiment or an Optuna study is imported first
    (sweep.import_source), so there `--where` and `--ignore-col` name trial columns."""
    from dataclasses import replace

    from tunescale.scaling.columns import load
    from tunescale.sweep.import_source import runs_at

    with runs_at(args.path, mapping, args.study) as source:
        table = load(source.path, source.mapping, where=args.where, exclude_top_loss=args.exclude_top_loss,
                     drop_bad_rows=args.drop_bad_rows, seq_len=args.seq_len, ignore=args.ignore_col,
                     run_col=args.run_col)
    if source.imported is None:
        return table
    return replace(table, source=args.path, notes=(source.note(), *source.imported.notes, *table.notes))


MAX_BOOTSTRAP = 100_000  # each resample refits every law: beyond this, memory and hours, not precision


def check_options(args: argparse.Namespace) -> None:
    """Every option refused in one line before the table is read."""
    import math

    from tunescale.cli.options import check_out_dir
    from tunescale.contract.errors import InputError

    if not 0 <= args.bootstrap <= MAX_BOOTSTRAP:
        raise InputError(f"--bootstrap {args.bootstrap}: expected 0 to {MAX_BOOTSTRAP:,} resamples.")
    if args.seed < 0:
        raise InputError(f"--seed {args.seed}: expected an integer >= 0.")
    if not 0 < args.confidence < 1:
        raise InputError(f"--confidence {args.confidence}: expected a level between 0 and 1, e.g. 0.95.")
    if not (math.isfinite(args.band) and args.band >= 0):
        raise InputError(f"--band {args.band}: expected a finite percentage >= 0, e.g. 0.25.")
    if args.exclude_top_loss < 0:
        raise InputError(f"--exclude-top-loss {args.exclude_top_loss}: expected a count >= 0.")
    if args.seq_len is not None and not (math.isfinite(args.seq_len) and args.seq_len > 0):
        raise InputError(f"--seq-len {args.seq_len}: expected tokens per sequence > 0.")
    if args.predict_table and not args.out:
        raise InputError(f"--predict-table {args.predict_table}: give --out DIR too; predictions.csv is written there.")
    check_out_dir(args.out)


def check_target(text: str, target: dict) -> dict:
    """A --predict scale whose numbers, and whose FLOPs 6·N·D, are finite."""
    import math

    from tunescale.contract.errors import InputError
    from tunescale.contract.schema import FLOPS_PER_PARAM_TOKEN

    values = [float(v) for v in target.values() if isinstance(v, int | float)]
    if target.get("params") and target.get("tokens"):
        values.append(FLOPS_PER_PARAM_TOKEN * float(target["params"]) * float(target["tokens"]))
    if not all(math.isfinite(v) for v in values):
        raise InputError(
            f"--predict {text}: the scale overflows (its FLOPs are not a finite number); "
            f"give params, tokens and flops below 1e300 in all."
        )
    return target


def main(argv: list[str] | None = None) -> int:
    """The `fit-scaling` console script: the same command and error funnel as `tunescale fit-scaling`."""
    from tunescale.cli.main import OneLineParser, run

    parser = OneLineParser(prog="fit-scaling", **layout(DESCRIPTION, EXAMPLES))
    add_arguments(parser)
    parser.set_defaults(func=handle)
    return run(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
