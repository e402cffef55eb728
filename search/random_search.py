"""Random search: the smallest searcher, and the baseline every other one must beat.

Bounded dimensions are sampled uniformly in basic space (so log parameters are
log-uniform); unbounded ones from a normal around the search centre with a standard
deviation of `unbounded_std_in_basic`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tunescale.search.base import AskTellSearcher
from tunescale.search.space import Space


class RandomSearch(AskTellSearcher):
    def __init__(self, space: Space, *, seed: int = 0, unbounded_std_in_basic: float = 1.0) -> None:
        super().__init__(space, seed=seed)
        self.unbounded_std_in_basic = float(unbounded_std_in_basic)

    def _options(self) -> dict[str, Any]:
        return {"unbounded_std_in_basic": self.unbounded_std_in_basic}

    def _suggest(self, rng: np.random.Generator) -> tuple[str, list[float], dict[str, float]]:
        vector_in_basic = []
        for (lo, hi), centre in zip(self.space.bounds_in_basic, self.space.search_center_in_basic, strict=True):
            if np.isfinite(lo) and np.isfinite(hi):
                vector_in_basic.append(float(rng.uniform(lo, hi)))
            else:
                vector_in_basic.append(float(np.clip(rng.normal(centre, self.unbounded_std_in_basic), lo, hi)))
        return "random", vector_in_basic, {}
