"""`tunescale study [SPEC]`: proxies -> laws -> prediction -> verified target, then the report."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "study",
        help="tune muP proxies, fit scaling laws, predict and verify a wider target model",
        description="Without SPEC runs the shipped default (about 2 minutes on 2 CPU cores) into runs/study. "
        "SPEC is a TOML file or a shipped spec name (study_default.toml, study_gpu.toml, study_tiny.toml).",
    )
    p.add_argument("spec", metavar="SPEC", nargs="?", help="study spec (default: the shipped study_default.toml)")
    p.add_argument("--out", metavar="RUN_DIR", help="study directory (default: the spec's 'out', runs/study)")
    p.add_argument("--address", metavar="HOST:PORT", help="join a running Ray cluster instead of a local Ray")
    p.add_argument("--resume", action="store_true", help="continue the study already in RUN_DIR")
    p.add_argument("--no-report", action="store_true", help="skip writing RUN_DIR/report")
    p.add_argument("--json", action="store_true", help="print the headline numbers as JSON")
    p.set_defaults(func=_study)


def _study(args: argparse.Namespace) -> int:
    from tunescale.study.run import run_study, spec_path

    result = run_study(spec_path(args.spec), out=args.out, address=args.address, resume=args.resume)
    if not args.no_report:
        from tunescale.analyses.report import write_report

        page = write_report(result.run_dir)
        print(f"report: {page}")
    print(json.dumps(result.summary(), indent=1, default=float) if args.json else result.report())
    return 0
