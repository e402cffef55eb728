"""Verification at the target: loss at the predicted settings vs the best of the grid around each HP.

The target is trained at the predicted settings and, one hyperparameter at a time, on a
grid around each prediction with the others at theirs. The goal is the predicted-settings
run within 0.5% of the best of each grid. One panel per gridded hyperparameter: the loss of
its grid's runs against its value, the prediction and its interval from the law, and the
predicted loss.
"""

from __future__ import annotations

import sys
from pathlib import Path

from matplotlib.ticker import NullFormatter

from tunescale.analyses.figures import Section, new_figure, save, script_main
from tunescale.analyses.rundir import StudyRun

GOAL_PCT = 0.5  # loss at the predicted settings within 0.5% of the best of the grid
LABELS = {"lr": "learning rate", "batch_size": "batch size", "weight_decay": "weight decay"}


def numbers(run: StudyRun) -> dict:
    """The verification table's numbers: predicted vs achieved at the target, overall and per HP grid."""
    v, pred = run.verdict, run.fit.prediction
    best, at_pred = v.best_of_grid, v.at_predicted
    per_hp = {}
    for hp in v.gridded():
        line_best = min(v.line(hp), key=lambda r: r.loss)
        per_hp[hp] = {"predicted": pred.hps[hp].setting, "best_of_grid": line_best.settings.get(hp),
                      "best_of_grid_loss": line_best.loss, "gap_pct": v.gap_pct_of(hp), "n_grid": len(v.line(hp))}
    return {"predicted_loss": pred.loss.value,
            "loss_at_predicted": at_pred.loss if at_pred is not None else None,
            "best_of_grid_loss": best.loss if best is not None else None,
            **{f"best_of_grid_{hp}": best.settings.get(hp) if best is not None else None for hp in pred.hps},
            "gap_pct": v.gap_pct, "by_hp": per_hp, "n_grid": len(v.runs), "n_grid_completed": len(v.completed)}


def _panel(ax, run: StudyRun, hp: str) -> None:
    v, pred = run.verdict, run.fit.prediction
    line = sorted(v.line(hp), key=lambda r: r.settings[hp])
    ax.plot(
        [r.settings[hp] for r in line], [r.loss for r in line], "o-", ms=4, lw=1, label=f"{LABELS.get(hp, hp)} grid"
    )
    at_pred = v.at_predicted
    if at_pred is not None:
        ax.plot(
            [at_pred.settings[hp]],
            [at_pred.loss],
            "D",
            ms=9,
            mfc="none",
            color="tab:green",
            label="at predicted settings",
        )
    law = pred.hps[hp].law
    if law is not None:
        ax.axvspan(law.low, law.high, color="crimson", alpha=0.08, label=f"predicted {hp} interval")
        ax.axvline(law.value, color="crimson", lw=1)
    ax.axhline(pred.loss.value, color="crimson", ls=":", lw=1, label="predicted loss")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # a grid spanning under a decade labels its minor ticks
    xs = [r.settings[hp] for r in line]
    ax.set_xlim(min(xs) / 1.5, max(xs) * 1.5)  # the grid, not the (often wide) interval
    ax.set_xlabel(LABELS.get(hp, hp))
    ax.set_ylabel("final held-out loss")
    ax.legend(fontsize=7)


def make(run: StudyRun, out_dir: Path) -> Section:
    v, pred, target = run.verdict, run.fit.prediction, run.fit.target
    nums = numbers(run)
    hps = v.gridded() or ("lr",)
    fig, axes = new_figure(ncols=len(hps), width=4.6)
    for ax, hp in zip(axes, hps, strict=True):
        if hp in v.gridded():
            _panel(ax, run, hp)
        ax.set_title(f"target: width {target.width}, {target.params:.3g} params", fontsize=9)
    bad = [r for r in v.runs if r.status != "completed"]
    rows = [
        [
            LABELS.get(hp, hp),
            p.setting,
            nums["by_hp"].get(hp, {}).get("best_of_grid"),
            nums["by_hp"].get(hp, {}).get("gap_pct"),
        ]
        for hp, p in pred.hps.items()
        if p.setting is not None  # trained with; the weight-decay timescale is not a setting of its own
    ]
    rows += [
        ["loss (law's prediction)", pred.loss.value, None, None],
        ["loss achieved", nums["loss_at_predicted"], nums["best_of_grid_loss"], v.gap_pct],
    ]
    met = v.gap_pct is not None and v.gap_pct <= GOAL_PCT
    return Section(
        title="Verification at the target",
        caption=f"Target trained at the predicted settings and, one hyperparameter at a time, on a grid around each "
        f"prediction with the others at theirs ({nums['n_grid_completed']} of {nums['n_grid']} runs completed"
        f"{f'; {len(bad)} diverged or failed' if bad else ''}; batch size changes the steps, not the tokens). "
        f"Goal: loss at the predicted settings within {GOAL_PCT}% of the best of every grid — "
        f"{'met' if met else 'not met'}.",
        figures=[save(fig, out_dir, "verification")],
        header=["", "predicted settings", "best of its grid", "gap (%)"],
        rows=rows,
        numbers=nums,
    )


if __name__ == "__main__":
    sys.exit(script_main(make, __doc__))
