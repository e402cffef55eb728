"""The study report: one self-contained HTML page (figures embedded as base64 PNG) plus the files.

`write_report(RUN_DIR, OUT_DIR)` runs every analysis script on the study directory, writes
their PNG/PDF figures to OUT_DIR, `report.html` embedding the PNGs (it opens anywhere,
offline, with no file beside it) and `report.json` with the numbers shown, so tests and
users can check the page against the store. Also `python -m analyses.report RUN_DIR OUT_DIR`.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import sys
from pathlib import Path

from tunescale.analyses import hp_laws, inventory, loss_law, transfer, validation, verification
from tunescale.analyses.figures import Section, fmt, script_main
from tunescale.analyses.rundir import StudyRun
from tunescale.contract.atomic import write_text

SECTIONS = (verification, transfer, hp_laws, loss_law, validation, inventory)

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
img { max-width: 100%; } table { border-collapse: collapse; font-size: 0.9em; margin: 0.8em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th { background: #f3f3f3; } .headline td:first-child { text-align: left; }
p.caption { color: #444; }
"""


def _table(header: list[str], rows: list[list], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _section_html(s: Section) -> str:
    parts = [f"<h2>{html.escape(s.title)}</h2>", f'<p class="caption">{html.escape(s.caption)}</p>']
    for png in s.figures:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        parts.append(f'<img alt="{html.escape(png.stem)}" src="data:image/png;base64,{data}">')
    if s.rows:
        parts.append(_table(s.header, s.rows))
    return "\n".join(parts)


def headline(numbers: dict) -> list[list]:
    v, inv = numbers["verification"], numbers["inventory"]
    drift = numbers["transfer"].get("lr_drift_decades", {})
    return [
        ["loss at predicted settings", v["loss_at_predicted"]],
        ["best loss of the target grid", v["best_of_grid_loss"]],
        ["gap (%)", v["gap_pct"]],
        *([f"gap to the best of the {hp} grid (%)", one["gap_pct"]] for hp, one in v["by_hp"].items()),
        ["predicted loss (loss law)", v["predicted_loss"]],
        ["max LR-optimum drift across widths (decades)", max(drift.values()) if drift else None],
        ["proxy compute / one target run", inv["proxy_to_target_run_flops"]],
        ["trials (proxies + target)", inv["proxies"]["trials"] + inv["target"]["trials"]],
    ]


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Draw every figure of the study in RUN_DIR into OUT_DIR (default RUN_DIR/report) and
    write report.html; return its path."""
    return render_report(StudyRun.load(run_dir), Path(out_dir) if out_dir else Path(run_dir) / "report")


def render_report(run: StudyRun, out_dir: Path) -> Path:
    """`write_report` for a study already loaded (the `python -m analyses.report` CLI loads it first)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = {mod.__name__.rsplit(".", 1)[1]: mod.make(run, out_dir) for mod in SECTIONS}
    numbers = {name: s.numbers for name, s in sections.items()}
    target = run.fit.target
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>tunescale study report: {html.escape(run.run_dir.name)}</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>tunescale study: {html.escape(str(run.run_dir))}</h1>",
            f"<p>Target: width {target.width}, N = {fmt(target.params)} parameters, "
            f"D = {fmt(target.tokens)} tokens. Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.</p>",
            _table(["", "value"], headline(numbers), cls="headline"),
            *(_section_html(s) for s in sections.values()),
            "</body></html>",
        ]
    )
    path = out_dir / "report.html"
    write_text(path, page)
    write_text(out_dir / "report.json", json.dumps(numbers, indent=2, default=float) + "\n")
    return path


def _make_all(run: StudyRun, out_dir: Path) -> Section:
    return Section(title="Study report", caption="", figures=[render_report(run, out_dir)])


if __name__ == "__main__":
    sys.exit(script_main(_make_all, __doc__))
