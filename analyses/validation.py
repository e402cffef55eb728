"""Leave-largest-out validation: refit each law without the largest proxy scale, predict it back.

Errors are those the fit records: log10 error of an HP optimum (decades), relative
error of the loss law. A law is not trusted without this check (DESIGN.md, fitting step 4).
"""

from __future__ import annotations

import sys
from pathlib import Path

from tunescale.analyses.figures import Section, new_figure, save, script_main
from tunescale.analyses.rundir import StudyRun


def make(run: StudyRun, out_dir: Path) -> Section:
    val = run.fit.validation
    fig, (ax,) = new_figure(width=5.6, height=3.2)
    names = list(val)
    errors = [abs(val[n].error) if val[n].error is not None else 0.0 for n in names]
    bars = ax.bar(range(len(names)), errors, color="tab:orange")
    ax.set_xticks(range(len(names)), [f"{n}\n({val[n].metric})" for n in names], fontsize=8)
    ax.bar_label(bars, fmt="%.3g", fontsize=8)
    ax.set_ylabel("|extrapolation error|")
    ax.set_title("fit without the largest proxy scale, predict it", fontsize=9)
    rows = [[n, v.metric, v.predicted, v.observed, v.error] for n, v in val.items()]
    return Section(
        title="Leave-largest-out validation",
        caption="Each law refitted without the largest proxy scale and asked to predict it: HP optima as log10 "
        "error in decades, loss as relative error.",
        figures=[save(fig, out_dir, "validation")],
        header=["law", "metric", "predicted", "observed", "error"],
        rows=rows,
    )


if __name__ == "__main__":
    sys.exit(script_main(make, __doc__))
