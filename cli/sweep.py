"""`tunescale sweep SPEC`: run a sweep spec on an embedded local Ray or a cluster."""

from __future__ import annotations

import argparse

from tunescale.cli.options import add_address, add_command, add_json, emit, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "sweep",
        help="run the trials a TOML sweep spec describes, writing each to the trial store",
        description="Run a sweep on a local Ray instance (default) or a Ray cluster (--address); "
        "progress (a live bar on a terminal, a line every 10 s elsewhere) goes to stderr, the end summary to stdout.",
        examples=["tunescale sweep sweep/specs/tiny.toml",
                  "tunescale sweep spec.toml --address 10.0.0.5:6379 --json > summary.json",
                  "tunescale sweep spec.toml --resume --quiet"],
    )
    p.add_argument("spec", metavar="SPEC.toml", help="sweep spec (see sweep/specs/tiny.toml)")
    add_address(p)
    p.add_argument("--resume", action="store_true",
                   help="continue a sweep whose driver stopped: stored trials are kept, not rerun")
    p.add_argument("--storage", help="override the spec's storage directory")
    p.add_argument("--num-cpus", type=positive_int, help="CPUs of the local Ray instance (default: all)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or lines")
    p.add_argument("--verbose", action="store_true", help="also show Ray Tune's own banners, tables and worker logs")
    p.add_argument("--allow-any-trainable", action="store_true",
                   help="run a spec whose trainable is neither shipped nor a registered 'tunescale.trainables' "
                        "entry point (the trainable is code: only for specs you trust)")
    add_json(p)
    p.set_defaults(func=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    import dataclasses
    import sys

    from tunescale.sweep.engine import run_sweep
    from tunescale.sweep.plan import describe
    from tunescale.sweep.spec import load_spec
    from tunescale.sweep.trial import check_trainable

    spec = load_spec(args.spec)
    check_trainable(spec.trainable, args.allow_any_trainable)
    if args.storage:
        spec = dataclasses.replace(spec, storage=args.storage)
    if not args.quiet:
        print("\n".join(describe(spec)), file=sys.stderr, flush=True)
    result = run_sweep(spec, address=args.address, resume=args.resume,
                       out=None if args.quiet else sys.stderr, num_cpus=args.num_cpus, verbose=args.verbose)
    emit(args, result.summary(), result.report())
    return 0
