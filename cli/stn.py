"""`tunescale stn SPEC`: one Self-Tuning-Network run, stored as a trial with its trajectory."""

from __future__ import annotations

import argparse

from tunescale.cli.options import add_command, add_json, emit


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "stn",
        help="tune regularization hyperparameters online in one run (Self-Tuning Networks)",
        description="Train one Self-Tuning Network from a TOML spec; write the run as a trial "
        "row, its hyperparameter trajectory as curves, and a trajectory figure.",
        examples=["tunescale stn stn.toml", "tunescale stn stn.toml --seed 1 --json"],
    )
    p.add_argument("spec", metavar="SPEC", help="TOML spec (see trials/stn/run.py for the keys)")
    p.add_argument("--seed", type=int, help="override train.seed of the spec")
    add_json(p)
    p.set_defaults(func=_stn)


def _stn(args: argparse.Namespace) -> int:
    import dataclasses

    from tunescale.trials.stn.run import load_spec, run_spec

    parsed = load_spec(args.spec)
    if args.seed is not None:
        parsed = dataclasses.replace(parsed, config=dataclasses.replace(parsed.config, seed=args.seed))
    row, figure = run_spec(parsed)
    tuned = {s.name for s in parsed.specs}
    hps = ", ".join(f"{k[3:]}={row[k]:.3g}" for k in row if k.startswith("hp_") and k[3:] in tuned)
    text = (f"{row['trial_id']}: {row['status']}, held-out loss {row['loss']:.4f}, {hps}\n"
            f"wrote trial and curves to {parsed.out}; figure {figure}")
    emit(args, {"trial": row, "store": parsed.out, "figure": figure}, text)
    return 0
