"""Optuna's TPE or GP sampler (or our CARBS as an Optuna sampler) behind the ask/tell
contract, through Optuna's own `study.ask()` / `study.tell()`.

With ``sampler="carbs"`` the searcher drives `CarbsSampler` exactly as an Optuna user's
study does, observation costs travelling as the trials' ``cost`` user attr, so the
sampler answers to the same contract suite as every other searcher.

Each suggestion is one `study.ask` with a sampler seeded from ``(seed, number of
suggestions made)``, so a searcher rebuilt by `load` (its study replayed from the saved
observations and outstanding suggestions) suggests what the original would have.
Outstanding trials stay RUNNING in the study and TPE's constant liar counts them as
bad, so concurrent asks spread out. Observations map to Optuna states: completed →
COMPLETE, pruned → PRUNED, diverged and failed → FAIL (TPE ignores failures).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from tunescale.contract.errors import InputError
from tunescale.search.base import PRUNED, AskTellSearcher, Observation, Suggestion
from tunescale.search.space import Space
from tunescale.search.space_convert import to_optuna

SAMPLERS = ("tpe", "gp", "carbs")
COST_ATTR = "cost"  # the user attr that carries an observation's cost to CarbsSampler


class OptunaSearch(AskTellSearcher):
    def __init__(self, space: Space, *, seed: int = 0, sampler: str = "tpe") -> None:
        if sampler not in SAMPLERS:
            raise InputError(f"Optuna sampler {sampler!r} is not one of {', '.join(SAMPLERS)}.")
        super().__init__(space, seed=seed)
        self.sampler = sampler
        self._distributions = to_optuna(Space(space.searched))  # fixed values come from `Space.from_basic`
        self._study: optuna.Study | None = None
        self._trials: dict[str, optuna.Trial] = {}  # outstanding suggestion id -> its RUNNING trial
        self._asked: optuna.Trial | None = None
        self._carbs_sampler: optuna.samplers.BaseSampler | None = None

    def _options(self) -> dict[str, Any]:
        return {"sampler": self.sampler}

    def _make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        with warnings.catch_warnings():  # constant_liar and GPSampler are marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if self.sampler == "gp":
                return optuna.samplers.GPSampler(seed=seed)
            if self.sampler == "carbs":  # one sampler for the whole search: it holds CARBS's outstanding asks
                from tunescale.search.optuna_sampler import CarbsSampler

                if self._carbs_sampler is None:
                    self._carbs_sampler = CarbsSampler(cost_attr=COST_ATTR, seed=self.seed,
                                                       search_space=self._distributions)
                return self._carbs_sampler
            return optuna.samplers.TPESampler(seed=seed, constant_liar=True)

    def _study_now(self) -> optuna.Study:
        """The study, built on first use from what this searcher holds (all of it after `load`)."""
        if self._study is None:
            optuna.logging.set_verbosity(optuna.logging.WARNING)  # no log line per trial
            self._study = optuna.create_study(direction="minimize")
            for obs in self.observations:
                self._tell(obs, None)
            for suggestion in self.outstanding.values():
                self._study.enqueue_trial(self._params(suggestion.config))
                self._trials[suggestion.suggestion_id] = self._study.ask(self._distributions)
        return self._study

    def _params(self, config: dict[str, Any]) -> dict[str, Any]:
        """The searched values of a config, clipped and rounded into their distributions."""
        clean = self.space.from_basic(self.space.to_basic(config))
        return {name: clean[name] for name in self._distributions}

    def _suggest(self, rng: np.random.Generator) -> tuple[str, list[float], dict[str, float]]:
        study = self._study_now()
        study.sampler = self._make_sampler(int(rng.integers(2**31 - 1)))
        self._asked = study.ask(self._distributions)
        return self.sampler, self.space.to_basic(self._asked.params), {}

    def suggest(self) -> Suggestion:
        suggestion = super().suggest()
        self._trials[suggestion.suggestion_id] = self._asked
        return suggestion

    def observe(self, observation: Observation) -> None:
        super().observe(observation)
        if self._study is not None:
            trial = self._trials.pop(observation.suggestion_id, None) if observation.suggestion_id else None
            self._tell(self.observations[-1], trial)

    def forget(self, suggestion_id: str) -> None:
        super().forget(suggestion_id)
        trial = self._trials.pop(suggestion_id, None)
        if trial is not None:
            self._study.tell(trial, state=TrialState.FAIL)

    def _tell(self, obs: Observation, trial: optuna.Trial | None) -> None:
        state = TrialState.COMPLETE if obs.success else TrialState.PRUNED if obs.status == PRUNED else TrialState.FAIL
        value = obs.output if state == TrialState.COMPLETE else None
        attrs = {COST_ATTR: obs.cost} if obs.cost is not None else {}
        if trial is not None:
            for key, cost in attrs.items():
                trial.set_user_attr(key, cost)
            self._study.tell(trial, value, state=state)
            return
        self._study.add_trial(optuna.trial.create_trial(
            params=self._params(obs.config), distributions=self._distributions, value=value, state=state,
            user_attrs=attrs))
