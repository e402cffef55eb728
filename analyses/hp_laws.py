"""Fitted hyperparameter laws: optimum per proxy scale, the law with its interval band, the prediction.

Each law of the fit (from `scaling.hp_laws.fit_power_law`) carries the per-scale optima it
was fitted on and the law evaluated with its interval along a scale axis (`curves`, one per
budget held fixed); the fit's prediction at the target is drawn as a star.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tunescale.analyses.figures import Section, draw_law, new_figure, save, script_main
from tunescale.analyses.rundir import StudyRun
from tunescale.study.results import TAU


def steps_by_batch_size(run: StudyRun) -> dict[int, tuple[int, int]]:
    """Fewest and most steps the proxies trained at each batch size: tokens are fixed per scale, so a
    batch size B trains tokens / (B·seq_len) steps."""
    df = run.proxies
    if "hp_steps" not in df.columns or df["batch_size"].nunique() < 2:
        return {}
    return {int(b): (int(g["hp_steps"].min()), int(g["hp_steps"].max())) for b, g in df.groupby("batch_size")}


def make(run: StudyRun, out_dir: Path) -> Section:
    laws = run.fit.hp_laws
    fig, axes = new_figure(ncols=max(1, len(laws)), width=4.4)
    rows = []
    for ax, (hp, law) in zip(axes, laws.items(), strict=False):
        pts = law.points
        ax.errorbar(
            [getattr(p, law.axis) for p in pts], [p.value for p in pts],
            yerr=[[p.value - (p.low or p.value) for p in pts], [(p.high or p.value) - p.value for p in pts]],
            fmt="o", ms=4, capsize=2, label="optimum per proxy scale",
        )
        pred = run.fit.prediction.hps[hp].law
        draw_law(ax, law, getattr(run.fit.target, law.axis), pred, "prediction at target")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(law.axis)
        ax.set_ylabel(f"optimal {hp}")
        ax.set_title(law.form, fontsize=9)
        ax.legend(fontsize=7)
        rows.append([hp, law.form, law.r2, pred.value, pred.low, pred.high, law.n_scales])
    for hp, p in run.fit.prediction.hps.items():
        if hp == "weight_decay" and TAU in laws:
            rows.append([hp, f"the {TAU} law's timescale at the target's lr and steps", None, p.law.value,
                         p.law.low, p.law.high, None])
        elif hp not in laws and any(o.hp == hp for o in run.fit.optima):
            rows.append([hp, "no law: optima on the grid's edge; the optimum at the largest proxy scale", None,
                         p.setting, None, None, None])
    steps = steps_by_batch_size(run)
    note = ("" if not steps else " Tokens are fixed per proxy scale, so the batch size sets the steps: "
            + "; ".join(f"batch size {b}: {lo}..{hi} steps" for b, (lo, hi) in steps.items()) + ".")
    return Section(
        title="Hyperparameter laws",
        caption="Optimum of each hyperparameter per proxy scale (bootstrap interval; "
        + ("read off one joint model of the loss across scales" if run.fit.scaling.get("method") == "joint"
           else "lr and batch size from one paraboloid in their logs where both are swept")
        + "), the fitted power law with its interval band, and the extrapolated prediction at the target (star)."
        + note,
        figures=[save(fig, out_dir, "hp_laws")],
        header=["hp", "law", "R²", "predicted", "low", "high", "scales"],
        rows=rows,
        numbers={"steps_by_batch_size": {str(b): list(r) for b, r in steps.items()}},
    )


if __name__ == "__main__":
    sys.exit(script_main(make, __doc__))
