"""Early stopping for CARBS: stop a running trial once it cannot join the Pareto front.

A trial reports its output at fractions of its run (`Carbs.report`). The trials that
finished show how much their output still fell from each fraction to the end; the
largest of those drops is an optimistic forecast of a running trial's final output.
When even that forecast is worse than the front at the trial's full cost (its cost so
far / the fraction: FLOPs and seconds grow linearly with the run), finishing the run
cannot make it a Pareto member, and CARBS searches only from the front. The largest
drop, not a typical one, because stopping a trial that would have joined the front
loses the very result the search is after, while letting a hopeless one finish only
costs compute. A resample of a Pareto member is never stopped: it is there to measure
that member's final output again. A stopped trial still informs the surrogates: it
enters them at its forecast output and full cost (never the Pareto set, which holds
only results).

Why: at the dear end of the front one trial with a poor learning rate can cost a sixth
of a sweep's budget. On benchmarks/carbs_proxy_bench.py (40 seeds) CARBS stops 40-50% of
its trials; the mean best loss it finds drops from 2.340 to 2.335 (budget 150) and from
2.241 to 2.224 (budget 300), and the seeds reaching the earlier target rise from 5 to 8
(150) and from 8 to 9 (300). The hypervolume falls at 300 (10.06 to 9.59): a stopped
trial puts no point on the front.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# Finished curves needed before anything is stopped: with fewer, the largest drop is
# not yet a safe bound.
MIN_CURVES = 3


@dataclass
class DropCurves:
    """Per finished trial: its report fractions and (output there - final output)."""

    curves: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def add(self, progress: Sequence[tuple[float, float]], final_output: float) -> None:
        """Learn from a finished trial's (fraction, output) reports and its final output."""
        points = sorted((f, y) for f, y in progress if f < 1.0)
        if points:
            fractions, outputs = (np.array(v, dtype=float) for v in zip(*points, strict=True))
            self.curves.append((fractions, outputs - final_output))

    def largest_drop(self, fraction: float) -> float:
        """The largest fall from `fraction` to the end any finished trial showed (inf when
        too few trials reported at or before that fraction to bound it)."""
        drops = [float(np.interp(fraction, f, d, right=0.0)) for f, d in self.curves if f[0] <= fraction]
        return max(drops) if len(drops) >= MIN_CURVES else float("inf")

    def forecast(self, fraction: float, output: float) -> float:
        """Optimistic final output of a trial that reported `output` at `fraction`."""
        return output - self.largest_drop(fraction)
