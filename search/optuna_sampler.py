"""CARBS as an Optuna sampler: an Optuna user switches with one line.

    import optuna
    from tunescale.search.optuna_sampler import CarbsSampler
    study = optuna.create_study(sampler=CarbsSampler(cost_attr="flops", seed=0))
    # the objective reports its cost: trial.set_user_attr("flops", 6 * n_params * n_tokens)

When Optuna calls each hook (see `optuna.samplers.BaseSampler`):
- `infer_relative_search_space`: the parameters every finished trial shares
  (`IntersectionSearchSpace`), or the `search_space` given, restricted to what CARBS
  searches (Float/IntDistribution, linear or log, integer steps that start on a
  multiple of the step; categoricals, see `from_optuna`).
- `sample_relative`: one `Carbs.suggest()` over that space, the same `tunescale.search.Carbs`
  object a sweep uses. The first trial of a define-by-run study has no space yet, so
  it is sampled independently, as with Optuna's CMA-ES sampler.
- `sample_independent`: parameters outside the space, by a seeded `RandomSampler`;
  a parameter CARBS cannot search (a stepped float) warns once with the reason.
- `after_trial`: the finished trial becomes an `Observation`: COMPLETE → completed
  (the cost read from the user attr `cost_attr`, or `cost_attr(trial)` for a callable),
  PRUNED → pruned with its last intermediate value, FAIL (a raised or NaN objective)
  → failed. Trials other processes finished are observed when the next suggestion is
  made, from the study's storage.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from tunescale.contract.errors import InputError
from tunescale.search.base import Observation
from tunescale.search.carbs import Carbs, CarbsConfig
from tunescale.search.space import ChoiceParam, FixedParam, OrderedParam, Param, Space
from tunescale.search.space_convert import bounded_param


def carbs_can_search(dist: BaseDistribution) -> bool:
    """Whether `from_optuna` maps this distribution onto a `Space` parameter."""
    if isinstance(dist, CategoricalDistribution):
        return True
    if isinstance(dist, FloatDistribution):
        return dist.step is None
    if isinstance(dist, IntDistribution):
        return dist.low % dist.step == 0  # `Param.round` keeps multiples of the step
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def from_optuna(distributions: Mapping[str, BaseDistribution]) -> Space:
    """A `Space` from Optuna distributions.

    The search centre is the middle of the transformed range; a log parameter gets one
    basic unit per decade, a linear one a fixed fraction of its range (`bounded_param`).
    A categorical of one choice becomes fixed; one of distinct numbers an `OrderedParam`
    over them sorted (``[16, 32, 64]`` is a width to search along, log-scaled when all
    are > 0); any other an unordered `ChoiceParam`.
    """
    params: list[Param] = []
    for name, dist in distributions.items():
        if not carbs_can_search(dist):
            raise InputError(
                f"parameter '{name}': Optuna {dist!r} cannot be searched by CARBS; use a Float/IntDistribution "
                f"without a step (an integer step must divide its low), or a categorical."
            )
        if isinstance(dist, CategoricalDistribution):
            choices = tuple(dist.choices)
            if len(choices) == 1:
                params.append(FixedParam(name, choices[0]))
            elif all(_is_number(c) for c in choices) and len(set(choices)) == len(choices):
                params.append(OrderedParam(name, tuple(sorted(choices))))
            else:
                params.append(ChoiceParam(name, choices))
            continue
        is_integer = isinstance(dist, IntDistribution)
        params.append(bounded_param(name, float(dist.low), float(dist.high), log=dist.log, is_integer=is_integer,
                                    rounding_factor=int(dist.step) if is_integer else 1))
    return Space(params)


class CarbsSampler(BaseSampler):
    """An Optuna sampler that asks `tunescale.search.Carbs`; see the module docstring.

    ``cost_attr``: the user attr holding a trial's cost (FLOPs, seconds; > 0), or a
    callable from the finished `FrozenTrial` to its cost. ``search_space``: the
    distributions to search from the first trial on (default: inferred from the trials).
    """

    def __init__(
        self,
        *,
        cost_attr: str | Callable[[FrozenTrial], float],
        seed: int = 0,
        config: CarbsConfig | dict | None = None,
        search_space: Mapping[str, BaseDistribution] | None = None,
    ) -> None:
        self.cost_attr = cost_attr
        self.seed = int(seed)
        self.config = config
        self._fixed_space = dict(search_space) if search_space is not None else None
        self._intersection = IntersectionSearchSpace()
        self._independent = RandomSampler(seed=seed)
        self._carbs: Carbs | None = None
        self._space_key: tuple | None = None
        self._suggestion_of: dict[int, str] = {}  # trial number -> its outstanding suggestion id
        self._observed: set[int] = set()
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    # -- Optuna's hooks -----------------------------------------------------------------------
    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        self._raise_error_if_multi_objective(study)
        space = self._fixed_space if self._fixed_space is not None else self._intersection.calculate(study)
        searched = {n: d for n, d in space.items() if carbs_can_search(d)}
        # CARBS needs at least one searched parameter; constants alone go to the fallback.
        varied = any(not isinstance(d, CategoricalDistribution) or len(d.choices) > 1 for d in searched.values())
        return searched if varied else {}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        with self._lock:
            carbs = self._searcher(search_space)
            self._catch_up(study, carbs)
            suggestion = carbs.suggest()
            self._suggestion_of[trial.number] = suggestion.suggestion_id
        return {name: suggestion.config[name] for name in search_space}

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        if not carbs_can_search(param_distribution) and param_name not in self._warned:
            self._warned.add(param_name)
            warnings.warn(
                f"CarbsSampler: parameter '{param_name}' ({param_distribution!r}) is sampled at random, "
                f"CARBS searches Float/IntDistribution without a step, and categoricals; drop the step.",
                UserWarning, stacklevel=2,
            )
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: list[float] | None
    ) -> None:
        with self._lock:
            if self._carbs is not None:
                self._observe(self._carbs, trial, state, values)

    def reseed_rng(self) -> None:
        self._independent.reseed_rng()

    # -- helpers ------------------------------------------------------------------------------
    def _searcher(self, search_space: Mapping[str, BaseDistribution]) -> Carbs:
        """The CARBS object for this space; a new one (fed again from the study) if the space changed."""
        key = tuple(sorted((n, repr(d)) for n, d in search_space.items()))
        if self._carbs is None or key != self._space_key:
            self._carbs = Carbs(from_optuna(search_space), seed=self.seed, config=self.config)
            self._space_key, self._suggestion_of, self._observed = key, {}, set()
        return self._carbs

    def _catch_up(self, study: Study, carbs: Carbs) -> None:
        """Observe finished trials this sampler has not seen (other workers', or from before it)."""
        finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        for t in study.get_trials(deepcopy=False, states=finished):
            if t.number not in self._observed:
                self._observe(carbs, t, t.state, t.values)

    def _cost(self, trial: FrozenTrial) -> float | None:
        if callable(self.cost_attr):
            return float(self.cost_attr(trial))
        value = trial.user_attrs.get(self.cost_attr)
        return None if value is None else float(value)

    def _observe(self, carbs: Carbs, trial: FrozenTrial, state: TrialState, values: list[float] | None) -> None:
        names = [p.name for p in carbs.space.searched]
        if trial.number in self._observed or any(n not in trial.params for n in names):
            return  # a trial outside this space tells CARBS nothing about it
        self._observed.add(trial.number)
        config = {n: trial.params[n] for n in names} | {p.name: p.value for p in carbs.space.fixed}
        suggestion_id = self._suggestion_of.pop(trial.number, None)
        cost = self._cost(trial)
        if state == TrialState.COMPLETE:
            if cost is None:
                raise InputError(
                    f"CarbsSampler: trial {trial.number} has no user attr '{self.cost_attr}' (its cost); call "
                    f"trial.set_user_attr('{self.cost_attr}', cost) in the objective, or pass cost_attr=callable."
                )
            output, status = values[0] if values else None, "completed"
        elif state == TrialState.PRUNED:  # its cost so far, if it kept one, tells CARBS what stopping saved
            steps = trial.intermediate_values
            output, status = (steps[max(steps)] if steps else None), "pruned"
            cost = cost if cost is not None and math.isfinite(cost) and cost > 0 else None
        else:
            output, status, cost = None, "failed", None
        carbs.observe(Observation(config, output, cost, status, suggestion_id=suggestion_id))


__all__ = ["CarbsSampler", "carbs_can_search", "from_optuna"]
