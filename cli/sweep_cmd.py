"""`tunescale sweep SPEC`: run a sweep spec on an embedded local Ray or a cluster."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="run the trials a TOML sweep spec describes, writing each to the trial store",
        description="Run a sweep on a local Ray instance (default) or a Ray cluster (--address).",
    )
    p.add_argument("spec", metavar="SPEC.toml", help="sweep spec (see sweep/specs/tiny.toml)")
    p.add_argument("--address", help="join a running Ray cluster: HOST:PORT, ray://HOST:PORT or auto")
    p.add_argument("--resume", action="store_true",
                   help="continue a sweep whose driver stopped: stored trials are kept, not rerun")
    p.add_argument("--storage", help="override the spec's storage directory")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local Ray instance (default: all)")
    p.add_argument("--json", action="store_true", help="print the end summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    import dataclasses
    import sys

    from tunescale.sweep.engine import run_sweep
    from tunescale.sweep.spec import load_spec

    spec = load_spec(args.spec)
    if args.storage:
        spec = dataclasses.replace(spec, storage=args.storage)
    result = run_sweep(spec, address=args.address, resume=args.resume,
                       out=None if args.quiet else sys.stderr, num_cpus=args.num_cpus)
    print(json.dumps(result.summary()) if args.json else result.report())
    return 0
