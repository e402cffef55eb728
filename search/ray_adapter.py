"""Ray Tune `Searcher` over any ask/tell searcher (grid, random, Optuna, CARBS).

    from ray import tune
    from tunescale.search import Carbs
    from tunescale.search.ray_adapter import AskTellSearch
    search = AskTellSearch(Carbs(space), metric="loss", mode="min", cost_attr="flops")
    tuner = tune.Tuner(train_fn, tune_config=tune.TuneConfig(search_alg=search))

A thin wrapper: Ray's trial ids map to suggestion ids; a finished trial becomes an
`Observation` (an errored trial is "failed", a missing or non-finite metric "diverged");
the cost is read from ``result[cost_attr]`` (e.g. "flops", or Ray's "time_total_s"), or
is 1 for every trial with ``cost_attr=None`` (searchers that ignore cost).
Early stopping (`Carbs.report`): with ``fraction_attr`` (the result key holding the
share of the run done), pass ``RunConfig(stop=AskTellStopper(search))``; it feeds every
intermediate result to a searcher that has `report` and stops the trials it gives up
on, which are then observed as "pruned" with the cost they spent.
To resume a search from trials it did not suggest, tell the searcher first
(`search.replay.replay`). This module imports Ray at the top, so import it only where
Ray is wanted (`search/__init__.py` does not).
"""

from __future__ import annotations

import math
from importlib import import_module
from typing import Any

from ray.tune import Stopper
from ray.tune.search import Searcher

from tunescale.contract.errors import InputError
from tunescale.search.base import PRUNED, AskTellSearcher, Observation, Suggestion

# Searcher class name -> its module, for `set_state` (imported only when a state names it).
_MODULES = {"Carbs": "carbs", "RandomSearch": "random_search", "GridSearch": "grid_search",
            "OptunaSearch": "optuna_search"}


def _searcher_class(name: str) -> type[AskTellSearcher]:
    if name not in _MODULES:
        raise InputError(f"saved state is for searcher {name!r}, not one of {', '.join(_MODULES)}.")
    return getattr(import_module(f"tunescale.search.{_MODULES[name]}"), name)


class AskTellSearch(Searcher):
    """`search_alg = AskTellSearch(searcher, metric=..., mode=...)`; the searcher owns the space."""

    def __init__(
        self,
        searcher: AskTellSearcher | None = None,
        *,
        metric: str | None = None,
        mode: str | None = None,
        cost_attr: str | None = "time_total_s",
        seed_key: str | None = None,
        fraction_attr: str | None = None,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self.ask_tell = searcher  # not `.searcher`: Ray's wrappers (ConcurrencyLimiter) use that name
        self.cost_attr = cost_attr
        self.seed_key = seed_key
        self.fraction_attr = fraction_attr
        self._stopped: set[str] = set()
        self._suggestion_of_trial: dict[str, Suggestion] = {}

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.ask_tell is None:
            raise InputError("AskTellSearch has no searcher; pass one, e.g. AskTellSearch(Carbs(space), ...).")
        if self._mode not in ("min", "max") or not self._metric:
            raise InputError(f"AskTellSearch needs metric and mode 'min'/'max'; got {self._metric!r}, {self._mode!r}.")
        suggestion = self.ask_tell.suggest()
        config = dict(suggestion.config)
        if self.seed_key:
            config[self.seed_key] = suggestion.seed
        self._suggestion_of_trial[trial_id] = suggestion
        return config

    def _cost(self, result: dict) -> float | None:
        if self.cost_attr is None:
            return 1.0
        cost = result.get(self.cost_attr)
        return float(cost) if cost is not None and math.isfinite(cost) and cost > 0 else None

    def stops(self, trial_id: str, result: dict) -> bool:
        """Give the searcher an intermediate result (see `AskTellStopper`); True: stop the trial.
        A result without the fraction, metric or a positive cost is not a report."""
        suggestion = self._suggestion_of_trial.get(trial_id)
        report = getattr(self.ask_tell, "report", None)
        if suggestion is None or self.fraction_attr is None or report is None:
            return False
        fraction, value, cost = result.get(self.fraction_attr), result.get(self._metric), self._cost(result)
        if fraction is None or value is None or cost is None or not 0 < fraction < 1:
            return False
        sign = 1 if self._mode == "min" else -1
        if report(suggestion.suggestion_id, float(fraction), sign * float(value), cost):
            self._stopped.add(trial_id)
        return trial_id in self._stopped

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        suggestion = self._suggestion_of_trial.pop(trial_id, None)
        if suggestion is None:
            return
        result = result or {}
        value = result.get(self._metric)
        cost = self._cost(result)
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
        self.ask_tell = None if saved is None else _searcher_class(saved["searcher"]).from_state_dict(saved)

    def save(self, checkpoint_path: str) -> None:
        self.ask_tell.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        if self.ask_tell is None:
            raise InputError("AskTellSearch.restore needs a searcher of the saved kind; pass one, then restore.")
        self.ask_tell = type(self.ask_tell).load(checkpoint_path)


class AskTellStopper(Stopper):
    """`RunConfig(stop=AskTellStopper(search))`: stops the trials the searcher gives up on
    (`AskTellSearch.stops`); a Tune stopper sees every intermediate result on the driver,
    where the searcher lives."""

    def __init__(self, search: AskTellSearch) -> None:
        self.search = search

    def __call__(self, trial_id: str, result: dict) -> bool:
        return self.search.stops(trial_id, result)

    def stop_all(self) -> bool:
        return False
