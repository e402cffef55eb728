"""Conversion of a `Space` to and from Ray Tune search spaces, and to Optuna distributions
(`search.optuna_sampler.from_optuna` converts back, for CarbsSampler).

Ray Tune and Optuna need bounded domains and know no logit transform, so:
- converting *to* them requires bounds on every searched parameter (InputError
  otherwise) and sends logit parameters as uniform on their bounds;
- converting *from* them puts the search centre at the middle of the transformed
  range. A log parameter gets one basic unit per decade (``scale = ln 10``, the CARBS
  reference code's ``LogSpace`` default), so the default search radius 0.3 is a factor
  of 2 whatever the bounds; a linear one gets ``scale = (range) / RANGE_IN_BASIC``.
Ray and Optuna are imported inside the functions, so importing this module stays light.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tunescale.contract.errors import InputError
from tunescale.search.space import FixedParam, LinearParam, LogParam, Param, Space

# A bounded linear range spans this many basic units: with the default search radius 0.3
# a typical step then covers ~1/13 of the range, local enough to follow a Pareto front.
RANGE_IN_BASIC = 4.0
# One basic unit of a log parameter: a decade. Scaling log ranges by RANGE_IN_BASIC
# instead made a radius-0.3 step of a width searched over 16..128 a factor of 1.17, so
# CARBS needed ~10 trials to climb the cost axis (benchmarks/carbs_proxy_bench.py).
DECADE_IN_BASIC = math.log(10)


def _require_bounds(p: Param, target: str) -> tuple[float, float]:
    if p.min is None or p.max is None:
        raise InputError(
            f"parameter '{p.name}': {target} needs both min and max, got min={p.min}, max={p.max}; "
            f"add bounds to the parameter."
        )
    return p.min, p.max


def _int_bounds(p: Param) -> tuple[int, int]:
    """The outermost multiples of the rounding factor inside [min, max]: Tune's and Optuna's
    stepped integer ranges must start and end on a step. Call after `_require_bounds`."""
    q = p.rounding_factor
    return math.ceil(p.min / q) * q, math.floor(p.max / q) * q


def to_tune(space: Space) -> dict[str, Any]:
    """A Ray Tune ``param_space`` dict (fixed parameters become constants)."""
    from ray import tune

    out: dict[str, Any] = {}
    for p in space.params:
        if isinstance(p, FixedParam):
            out[p.name] = p.value
            continue
        lo, hi = _require_bounds(p, "Ray Tune")
        q = p.rounding_factor
        if p.is_integer:
            ilo, ihi = _int_bounds(p)
            if isinstance(p, LogParam):
                out[p.name] = tune.qlograndint(ilo, ihi, q) if q > 1 else tune.lograndint(ilo, ihi + 1)
            else:
                out[p.name] = tune.qrandint(ilo, ihi, q)
        elif isinstance(p, LogParam):
            out[p.name] = tune.loguniform(lo, hi)
        else:
            out[p.name] = tune.uniform(lo, hi)
    return out


def _centre_and_scale(cls: type, lo: float, hi: float) -> tuple[float, float]:
    probe = cls(name="probe", search_center=lo, min=lo, max=hi)
    a, b = probe._forward(lo), probe._forward(hi)
    scale = DECADE_IN_BASIC if cls is LogParam else (b - a) / RANGE_IN_BASIC
    return probe._inverse((a + b) / 2), scale


def from_tune(param_space: Mapping[str, Any]) -> Space:
    """A `Space` from a Ray Tune ``param_space`` (uniform, loguniform, (q)randint, constants)."""
    from ray.tune.search.sample import Domain, Float, Integer, LogUniform, Quantized

    params: list[Param] = []
    for name, dom in param_space.items():
        if not isinstance(dom, Domain):
            params.append(FixedParam(name, dom))
            continue
        if not isinstance(dom, Float | Integer):
            raise InputError(
                f"parameter '{name}': Ray Tune domain {type(dom).__name__} cannot be searched by CARBS; "
                f"use uniform/loguniform/randint or a constant."
            )
        sampler = dom.get_sampler()
        q = 1
        if isinstance(sampler, Quantized):
            q, sampler = sampler.q, sampler.sampler
        is_log = isinstance(sampler, LogUniform)
        lo, hi = float(dom.lower), float(dom.upper)
        is_integer = isinstance(dom, Integer)
        if is_integer and q == 1:
            hi -= 1  # (log)randint excludes its upper bound
        cls = LogParam if is_log else LinearParam
        centre, scale = _centre_and_scale(cls, lo, hi)
        params.append(
            cls(name=name, search_center=centre, scale=scale, min=lo, max=hi,
                is_integer=is_integer, rounding_factor=int(q) if is_integer else 1)
        )
    return Space(params)


def to_optuna(space: Space) -> dict[str, Any]:
    """Optuna distributions (fixed parameters become one-choice categoricals)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for p in space.params:
        if isinstance(p, FixedParam):
            out[p.name] = CategoricalDistribution([p.value])
            continue
        lo, hi = _require_bounds(p, "Optuna")
        log = isinstance(p, LogParam)
        if p.is_integer:
            q = p.rounding_factor
            ilo, ihi = _int_bounds(p)
            # Optuna forbids step != 1 together with log: keep the step (every value valid)
            # and give up the log prior for such parameters.
            out[p.name] = IntDistribution(ilo, ihi, log=log and q == 1, step=q)
        else:
            out[p.name] = FloatDistribution(lo, hi, log=log)
    return out


__all__ = ["to_tune", "from_tune", "to_optuna"]
