"""Leave the largest scale out, refit, and measure the extrapolation error (DESIGN.md step 4).

Notations
---------
largest scale   the points with the largest params (or tokens, or flops when params is
                constant): the extrapolation a user relies on
HP error        log10(predicted optimum / fitted optimum at the held-out scale), in decades
loss error      (predicted loss - observed loss) / observed loss
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

HP_WARN_DECADES = 0.15  # a factor of 1.4 in lr or batch size costs visible loss (Step Law Fig. 1)
LOSS_WARN_REL = 0.01  # 1% of loss is about the gap between neighbouring model sizes at fixed D
MIN_SCALES = 3


@dataclass(frozen=True)
class Validation:
    """Extrapolation error of one law with its largest scale held out; `error` is None when it cannot be run."""

    law: str
    held_out_by: str
    held_out_value: float | None
    n_held_out: int
    n_fit: int
    predicted: tuple[float, ...]
    observed: tuple[float, ...]
    error: float | None
    error_kind: str
    warning: str | None

    def summary(self) -> dict:
        return {"law": self.law, "held_out_by": self.held_out_by, "held_out_value": self.held_out_value,
                "n_held_out": self.n_held_out, "n_fit": self.n_fit, "predicted": list(self.predicted),
                "observed": list(self.observed), "error": self.error, "error_kind": self.error_kind,
                "warning": self.warning}

    def report(self) -> str:
        if self.error is None:
            return f"    validation ({self.law}): {self.warning}"
        unit = "decades (log10)" if self.error_kind == "log10" else "relative"
        held = f"{self.held_out_by} = {self.held_out_value:.3g}"
        text = (f"    leave-largest-out ({held}, {self.n_held_out} point(s) held, fit on {self.n_fit}): "
                f"error {self.error:+.4f} {unit}")
        return text + (f"  WARNING: {self.warning}" if self.warning else "")


def largest_key(points: pd.DataFrame, inputs: tuple[str, ...]) -> str:
    """The column whose largest value defines "the largest scale": params first, as in model size."""
    for k in ("params", "tokens", "flops", *inputs):
        if k in points.columns and points[k].nunique() > 1:
            return k
    return inputs[0]


def leave_largest_out(
    law: str,
    points: pd.DataFrame,
    inputs: tuple[str, ...],
    target: str,
    refit: Callable[[pd.DataFrame], object],
    *,
    kind: str,
) -> Validation:
    """Refit on all but the largest scale with `refit(points) -> result with predict(**x)` and score it."""
    from tunescale.contract.errors import TunescaleError

    key = largest_key(points, inputs)
    top = points[key].max()
    held = points[np.isclose(points[key], top, rtol=1e-9)]
    rest = points[~np.isclose(points[key], top, rtol=1e-9)]
    n_scales = points[key].nunique()
    base = dict(law=law, held_out_by=key, held_out_value=float(top), n_held_out=len(held), n_fit=len(rest),
                error_kind=kind)
    if n_scales < MIN_SCALES:
        return Validation(
            **base,
            predicted=(),
            observed=(),
            error=None,
            warning=f"only {n_scales} distinct {key} value(s); cannot validate (sweep at least {MIN_SCALES})",
        )
    try:
        result = refit(rest)
    except TunescaleError as exc:
        return Validation(
            **base, predicted=(), observed=(), error=None, warning=f"refit without the largest scale failed: {exc}"
        )
    pred = np.asarray(result.predict(**{k: held[k].to_numpy() for k in inputs}), dtype=float)
    obs = held[target].to_numpy(dtype=float)
    if kind == "log10":
        err = float(np.mean(np.log10(pred / obs)))
        warn = (
            f"extrapolation off by {abs(err):.2f} decades (> {HP_WARN_DECADES})" if abs(err) > HP_WARN_DECADES else None
        )
    else:
        err = float(np.mean((pred - obs) / obs))
        warn = f"extrapolated loss off by {abs(err):.1%} (> {LOSS_WARN_REL:.0%})" if abs(err) > LOSS_WARN_REL else None
    return Validation(
        **base, predicted=tuple(map(float, pred)), observed=tuple(map(float, obs)), error=err, warning=warn
    )
