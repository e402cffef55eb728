"""Shared plumbing of the analysis scripts: one figure style, PNG+PDF output, the script CLI.

Each `analyses.<name>` module has `make(run, out_dir) -> Section` and runs on its own as
`python -m analyses.<name> RUN_DIR OUT_DIR`; `analyses.report` assembles the sections.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tunescale.contract.errors import TunescaleError
from tunescale.scaling.pyplot import pyplot, save_figure
from tunescale.study.results import Estimate, Law

plt = pyplot()

DPI = 110  # sharp enough in a browser at 100% zoom, keeps the embedded PNGs ~50-100 kB


@dataclass
class Section:
    """One part of the report: a heading, a caption, figure files and an optional table."""

    title: str
    caption: str
    figures: list[Path] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)
    numbers: dict = field(default_factory=dict)


def new_figure(ncols: int = 1, width: float = 5.2, height: float = 3.8):
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, list(axes[0])


def draw_law(ax, law: Law, x_target: float, prediction: Estimate, label: str) -> None:
    """A law of the fit drawn the same way in every section: each curve with its interval
    band, and the prediction at the target as a star with its interval."""
    for curve in law.curves:
        (line,) = ax.plot(curve.x, curve.value, "-", lw=1, label=curve.label)
        ax.fill_between(curve.x, curve.low, curve.high, color=line.get_color(), alpha=0.2)
    p = prediction
    ax.errorbar([x_target], [p.value], yerr=[[p.value - p.low], [p.high - p.value]],
                fmt="*", ms=11, color="crimson", capsize=3, label=label)


def save(fig, out_dir: Path, name: str) -> Path:
    """Write `name`.png and `name`.pdf into out_dir; return the PNG path (the one the HTML embeds)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    png = out_dir / f"{name}.png"
    save_figure(fig, [png, out_dir / f"{name}.pdf"], dpi=DPI)
    return png


def fmt(v, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def script_main(make: Callable, doc: str, argv: list[str] | None = None) -> int:
    """`python -m analyses.<name> RUN_DIR OUT_DIR`: draw one section's figures and print its table."""
    from tunescale.analyses.rundir import StudyRun

    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("out_dir", metavar="OUT_DIR")
    args = parser.parse_args(argv)
    try:
        section = make(StudyRun.load(args.run_dir), Path(args.out_dir))
    except TunescaleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(section.title)
    for path in section.figures:
        print(f"  wrote {path}")
    if section.rows:
        print("  " + " | ".join(section.header))
        for row in section.rows:
            print("  " + " | ".join(fmt(v) for v in row))
    return 0
