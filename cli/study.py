"""`tunescale study [SPEC]`: proxies -> laws -> prediction -> verified target, then the report."""

from __future__ import annotations

import argparse

from tunescale.cli.options import add_address, add_command, add_json, emit


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "study",
        help="tune muP proxies, fit scaling laws, predict and verify a wider target model",
        description="Without SPEC runs the shipped default (about 2 minutes on 2 CPU cores) into runs/study. "
        "SPEC is a TOML file or a shipped spec name (study_default.toml, study_gpu.toml, study_tiny.toml, "
        "study_tiny_random.toml).",
        examples=["tunescale study",
                  "tunescale study study_gpu.toml --address 10.0.0.5:6379",
                  "tunescale study my_study.toml --out runs/mine --resume --json-out runs/mine.json"],
    )
    p.add_argument("spec", metavar="SPEC", nargs="?", help="study spec (default: the shipped study_default.toml)")
    p.add_argument("--out", metavar="RUN_DIR", help="study directory (default: the spec's 'out', runs/study)")
    add_address(p)
    p.add_argument("--resume", action="store_true", help="continue the study already in RUN_DIR")
    p.add_argument("--no-report", action="store_true", help="skip writing RUN_DIR/report")
    p.add_argument("--verbose", action="store_true", help="also show Ray Tune's own banners, tables and worker logs")
    add_json(p)
    p.set_defaults(func=_study)


def _study(args: argparse.Namespace) -> int:
    import sys

    from tunescale.study.run import run_study, spec_path

    result = run_study(spec_path(args.spec), out=args.out, address=args.address, resume=args.resume,
                       stream=sys.stderr, verbose=args.verbose)
    document, text = result.summary(), result.report()
    if not args.no_report:
        from tunescale.analyses.report import write_report

        page = write_report(result.run_dir)
        document = {**document, "report": str(page)}
        text = f"report: {page}\n{text}"
    emit(args, document, text)
    return 0
