"""Loss law: best proxy loss per scale, the fitted law (interval band) and its prediction at the target.

The achieved target losses (best of the grid and at the predicted settings) are drawn
beside the prediction so the extrapolation can be judged by eye.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tunescale.analyses.figures import Section, draw_law, new_figure, save, script_main
from tunescale.analyses.rundir import StudyRun


def make(run: StudyRun, out_dir: Path) -> Section:
    law = run.fit.loss_law
    fig, (ax,) = new_figure(width=5.6)
    ax.plot([getattr(p, law.axis) for p in law.points], [p.value for p in law.points], "o", ms=4,
            label="best proxy loss per scale")
    x_t = getattr(run.fit.target, law.axis)
    draw_law(ax, law, x_t, run.fit.prediction.loss, "predicted loss at target")
    best, at_pred = run.verdict.best_of_grid, run.verdict.at_predicted
    if best is not None:
        ax.plot([x_t], [best.loss], "s", mfc="none", color="black", label="best of target grid")
    if at_pred is not None:
        ax.plot([x_t], [at_pred.loss], "D", mfc="none", color="tab:green", label="target at predicted settings")
    ax.set_xscale("log")
    ax.set_xlabel(law.axis)
    ax.set_ylabel("final held-out loss")
    ax.set_title(law.form, fontsize=9)
    ax.legend(fontsize=7)
    rows = [[k, val] for k, val in (law.parameters or {}).items()]
    return Section(
        title="Loss law",
        caption="Best completed proxy loss per scale, the fitted loss law with its interval band, the predicted "
        "target loss (star) and what the target runs achieved.",
        figures=[save(fig, out_dir, "loss_law")],
        header=["parameter", "value"],
        rows=rows,
    )


if __name__ == "__main__":
    sys.exit(script_main(make, __doc__))
