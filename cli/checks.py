"""`tunescale coord-check` and `tunescale transfer-check`: is the parametrization right?"""

from __future__ import annotations

import argparse
import sys

from tunescale.cli.options import (
    add_command,
    add_json,
    check_out_dir,
    emit,
    positive_float,
    positive_int,
)


def _ints(text: str) -> list[int]:
    try:
        return [positive_int(v) for v in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers >= 1 like 32,64,128") from None


def _floats(text: str) -> list[float]:
    try:
        return [positive_float(v) for v in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated numbers > 0 like 1e-3,3e-3") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "coord-check",
        help="train a few steps at several widths; mean |activation| per layer vs width",
        examples=["tunescale coord-check --parametrization mup",
                  "tunescale coord-check --parametrization sp --widths 32,64,128,256 --json"],
    )
    p.add_argument("--parametrization", default="mup", help="sp, mup, umup, ntk or mfp (default mup)")
    p.add_argument("--per-layer-lr", action="store_true", help="sp/ntk/mfp with Everett et al.'s per-layer LRs")
    p.add_argument("--widths", type=_ints, default=None, help="comma-separated widths (default 32,64,128,256)")
    p.add_argument("--steps", type=positive_int, default=None, help="training steps before measuring (default 4)")
    p.add_argument("--lr", type=positive_float, default=None, help="Adam LR (default 1e-2)")
    p.add_argument("--out", default="out/coord-check", help="directory for the plot and JSON")
    add_json(p)
    p.set_defaults(func=_coord)

    p = add_command(
        subparsers, "transfer-check",
        help="sweep LR at 4 widths for SP and muP; plot and report the drift of the optimal LR",
        description="Sweep the LR at several widths per parametrization and report how far the optimal LR "
        "drifts across widths; progress lines go to stderr, finished trials are kept and not rerun.",
        examples=["tunescale transfer-check",
                  "tunescale transfer-check --parametrizations sp,mup,umup --steps 100 --json-out drift.json"],
    )
    p.add_argument(
        "--parametrizations",
        default="sp,mup",
        help="comma-separated variants: name[+plr][@wd_mode], e.g. sp+plr, mup@coupled_group (default sp,mup)",
    )
    p.add_argument("--hp", default="lr", help="the HP swept at each width: lr or weight_decay (default lr)")
    p.add_argument("--lr", type=positive_float, default=None, help="the fixed LR when --hp weight_decay")
    p.add_argument("--widths", type=_ints, default=None, help="comma-separated widths (default 32,64,128,256)")
    p.add_argument(
        "--lrs",
        "--values",
        type=_floats,
        default=None,
        help="comma-separated grid of the swept HP (default lr 2^-13..2^-4, weight_decay 2^-6..2^4)",
    )
    p.add_argument("--steps", type=positive_int, default=None, help="training steps per trial (default 200)")
    p.add_argument("--out", default="out/transfer-check", help="directory for runs, plot and JSON")
    add_json(p)
    p.set_defaults(func=_transfer)


def _coord(args: argparse.Namespace) -> int:
    from tunescale.trials.coord_check import run_coord_check

    check_out_dir(args.out)
    kwargs = {k: v for k, v in (("widths", args.widths), ("steps", args.steps), ("lr", args.lr)) if v is not None}
    result = run_coord_check(args.parametrization, out_dir=args.out, per_layer_lr=args.per_layer_lr, **kwargs)
    emit(args, result.summary(), f"{result.report()}\nfigure: {result.figure}")
    return 0


def _transfer(args: argparse.Namespace) -> int:
    from tunescale.trials.transfer_check import DEFAULT_TRIAL, run_transfer_check

    check_out_dir(args.out)
    names = args.parametrizations.split(",")
    kwargs = {k: v for k, v in (("widths", args.widths), ("lrs", args.lrs)) if v is not None}
    trial = {**DEFAULT_TRIAL, **({"steps": args.steps} if args.steps else {}), **({"lr": args.lr} if args.lr else {})}

    def progress(row: dict) -> None:
        print(f"{row['trial_id']}: {row['status']} loss={row['loss']:.4f}", file=sys.stderr, flush=True)

    result = run_transfer_check(args.out, parametrizations=names, hp=args.hp, trial=trial, on_trial=progress, **kwargs)
    emit(args, result.summary(), f"{result.report()}\nfigure: {result.figure}")
    return 0
