"""Verification at the target: loss at the predicted settings vs the best of the grid around them.

The goal is the predicted-settings run within 0.5% of the grid's best. The
figure shows every target run's loss against its learning rate, the predicted LR and
its interval from the law, and the predicted loss.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tunescale.analyses.figures import Section, fmt, new_figure, save, script_main
from tunescale.analyses.rundir import StudyRun

GOAL_PCT = 0.5  # loss at the predicted settings within 0.5% of the best of the grid
LABELS = {"lr": "learning rate", "batch_size": "batch size", "weight_decay": "weight decay"}


def numbers(run: StudyRun) -> dict:
    """The verification table's numbers: predicted vs achieved at the target."""
    v, pred = run.verdict, run.fit.prediction
    best, at_pred = v.best_of_grid, v.at_predicted
    return {"predicted_loss": pred.loss.value,
            "loss_at_predicted": at_pred.loss if at_pred is not None else None,
            "best_of_grid_loss": best.loss if best is not None else None,
            **{f"best_of_grid_{hp}": best.settings.get(hp) if best is not None else None for hp in pred.hps},
            "gap_pct": v.gap_pct, "n_grid": len(v.runs), "n_grid_completed": len(v.completed)}


def make(run: StudyRun, out_dir: Path) -> Section:
    v, pred, target = run.verdict, run.fit.prediction, run.fit.target
    nums = numbers(run)
    fig, (ax,) = new_figure(width=5.6)
    done = v.completed
    others = [hp for hp in pred.hps if hp != "lr"]
    groups: dict[tuple, list] = {}
    for r in done:
        groups.setdefault(tuple(r.settings.get(hp) for hp in others), []).append(r)
    for key, grp in groups.items():
        grp = sorted(grp, key=lambda r: r.settings["lr"])
        label = ", ".join(f"{LABELS.get(hp, hp)} {fmt(val, 3)}" for hp, val in zip(others, key, strict=True))
        ax.plot([r.settings["lr"] for r in grp], [r.loss for r in grp], "o-", ms=4, lw=1, label=label)
    at_pred = [r for r in done if r.role == "predicted"]
    if at_pred:
        ax.plot([r.settings["lr"] for r in at_pred], [r.loss for r in at_pred], "D", ms=9, mfc="none",
                color="tab:green", label="at predicted settings")
    bad = [r for r in v.runs if r.status != "completed"]
    if bad and done:
        worst = max(r.loss for r in done)
        ax.plot([r.settings["lr"] for r in bad], [worst] * len(bad), "x", color="black", label="diverged/failed")
    lr = pred.hps["lr"].law
    ax.axvspan(lr.low, lr.high, color="crimson", alpha=0.08, label="predicted lr interval")
    ax.axvline(lr.value, color="crimson", lw=1)
    ax.axhline(pred.loss.value, color="crimson", ls=":", lw=1, label="predicted loss")
    ax.set_xscale("log")
    lrs = [r.settings["lr"] for r in v.runs if r.settings.get("lr") is not None]
    if lrs:
        ax.set_xlim(min(lrs) / 1.5, max(lrs) * 1.5)  # the grid, not the (often wide) interval
    ax.set_xlabel("learning rate")
    ax.set_ylabel("final held-out loss")
    ax.set_title(f"target: width {target.width}, {target.params:.3g} params", fontsize=9)
    ax.legend(fontsize=7)
    rows = [[LABELS.get(hp, hp), p.setting, nums[f"best_of_grid_{hp}"]] for hp, p in pred.hps.items()]
    rows += [
        ["loss (law's prediction)", pred.loss.value, None],
        ["loss achieved", nums["loss_at_predicted"], nums["best_of_grid_loss"]],
        ["gap to best of grid (%)", v.gap_pct, 0.0 if v.gap_pct is not None else None],
    ]
    met = v.gap_pct is not None and v.gap_pct <= GOAL_PCT
    return Section(
        title="Verification at the target",
        caption=f"Target trained at the predicted settings and on a grid around them ({nums['n_grid_completed']} of "
        f"{nums['n_grid']} runs completed). Goal: loss at the predicted settings within {GOAL_PCT}% of the best of "
        f"the grid — {'met' if met else 'not met'}.",
        figures=[save(fig, out_dir, "verification")],
        header=["", "predicted settings", "best of grid"],
        rows=rows,
        numbers=nums,
    )


if __name__ == "__main__":
    sys.exit(script_main(make, __doc__))
