"""Verification at the target: loss at the predicted settings vs the best of the grid around them.

The goal is the predicted-settings run within 0.5% of the grid's best. The
figure shows every target run's loss against its learning rate, the predicted LR and
its interval from the law, and the predicted loss.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tunescale.analyses.figures import Section, new_figure, save, script_main
from tunescale.analyses.rundir import StudyRun

GOAL_PCT = 0.5  # loss at the predicted settings within 0.5% of the best of the grid


def make(run: StudyRun, out_dir: Path) -> Section:
    df = run.target_rows
    v = run.verification
    pred = run.fit["prediction"]
    fig, (ax,) = new_figure(width=5.6)
    done = df[df["status"] == "completed"]
    for (bs, wd), grp in done.groupby(["batch_size", "weight_decay"], dropna=False):
        grp = grp.sort_values("lr")
        ax.plot(grp["lr"], grp["loss"], "o-", ms=4, lw=1, label=f"batch {bs}, wd {wd:.3g}")
    p = done[done["role"] == "predicted"]
    if len(p):
        ax.plot(p["lr"], p["loss"], "D", ms=9, mfc="none", color="tab:green", label="at predicted settings")
    bad = df[df["status"] != "completed"]
    if len(bad) and len(done):
        ax.plot(bad["lr"], np.full(len(bad), done["loss"].max()), "x", color="black", label="diverged/failed")
    ax.axvspan(pred["lr_low"], pred["lr_high"], color="crimson", alpha=0.08, label="predicted lr interval")
    ax.axvline(pred["lr"], color="crimson", lw=1)
    if pred.get("loss") is not None:
        ax.axhline(pred["loss"], color="crimson", ls=":", lw=1, label="predicted loss")
    ax.set_xscale("log")
    ax.set_xlim(df["lr"].min() / 1.5, df["lr"].max() * 1.5)  # the grid, not the (often wide) interval
    ax.set_xlabel("learning rate")
    ax.set_ylabel("final held-out loss")
    ax.set_title(f"target: width {run.fit['target'].get('width')}, {run.fit['target']['params']:.3g} params", fontsize=9)
    ax.legend(fontsize=7)
    s = run.fit["target_settings"]
    rows = [
        ["learning rate", pred["lr"], v["best_of_grid_lr"]],
        ["batch size", s.get("batch_size"), v["best_of_grid_batch_size"]],
        ["weight decay", s.get("weight_decay"), v["best_of_grid_weight_decay"]],
        ["loss (law's prediction)", pred.get("loss"), None],
        ["loss achieved", v["loss_at_predicted"], v["best_of_grid_loss"]],
        ["gap to best of grid (%)", v["gap_pct"], 0.0 if v["gap_pct"] is not None else None],
    ]
    met = v["gap_pct"] is not None and v["gap_pct"] <= GOAL_PCT
    return Section(
        title="Verification at the target",
        caption=f"Target trained at the predicted settings and on a grid around them ({v['n_grid_completed']} of "
        f"{v['n_grid']} runs completed). Goal: loss at the predicted settings within {GOAL_PCT}% of the best of "
        f"the grid — {'met' if met else 'not met'}.",
        figures=[save(fig, out_dir, "verification")],
        header=["", "predicted settings", "best of grid"],
        rows=rows,
        numbers=v,
    )


if __name__ == "__main__":
    sys.exit(script_main(make, __doc__))
