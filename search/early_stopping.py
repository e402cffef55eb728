"""Early stopping for CARBS: stop a running trial once it cannot join the Pareto front.

A trial reports its output at fractions of its run (`Carbs.report`). The trials that
finished show how much their output still fell from each fraction to the end; the
largest of those drops is an optimistic forecast of a running trial's final output.
When even that forecast is worse than the front at the trial's full cost (its cost so
far / the fraction: FLOPs and seconds grow linearly with the run), finishing the run
cannot make it a Pareto member, and CARBS searches only from the front. The largest
drop, not a typical one, because stopping a trial that would have joined the front
loses the very result the search is after, while letting a hopeless one finish only
costs compute. The drops come from comparable trials, not much cheaper ones
(`DropCurves.largest_drop`). A resample of a Pareto member is never stopped: it is there
to measure that member's final output again. A stopped trial still informs the
surrogates: it enters them at its forecast output and full cost (never the Pareto set,
which holds only results).

Why: at the dear end of the front one trial with a poor learning rate can cost a sixth
of a sweep's budget, and a stopped trial's compute goes to trials that can still join the
front. `python benchmarks/early_stopping_bench.py` measures how tight and how safe the
forecast is on real proxy runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# Finished curves needed before anything is stopped: with fewer, the largest drop is
# not yet a safe bound.
MIN_CURVES = 3
# Which finished trials bound a running one's drop (see `DropCurves.largest_drop`).
COMPARABLE_COST_FRACTION = 0.25
FALLBACK_DEAREST = 8


@dataclass
class DropCurves:
    """Per finished trial: its report fractions, (output there - final output), full cost."""

    curves: list[tuple[np.ndarray, np.ndarray, float]] = field(default_factory=list)

    def add(self, progress: Sequence[tuple[float, float]], final_output: float, cost: float) -> None:
        """Learn from a finished trial's (fraction, output) reports, final output and cost."""
        points = sorted((f, y) for f, y in progress if f < 1.0)
        if points:
            fractions, outputs = (np.array(v, dtype=float) for v in zip(*points, strict=True))
            self.curves.append((fractions, outputs - final_output, float(cost)))

    def largest_drop(self, fraction: float, cost: float) -> float:
        """The largest fall from `fraction` to the end that a comparable finished trial
        showed, for a trial of full `cost` (inf when fewer than `MIN_CURVES` reported at or
        before that fraction).

        Comparable: at least `COMPARABLE_COST_FRACTION` as dear, once `FALLBACK_DEAREST`
        such trials finished; before that, the `FALLBACK_DEAREST` dearest (the dearest
        trial of a search has few peers). A much cheaper run is mostly a shorter one: at the
        same fraction it has trained few steps and has most of its fall still ahead, so it
        bounds a dear run's fall loosely, and a dear run with a poor learning rate ran on
        to 60-100% of its cost before it was stopped. benchmarks/early_stopping_bench.py
        (200 random proxy runs, leave-one-out) measures the bound for the dear runs: 0.34
        nats above the true final loss at 40% of the run (bounded by every finished trial:
        0.77) and 0.10 at 60% (0.30); one of its 80 forecasts was above the true final loss.
        """
        reported = sorted((x for x in self.curves if x[0][0] <= fraction), key=lambda x: -x[2])
        comparable = [x for x in reported if x[2] >= COMPARABLE_COST_FRACTION * cost]
        pool = comparable if len(comparable) >= FALLBACK_DEAREST else reported[:FALLBACK_DEAREST]
        drops = [float(np.interp(fraction, f, d, right=0.0)) for f, d, _ in pool]
        return max(drops) if len(drops) >= MIN_CURVES else float("inf")

    def forecast(self, fraction: float, output: float, cost: float) -> float:
        """Optimistic final output of a trial of full `cost` that reported `output` at `fraction`."""
        return output - self.largest_drop(fraction, cost)
