"""The study's records read off one joint model (`scaling.joint`), for proxies searched at random or by CARBS.

There are no per-scale parabolas here: the optimum of each hyperparameter at a proxy scale, its
law and the tuned loss law are all read off the one model, with its bootstrap intervals. The
adapters give those read-offs the interface of scaling's fitted laws (`inputs`, `predict`,
`predict_interval`), so `study.fit` draws and validates them as it does the grid's. Validation
holds the largest width out as the grid's does: the model refitted on the other runs predicts
the held-out runs' losses at their own settings, and its optima there are compared with the
full model's (the only optima a random search has at that width).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from tunescale.contract.errors import InputError
from tunescale.scaling.columns import HP_COLUMNS, Table
from tunescale.scaling.fit import ScalingFit, fit_scaling
from tunescale.scaling.joint import JointFit
from tunescale.scaling.validation import Validation, leave_largest_out
from tunescale.study.results import ScaleOptimum

AXES = ("params", "tokens")


@dataclass(frozen=True)
class JointLaw:
    """One read-off of the joint model along the scale axes, with its bootstrap interval: a hyperparameter's
    optimum, or (name 'loss') the expected loss with each resolved hyperparameter at its optimum and the others
    at `at` (what the target trains with), nuisance columns at their mean. At the optima that loss is the
    tuned loss law's; its interval is the loss's at those fixed settings, which is what the target is
    trained at and judged by."""

    joint: JointFit
    name: str
    at: Mapping[str, float] = field(default_factory=dict)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The scale columns this read-off moves with: the loss with both, an optimum with its law's."""
        return AXES if self.name == "loss" else self.joint.law_axes[self.joint.hps.index(self.name)]

    def predict(self, params, tokens) -> np.ndarray:
        if self.name == "loss":
            return self.joint.predict_loss(self._runs(params, tokens))
        return self.joint.optimum(params, tokens)[self.name][0]

    def predict_interval(self, params, tokens) -> tuple[np.ndarray, np.ndarray]:
        if self.name == "loss":
            return self.joint.predict_loss_interval(self._runs(params, tokens))
        return self.joint.optimum(params, tokens)[self.name][1:]

    def _runs(self, params, tokens) -> pd.DataFrame:
        p, t = np.broadcast_arrays(np.atleast_1d(np.asarray(params, float)), np.atleast_1d(np.asarray(tokens, float)))
        opt = self.joint.optimum(p, t)
        runs = {"params": p, "tokens": t}
        runs |= {hp: np.full(p.shape, self.at[hp]) if hp in self.at else opt[hp][0] for hp in self.joint.hps}
        runs |= {c.name: np.full(p.shape, math.exp(c.mean) if c.log else c.mean) for c in self.joint.nuisance}
        return pd.DataFrame(runs)

    @property
    def _law(self) -> dict:
        return self.joint.loss_law() if self.name == "loss" else self.joint.hp_laws()[self.name]

    @property
    def coef(self) -> dict[str, float]:
        return self._law["coef"]

    def formula(self) -> str:
        return self._law["formula"]


@dataclass(frozen=True)
class _RunLoss:
    """The joint model's expected loss of runs at their own scale and settings, given as keyword columns."""

    joint: JointFit

    def predict(self, **columns) -> np.ndarray:
        return self.joint.predict_loss(pd.DataFrame(columns))


def laws(fit: ScalingFit) -> dict[str, JointLaw]:
    """The hyperparameters whose optimum the joint model resolves, each as a law in its scale columns."""
    return {hp: JointLaw(fit.joint, hp) for hp in fit.joint.hps if hp not in fit.joint.unresolved}


def loss_points(fit: ScalingFit) -> pd.DataFrame:
    """The best observed loss at each proxy scale: the points the tuned loss law is drawn against."""
    return fit.optima_frame[["params", "tokens", "best_loss"]].rename(columns={"best_loss": "loss"})


def optima(fit: ScalingFit, widths: dict[float, int]) -> tuple[ScaleOptimum, ...]:
    """One record per (proxy scale, hp): the joint model's optimum there and its interval (no parabola)."""
    out = []
    for row in fit.optima_frame.to_dict("records"):
        for hp in (h for h in HP_COLUMNS if h in row):
            out.append(ScaleOptimum(hp=hp, width=widths.get(row["params"]), params=float(row["params"]),
                                    tokens=float(row["tokens"]), flops=float(row["flops"]), value=float(row[hp]),
                                    low=float(row[f"{hp}_low"]), high=float(row[f"{hp}_high"]), at_edge=False,
                                    best_loss=float(row["best_loss"]), coef=None))
    return tuple(out)


def validation(table: Table, fit: ScalingFit) -> dict[str, Validation]:
    """Each resolved law and the loss, checked by refitting the model without the largest width."""
    frame = table.frame
    largest = np.isclose(frame["params"], frame["params"].max(), rtol=1e-9)
    refits: list[JointFit] = []

    def refit() -> JointFit:
        if not refits:
            rest = fit_scaling(replace(table, frame=frame[~largest].reset_index(drop=True)), method="joint",
                               n_bootstrap=0, hp_law_inputs=dict(zip(fit.joint.hps, fit.joint.law_axes, strict=True)))
            refits.append(rest.joint)
        return refits[0]

    def hp_refit(hp: str):
        def one(_points):
            joint = refit()
            if hp in joint.unresolved:
                raise InputError(f"without the largest width, the {hp} optimum is not resolved")
            return JointLaw(joint, hp)

        return one

    joint = fit.joint
    inputs = (*AXES, *joint.hps, *(c.name for c in joint.nuisance))
    out = {hp: leave_largest_out(law.formula(), fit.optima_frame, AXES, hp, hp_refit(hp), kind="log10")
           for hp, law in laws(fit).items()}
    out["loss"] = leave_largest_out(JointLaw(joint, "loss").formula(), frame, inputs, "loss",
                                    lambda _points: _RunLoss(refit()), kind="relative")
    return out
