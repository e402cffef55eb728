"""Ray Tune `Searcher` over any ask/tell searcher (CARBS by default).

    from ray import tune
    from tunescale.search.ray_adapter import CarbsSearch
    tuner = tune.Tuner(train_fn, param_space=space_as_tune_dict,
                       tune_config=tune.TuneConfig(search_alg=CarbsSearch(metric="loss", mode="min",
                                                                           cost_attr="flops")))

A thin wrapper: Ray's trial ids map to suggestion ids; a finished trial becomes an
`Observation` (an errored trial is "failed", a missing or non-finite metric "diverged");
the cost is read from ``result[cost_attr]`` (e.g. "flops", or Ray's "time_total_s").
Early stopping (`Carbs.report`): with ``fraction_attr`` (the result key holding the
share of the run done), pass ``RunConfig(stop=CarbsStopper(search))``; it feeds every
intermediate result to CARBS and stops the trials CARBS gives up on, which are then
observed as "pruned" with the cost they spent.
This module imports Ray at the top, so import it only where Ray is wanted
(`search/__init__.py` does not).
"""

from __future__ import annotations

import math
from typing import Any

from ray.tune import Stopper
from ray.tune.search import Searcher

from tunescale.contract.errors import InputError
from tunescale.search.base import PRUNED, AskTellSearcher, Observation, Suggestion
from tunescale.search.carbs import Carbs, CarbsConfig
from tunescale.search.random_search import RandomSearch
from tunescale.search.space import Space
from tunescale.search.space_convert import from_tune

_SEARCHERS = {cls.__name__: cls for cls in (Carbs, RandomSearch)}


class CarbsSearch(Searcher):
    """`search_alg = CarbsSearch(...)`; pass a `Space`, or let Tune's ``param_space`` define it."""

    def __init__(
        self,
        space: Space | None = None,
        *,
        metric: str | None = None,
        mode: str | None = None,
        cost_attr: str = "time_total_s",
        seed: int = 0,
        config: CarbsConfig | dict | None = None,
        seed_key: str | None = None,
        ask_tell: AskTellSearcher | None = None,
        fraction_attr: str | None = None,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self.cost_attr = cost_attr
        self.seed_key = seed_key
        self.fraction_attr = fraction_attr
        self._stopped: set[str] = set()
        self._seed, self._config = seed, config
        self.ask_tell = ask_tell
        if ask_tell is None and space is not None:
            self.ask_tell = Carbs(space, seed=seed, config=config)
        self._suggestion_of_trial: dict[str, Suggestion] = {}

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec) -> bool:
        if self.ask_tell is not None:
            return False
        self.ask_tell = Carbs(from_tune(config), seed=self._seed, config=self._config)
        if metric:
            self._metric = metric
        if mode:
            self._mode = mode
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.ask_tell is None:
            raise InputError("CarbsSearch has no search space; pass space=... or a Tuner param_space.")
        if self._mode not in ("min", "max") or not self._metric:
            raise InputError(f"CarbsSearch needs metric and mode 'min'/'max'; got {self._metric!r}, {self._mode!r}.")
        suggestion = self.ask_tell.suggest()
        config = dict(suggestion.config)
        if self.seed_key:
            config[self.seed_key] = suggestion.seed
        self._suggestion_of_trial[trial_id] = suggestion
        return config

    def stops(self, trial_id: str, result: dict) -> bool:
        """Give CARBS an intermediate result (see `CarbsStopper`); True: stop the trial.
        A result without the fraction, metric or a positive cost is not a report."""
        suggestion = self._suggestion_of_trial.get(trial_id)
        if suggestion is None or self.fraction_attr is None or not isinstance(self.ask_tell, Carbs):
            return False
        fraction, value, cost = (result.get(k) for k in (self.fraction_attr, self._metric, self.cost_attr))
        if fraction is None or value is None or cost is None or not (0 < fraction < 1 and cost > 0):
            return False
        sign = 1 if self._mode == "min" else -1
        if self.ask_tell.report(suggestion.suggestion_id, float(fraction), sign * float(value), float(cost)):
            self._stopped.add(trial_id)
        return trial_id in self._stopped

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        suggestion = self._suggestion_of_trial.pop(trial_id, None)
        if suggestion is None:
            return
        result = result or {}
        value = result.get(self._metric)
        cost = result.get(self.cost_attr)
        cost = float(cost) if cost is not None and math.isfinite(cost) and cost > 0 else None
        stopped, fraction = trial_id in self._stopped, result.get(self.fraction_attr or "")
        self._stopped.discard(trial_id)
        if stopped and fraction is not None and fraction < 1:  # not a trial that reached its end anyway
            self.ask_tell.observe(Observation(suggestion.config, None, cost, PRUNED,
                                              suggestion_id=suggestion.suggestion_id))
            return
        if error:
            status = "failed"
        elif value is None or not math.isfinite(value):
            status = "diverged"
        elif cost is None:
            raise InputError(
                f"trial {trial_id} reported {self._metric}={value} but no positive '{self.cost_attr}'; "
                f"report the cost under that key or pass cost_attr=<key>."
            )
        else:
            status = "completed"
        output = None if value is None else float(value) * (1 if self._mode == "min" else -1)
        self.ask_tell.observe(Observation(
            suggestion.config, output, cost, status, seed=result.get(self.seed_key) if self.seed_key else None,
            suggestion_id=suggestion.suggestion_id,
        ))

    def get_state(self) -> dict[str, Any]:
        """JSON-safe state Ray checkpoints with the experiment (never a pickle of the model)."""
        return {
            "metric": self._metric, "mode": self._mode, "cost_attr": self.cost_attr, "seed_key": self.seed_key,
            "fraction_attr": self.fraction_attr,
            "searcher": None if self.ask_tell is None else self.ask_tell.state_dict(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self._metric, self._mode = state["metric"], state["mode"]
        self.cost_attr, self.seed_key = state["cost_attr"], state["seed_key"]
        self.fraction_attr = state.get("fraction_attr")
        saved = state["searcher"]
        self.ask_tell = None if saved is None else _SEARCHERS[saved["searcher"]].from_state_dict(saved)

    def save(self, checkpoint_path: str) -> None:
        self.ask_tell.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.ask_tell = (type(self.ask_tell) if self.ask_tell is not None else Carbs).load(checkpoint_path)


class CarbsStopper(Stopper):
    """`RunConfig(stop=CarbsStopper(search))`: stops the trials CARBS gives up on
    (`CarbsSearch.stops`); a Tune stopper sees every intermediate result on the driver,
    where the searcher lives."""

    def __init__(self, search: CarbsSearch) -> None:
        self.search = search

    def __call__(self, trial_id: str, result: dict) -> bool:
        return self.search.stops(trial_id, result)

    def stop_all(self) -> bool:
        return False
