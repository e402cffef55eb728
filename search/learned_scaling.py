"""Learned scaling: how each hyperparameter moves along the Pareto front with cost.

CARBS's Pareto set holds, at every cost, the best configuration found so far; fitting
each positive hyperparameter against cost along it gives the paper's "scaling
relationship for every hyperparameter". The fits are `scaling.hp_laws.fit_power_law`
(HP = c * cost^k, OLS in log space with a bootstrap); this module only picks the rows.

Why not the joint model of `scaling.joint`: that model needs each run's params and tokens and
explains every run's loss; here the axis is CARBS's one cost (compute or time, whatever the
searcher is told), the scale itself is often a searched parameter (width, steps), and the Pareto
set is a handful of rows chosen because they are best for their cost. These laws are what CARBS
defines and reads inside its suggest loop, at every observation, in milliseconds; the joint model
is a multi-start fit of seconds that refuses fewer than 3 runs per coefficient. For the laws of a
finished CARBS sweep, `fit-scaling runs/<sweep>` fits the joint model to all of its runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tunescale.contract.errors import InputError
from tunescale.scaling.hp_laws import PowerLawResult, fit_power_law
from tunescale.search.pareto import ParetoGroup


@dataclass(frozen=True)
class LearnedScaling:
    """Per-hyperparameter power laws in cost; `skipped` says why a parameter has none."""

    laws: dict[str, PowerLawResult]
    skipped: dict[str, str]
    n_pareto: int

    def predict(self, cost: float) -> dict[str, float]:
        """Each hyperparameter's law evaluated at `cost`."""
        return {name: float(law.predict(cost=cost)[0]) for name, law in self.laws.items()}

    def summary(self) -> dict[str, Any]:
        return {
            "n_pareto": self.n_pareto,
            "laws": {n: {"prefactor": law.prefactor, "exponent": law.coef["cost"],
                         "exponent_stderr": law.stderr["cost"], "r2": law.r2} for n, law in self.laws.items()},
            "skipped": dict(self.skipped),
        }


def fit_learned_scaling(front: list[ParetoGroup], *, n_bootstrap: int = 200, seed: int = 0) -> LearnedScaling:
    """Fit every numeric, positive, varying hyperparameter of the Pareto set against cost."""
    if len(front) < 3:
        raise InputError(f"learned scaling needs at least 3 Pareto members, got {len(front)}; run more trials.")
    cost = np.array([g.cost for g in front])
    laws, skipped = {}, {}
    for name in front[0].config:
        values = [g.config[name] for g in front]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            skipped[name] = "not numeric"
            continue
        values = np.asarray(values, dtype=float)
        if np.any(values <= 0):
            skipped[name] = "has values <= 0 (a power law needs > 0)"
            continue
        if np.ptp(values) == 0:
            skipped[name] = "constant along the Pareto set"
            continue
        laws[name] = fit_power_law(values, {"cost": cost}, target=name, n_bootstrap=n_bootstrap, seed=seed)
    return LearnedScaling(laws, skipped, len(front))
