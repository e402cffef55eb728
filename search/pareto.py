"""The observed Pareto set of output (lower is better) against cost.

Notations
- group: all successful observations of one configuration (repeats with new seeds);
  its output and cost are the means over the group.
- cheap bucket: the groups whose cost is below the ``min_cost_fraction`` quantile of
  all group costs. Their noise would otherwise put many near-identical cheap points on
  the front, so only the best of them counts.
- Pareto set: groups, sorted by cost, whose output beats every cheaper group.
- conservative Pareto set: as above, but a group seen once must beat the *best* run
  of the last member, not just its mean, and the cheap bucket prefers repeated groups.
  One lucky seed then cannot make a configuration a member (and a search origin); a
  resample with a new seed (see `search.carbs`) lets it in on its mean.
- front f(log c): the Pareto outputs interpolated linearly in log cost; flat below the
  cheapest and above the dearest member (it is non-increasing by construction).
- predicted output: the output model's estimate of a group's true mean (`search.carbs`
  sets it). A group's `output` is then its mean raised to that prediction where the
  prediction is higher: the front is a minimum over groups, so it picks up the luckiest
  seeds, and a run far below what its neighbours say is held at what they say until
  resamples confirm it. An unlucky run is not lowered: a front member should have run
  as well as the front says.
- noise: the seed standard deviation of the output, pooled over repeated groups.
- influence of a member: the area, in (log cost, output), between the front without it
  and the front; what a lucky seed on that member would distort (`resample_priority`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from tunescale.search.base import Observation
from tunescale.search.space import Space


@dataclass(frozen=True)
class ParetoGroup:
    vector_in_basic: tuple[float, ...]
    observations: tuple[Observation, ...]
    predicted_output: float | None = None

    @cached_property
    def mean_output(self) -> float:
        return float(np.mean([o.output for o in self.observations]))

    @cached_property
    def output(self) -> float:
        """The mean, raised to the predicted output where that is higher (module docstring)."""
        if self.predicted_output is None:
            return self.mean_output
        return max(self.mean_output, self.predicted_output)

    @cached_property
    def cost(self) -> float:
        return float(np.mean([o.cost for o in self.observations]))

    @property
    def config(self) -> dict:
        return self.observations[0].config


def config_key(vector_in_basic: Sequence[float]) -> tuple[float, ...]:
    """The identity of a configuration: its basic vector rounded to 9 digits, so that the
    float noise of a round trip through param space never splits one configuration in two."""
    return tuple(round(float(v), 9) for v in vector_in_basic)


def group_observations(observations: Sequence[Observation], space: Space) -> list[ParetoGroup]:
    """Group successful observations by configuration (order of first appearance)."""
    groups: dict[tuple[float, ...], tuple[list[float], list[Observation]]] = {}
    for obs in observations:
        if obs.success:
            vector_in_basic = space.to_basic(obs.config)
            groups.setdefault(config_key(vector_in_basic), (vector_in_basic, []))[1].append(obs)
    return [ParetoGroup(tuple(vector), tuple(members)) for vector, members in groups.values()]


def pareto_groups(
    groups: Sequence[ParetoGroup], min_cost_fraction: float = 0.0, *, conservative: bool = False
) -> list[ParetoGroup]:
    """The Pareto set (sorted by cost) after bucketing the cheapest groups; see the
    module docstring for ``conservative``."""
    if not groups:
        return []
    costs = np.array([g.cost for g in groups])
    threshold = np.quantile(costs, min_cost_fraction) if min_cost_fraction > 0 else -np.inf
    cheap = [g for g in groups if g.cost <= threshold]
    if conservative and any(len(g.observations) > 1 for g in cheap):
        cheap = [g for g in cheap if len(g.observations) > 1]
    rest = [g for g in groups if g.cost > threshold]
    candidates = ([min(cheap, key=lambda g: g.output)] if cheap else []) + rest
    front, best, best_run = [], np.inf, np.inf
    for g in sorted(candidates, key=lambda g: (g.cost, g.output)):
        bar = best_run if conservative and len(g.observations) == 1 else best
        if g.output < bar:
            front.append(g)
            best, best_run = g.output, min(o.output for o in g.observations)
    return front


def noise_sd(groups: Sequence[ParetoGroup]) -> float | None:
    """Seed standard deviation of the output pooled over repeated groups (None before any repeat)."""
    squares, dof = 0.0, 0
    for g in groups:
        if len(g.observations) > 1:
            y = np.array([o.output for o in g.observations])
            squares += float(((y - y.mean()) ** 2).sum())
            dof += len(y) - 1
    return math.sqrt(squares / dof) if dof else None


def resample_priority(front: Sequence[ParetoGroup], noise: float | None, confidence: float) -> list[float]:
    """Per member of a plain (mean-output) front: how much a new seed of it is worth, 0 when
    it needs none.

    A member needs another seed while its lead over the front without it, at its own cost,
    is under `confidence` standard errors (noise / sqrt(runs)); before any repeat the noise
    is unknown and every member needs one. Among those, the worth is the member's influence
    over the whole front (module docstring) per sqrt(runs): the lucky cheap member that
    flattens the front for every dearer cost comes first, and each further seed of it is
    worth less, so the number of seeds per member adapts to how much rides on it.
    """
    if len(front) < 2:
        return [0.0] * len(front)
    log_cost = np.log([g.cost for g in front])
    grid = np.linspace(log_cost[0], log_cost[-1], 64)
    full = ParetoFront.from_groups(front).predict(grid)
    worth = []
    for i, g in enumerate(front):
        rest = ParetoFront.from_groups([m for j, m in enumerate(front) if j != i])
        influence = float(np.mean(rest.predict(grid) - full)) * (grid[-1] - grid[0] or 1.0)
        lead = float(rest.predict(log_cost[i:i + 1])[0]) - g.mean_output
        n = len(g.observations)
        settled = noise is not None and lead > confidence * noise / math.sqrt(n)
        worth.append(0.0 if settled else max(influence, 1e-12) / math.sqrt(n))
    return worth


@dataclass(frozen=True)
class ParetoFront:
    """Piecewise-linear model of the best output reachable at a given log cost."""

    log_cost: tuple[float, ...]
    output: tuple[float, ...]

    @classmethod
    def from_groups(cls, front: Sequence[ParetoGroup]) -> ParetoFront:
        return cls(tuple(float(np.log(g.cost)) for g in front), tuple(g.output for g in front))

    def predict(self, log_cost: np.ndarray) -> np.ndarray:
        return np.interp(log_cost, self.log_cost, self.output)


def hypervolume_2d(costs: Sequence[float], outputs: Sequence[float], ref_cost: float, ref_output: float) -> float:
    """Area dominated by the points in (log10 cost, output), bounded by the reference point.

    Both axes are minimised; points beyond the reference contribute nothing.
    """
    pts = sorted(
        (float(np.log10(c)), float(y)) for c, y in zip(costs, outputs, strict=True)
        if c < ref_cost and y < ref_output
    )
    ref_x = float(np.log10(ref_cost))
    area, best = 0.0, ref_output
    for i, (x, y) in enumerate(pts):
        best = min(best, y)
        nxt = pts[i + 1][0] if i + 1 < len(pts) else ref_x
        area += (nxt - x) * (ref_output - best)
    return area
