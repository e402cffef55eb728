"""Bounded ranges to `Space` parameters, and a `Space` to Optuna distributions.

A range given only by its bounds (a sweep spec's `log`/`linear`/`int` dimension) gets
its search centre at the middle of the transformed range. A log parameter gets one
basic unit per decade (``scale = ln 10``, the CARBS reference code's ``LogSpace``
default), so the default search radius 0.3 is a factor of 2 whatever the bounds; a
linear one gets ``scale = (range) / RANGE_IN_BASIC``.
Optuna needs bounded domains and knows no logit transform, so converting to it
requires bounds on every searched parameter (InputError otherwise) and sends logit
parameters as uniform on their bounds. Optuna is imported inside the function.
"""

from __future__ import annotations

import math
from typing import Any

from tunescale.contract.errors import InputError
from tunescale.search.space import (
    DECADE_IN_BASIC,
    RANGE_IN_BASIC,
    ChoiceParam,
    FixedParam,
    LinearParam,
    LogParam,
    OrderedParam,
    Param,
    Space,
)


def bounded_param(name: str, lo: float, hi: float, *, log: bool, is_integer: bool = False,
                  rounding_factor: int = 1) -> LogParam | LinearParam:
    """A log or linear parameter over [lo, hi], centred and scaled as the module doc says."""
    cls = LogParam if log else LinearParam
    probe = cls(name=name, search_center=lo, min=lo, max=hi)
    a, b = probe._forward(lo), probe._forward(hi)
    scale = DECADE_IN_BASIC if log else (b - a) / RANGE_IN_BASIC
    return cls(name=name, search_center=probe._inverse((a + b) / 2), scale=scale or 1.0, min=lo, max=hi,
               is_integer=is_integer, rounding_factor=rounding_factor)


def _require_bounds(p: Param, target: str) -> tuple[float, float]:
    if p.min is None or p.max is None:
        raise InputError(
            f"parameter '{p.name}': {target} needs both min and max, got min={p.min}, max={p.max}; "
            f"add bounds to the parameter."
        )
    return p.min, p.max


def to_optuna(space: Space) -> dict[str, Any]:
    """Optuna distributions (choices and ordered values become categoricals, fixed parameters one-choice ones)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for p in space.params:
        if isinstance(p, FixedParam):
            out[p.name] = CategoricalDistribution([p.value])
            continue
        if isinstance(p, ChoiceParam | OrderedParam):
            out[p.name] = CategoricalDistribution(p.values)
            continue
        lo, hi = _require_bounds(p, "Optuna")
        log = isinstance(p, LogParam)
        if p.is_integer:
            # Stepped integer ranges must start and end on a step: the outermost multiples inside.
            q = p.rounding_factor
            ilo, ihi = math.ceil(lo / q) * q, math.floor(hi / q) * q
            # Optuna forbids step != 1 together with log: keep the step (every value valid)
            # and give up the log prior for such parameters.
            out[p.name] = IntDistribution(ilo, ihi, log=log and q == 1, step=q)
        else:
            out[p.name] = FloatDistribution(lo, hi, log=log)
    return out


__all__ = ["DECADE_IN_BASIC", "RANGE_IN_BASIC", "bounded_param", "to_optuna"]
