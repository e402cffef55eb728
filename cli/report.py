"""`tunescale report RUN_DIR`: the study's self-contained HTML report and its figures."""

from __future__ import annotations

import argparse

from tunescale.cli.options import add_command, add_json, check_out_dir, emit


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "report",
        help="write the HTML report (and PNG/PDF figures) of a study directory",
        description="Reads only RUN_DIR (proxies/, target/, fit.json as 'tunescale study' writes them); "
        "the numbers behind the page land in report.json beside it (--json prints them).",
        examples=["tunescale report runs/study", "tunescale report runs/study --out figs/ --json | jq .numbers"],
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", metavar="DIR", help="where to write report.html and the figures (default RUN_DIR/report)")
    add_json(p)
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    import json

    from tunescale.analyses.report import write_report

    check_out_dir(args.out)
    path = write_report(args.run_dir, args.out)
    numbers = json.loads((path.parent / "report.json").read_text())
    emit(args, {"report": str(path), "numbers": numbers}, f"wrote {path} (figures as PNG and PDF beside it)")
    return 0
