"""Grid search: every combination of the space's values, in order, once each.

The order is `itertools.product`'s over the searched parameters (the last one changes
fastest), so the k-th suggestion is always the k-th grid point: a grid sweep's trial
ids, which carry that position, come out the same on every run. A `ChoiceParam` visits
its values; a bounded integer parameter every allowed multiple in its bounds; a real
parameter has no grid (give its points as a `ChoiceParam`).
"""

from __future__ import annotations

import math

import numpy as np

from tunescale.contract.errors import InputError
from tunescale.search.base import AskTellSearcher
from tunescale.search.space import ChoiceParam, OrderedParam, Param, Space


def _axis_in_basic(p: Param) -> list[float]:
    if isinstance(p, ChoiceParam):
        return [float(i) for i in range(len(p.values))]
    if isinstance(p, OrderedParam):
        return [p.to_basic(v) for v in p.values]
    if not p.is_integer or p.min is None or p.max is None:
        raise InputError(
            f"grid search: parameter '{p.name}' is not a finite set of values; give its grid points as a "
            f"ChoiceParam, or make it a bounded integer parameter."
        )
    q = p.rounding_factor
    return [p.to_basic(v) for v in range(math.ceil(p.min / q) * q, math.floor(p.max / q) * q + 1, q)]


class GridSearch(AskTellSearcher):
    def __init__(self, space: Space, *, seed: int = 0) -> None:
        super().__init__(space, seed=seed)
        self._axes = [_axis_in_basic(p) for p in space.searched]

    @property
    def size(self) -> int:
        return math.prod(len(axis) for axis in self._axes)

    def _suggest(self, rng: np.random.Generator) -> tuple[str, list[float], dict[str, float]]:
        position = self.n_suggested - 1  # `suggest` has counted this one already
        if position >= self.size:
            raise InputError(f"grid search: all {self.size} grid points were suggested; ask for at most that many.")
        vector_in_basic = []
        for axis in reversed(self._axes):
            position, i = divmod(position, len(axis))
            vector_in_basic.append(axis[i])
        return "grid", vector_in_basic[::-1], {}
