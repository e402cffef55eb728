"""Figures of a CARBS search: the Pareto front, and the learned HP-vs-cost laws.

matplotlib is imported inside the functions (Agg backend), so importing this module is light.
"""

from __future__ import annotations

import os

import numpy as np

from tunescale.scaling.pyplot import pyplot, save_figure
from tunescale.search.base import AskTellSearcher
from tunescale.search.learned_scaling import LearnedScaling
from tunescale.search.pareto import ParetoGroup


def plot_pareto(searcher: AskTellSearcher, front: list[ParetoGroup], path: str | os.PathLike,
                cost_label: str = "cost (FLOPs)") -> None:
    """Output vs cost, observations coloured by success, with the Pareto front as a staircase."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ok = [o for o in searcher.observations if o.success]
    bad = [o for o in searcher.observations if not o.success and o.cost is not None]
    ax.scatter([o.cost for o in ok], [o.output for o in ok], s=12, c="tab:blue", alpha=0.6, label="completed")
    if bad:
        # Failed runs have no output; show them along the top edge at their cost.
        top = max((o.output for o in ok), default=1.0)
        ax.scatter([o.cost for o in bad], [top] * len(bad), s=18, marker="x", c="tab:red", label="failed/diverged")
    if front:
        ax.step([g.cost for g in front], [g.output for g in front], where="post", c="k", lw=1.2, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel(cost_label)
    ax.set_ylabel("output (loss)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, [path], dpi=120)


def plot_learned_scaling(front: list[ParetoGroup], learned: LearnedScaling, path: str | os.PathLike) -> None:
    """One panel per hyperparameter: Pareto members and the fitted power law in cost."""
    plt = pyplot()
    names = list(learned.laws)
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4), squeeze=False)
    cost = np.array([g.cost for g in front])
    grid = np.logspace(np.log10(cost.min()), np.log10(cost.max()), 50)
    for ax, name in zip(axes[0], names, strict=True):
        law = learned.laws[name]
        ax.scatter(cost, [g.config[name] for g in front], s=14, label="Pareto members")
        ax.plot(grid, law.predict(cost=grid), c="k",
                label=f"{law.prefactor:.3g} * C^{law.coef['cost']:.3f}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("cost")
        ax.set_title(name)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, [path], dpi=120)
