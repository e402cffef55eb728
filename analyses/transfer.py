"""Transfer plot: proxy loss vs learning rate, one curve per width (the Tensor Programs V figure).

Under muP the curves' minima line up across widths; the fitted optimum per width (the
parabola of `scaling.optima.fit_optimum`, kept in the fit) is marked and its drift across
widths, from the study's verdict, reported in decades: log10(max lr*) - log10(min lr*) per token budget.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from matplotlib import colormaps

from tunescale.analyses.figures import Section, new_figure, save, script_main
from tunescale.analyses.rundir import StudyRun
from tunescale.study.results import ScaleOptimum


def lr_optima(run: StudyRun) -> list[ScaleOptimum]:
    return sorted((o for o in run.fit.optima if o.hp == "lr"), key=lambda o: (o.tokens, o.width or 0))


def make(run: StudyRun, out_dir: Path) -> Section:
    optima = lr_optima(run)
    budgets = sorted({o.tokens for o in optima})
    fig, axes = new_figure(ncols=max(1, len(budgets)))
    widths = sorted({o.width for o in optima})
    colors = dict(zip(widths, colormaps["viridis"](np.linspace(0.0, 0.85, len(widths))), strict=True))
    rows = []
    df = run.proxies
    for ax, tokens in zip(axes, budgets, strict=False):
        for o in (o for o in optima if o.tokens == tokens):
            sel = df[(df["width"] == o.width) & np.isclose(df["tokens"], tokens)]
            done = sel[sel["status"] == "completed"].sort_values("lr")
            c = colors[o.width]
            # a grid's runs at one scale trace a curve in lr; a search's vary every setting at once: points only
            ax.plot(done["lr"], done["loss"], "o-" if o.coef is not None else "o", color=c, ms=3, lw=1,
                    label=f"width {o.width}")
            bad = sel[sel["status"] != "completed"]
            if len(bad) and len(done):
                ax.plot(bad["lr"], np.full(len(bad), done["loss"].max()), "x", color=c, ms=5)
            if o.coef is not None:
                xs = np.linspace(math.log(o.low), math.log(o.high), 40)
                c0, c1, c2 = o.coef
                ax.plot(np.exp(xs), c0 + c1 * xs + c2 * xs * xs, "--", color=c, lw=0.8)
            ax.axvline(o.value, color=c, lw=0.6, alpha=0.7)
            rows.append([o.width, tokens, o.value, o.low, o.high, "yes" if o.at_edge else "no"])
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("final held-out loss")
        ax.set_title(f"{tokens:.3g} tokens")
        ax.legend(fontsize=7)
    drift = run.verdict.drift.get("lr", {})
    fitted = (
        "vertical line: the optimum read off the joint model of every proxy run"
        if run.fit.scaling.get("method") == "joint"
        else "dashed: fitted parabola over its interval; vertical line: fitted optimum"
    )
    caption = (
        f"Proxy loss vs learning rate per width (x: diverged/failed runs; {fitted}). LR-optimum drift across "
        "widths (optima at the grid edge left out): "
        + ", ".join(f"{d:.3f} decades at {t:.3g} tokens" for t, d in drift.items())
        + "."
    )
    return Section(
        title="Transfer across widths",
        caption=caption,
        figures=[save(fig, out_dir, "transfer")],
        header=["width", "tokens", "lr*", "low", "high", "at edge"],
        rows=rows,
        numbers={"lr_drift_decades": {str(t): d for t, d in drift.items()}},
    )


if __name__ == "__main__":
    sys.exit(script_main(make, __doc__))
