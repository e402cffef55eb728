"""The contract every ask/tell searcher must pass (in the spirit of optuna/testing).

Subclass `AskTellContract` in a test module and define `make_searcher(space, seed)`;
pytest then runs every `test_*` method below against that searcher (one that searches
only finite sets of values, as grid search, sets ``finite = True``):

    class TestMySearcher(AskTellContract):
        def make_searcher(self, space, seed):
            return MySearcher(space, seed=seed)
"""

from __future__ import annotations

import math
import warnings

import pytest

from tunescale.contract.errors import InputError
from tunescale.search.base import AskTellSearcher, Observation
from tunescale.search.space import (
    ChoiceParam,
    FixedParam,
    LinearParam,
    LogitParam,
    LogParam,
    OrderedParam,
    Space,
)


def contract_space(finite: bool = False) -> Space:
    """Every parameter type; with `finite`, lr and dropout are choices of values in their ranges."""
    lr = ChoiceParam("lr", (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)) if finite else LogParam(
        "lr", 1e-3, scale=1.0, min=1e-5, max=1.0)
    dropout = ChoiceParam("dropout", (0.01, 0.1, 0.5, 0.9)) if finite else LogitParam(
        "dropout", 0.1, scale=1.0, min=0.01, max=0.9)
    return Space([
        lr,
        LinearParam("batch_size", 64, scale=32, min=8, max=512, is_integer=True, rounding_factor=8),
        dropout,
        ChoiceParam("schedule", ("cosine", "wsd", "constant")),
        OrderedParam.powers_of_two("width", 16, 256),
        FixedParam("optimizer", "adamw"),
    ])


def scaling_space() -> Space:
    """Model size, tokens and lr: a cost-aware problem with a known answer (`scaling_loss`)."""
    return Space([LogParam("params", 1e6, min=1e5, max=1e9, is_integer=True),
                  LogParam("tokens", 1e7, min=1e6, max=1e11), LogParam("lr", 1e-3, min=1e-5, max=1.0)])


def scaling_loss(config: dict) -> float:
    """Chinchilla-style law plus an lr basin whose optimum moves with N."""
    lr_star = 3e-3 * (config["params"] / 1e6) ** -0.3
    return (1.7 + 400 / config["params"] ** 0.34 + 410 / config["tokens"] ** 0.28
            + 0.05 * math.log(config["lr"] / lr_star) ** 2)


def contract_objective(config: dict) -> tuple[float, float]:
    """(output, cost): a bowl in basic space, cost rising with batch size and width."""
    output = (math.log(config["lr"]) - math.log(3e-3)) ** 2 + (config["batch_size"] / 128 - 1) ** 2
    output += 0.1 * (config["schedule"] == "constant") + 8 / config["width"]
    return output + config["dropout"], float(config["batch_size"] * config["width"])


def run_steps(searcher: AskTellSearcher, n: int, fail_every: int = 0) -> None:
    for i in range(n):
        s = searcher.suggest()
        output, cost = contract_objective(s.config)
        if fail_every and i % fail_every == fail_every - 1:
            obs = Observation(s.config, float("nan"), cost, "completed", s.seed, s.suggestion_id)
        else:
            obs = Observation(s.config, output, cost, "completed", s.seed, s.suggestion_id)
        searcher.observe(obs)


class AskTellContract:
    n_steps = 8
    finite = False
    # A searcher whose state is a sampler's (an Optuna sampler keeps its own in the study's
    # storage) rebuilds from saved observations without replaying its past suggestions: it
    # resumes the search, not the same sequence of asks.
    resumes_identically = True

    def space(self) -> Space:
        return contract_space(self.finite)

    def make_searcher(self, space: Space, seed: int) -> AskTellSearcher:
        raise TypeError(f"{type(self).__name__} must define make_searcher(space, seed)")

    @pytest.fixture(autouse=True)
    def _quiet_fallbacks(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield

    def test_suggestions_lie_in_the_space(self):
        searcher = self.make_searcher(self.space(), seed=0)
        run_steps(searcher, self.n_steps)
        for o in searcher.observations:
            c = o.config
            assert 1e-5 <= c["lr"] <= 1.0
            assert 8 <= c["batch_size"] <= 512 and c["batch_size"] % 8 == 0
            assert isinstance(c["batch_size"], int)
            assert 0.01 <= c["dropout"] <= 0.9
            assert c["schedule"] in ("cosine", "wsd", "constant")
            assert c["width"] in (16, 32, 64, 128, 256)
            assert c["optimizer"] == "adamw"

    def test_failures_never_stop_the_search(self):
        searcher = self.make_searcher(self.space(), seed=1)
        s = searcher.suggest()
        searcher.observe(Observation(s.config, None, None, "failed", s.seed, s.suggestion_id))
        run_steps(searcher, self.n_steps, fail_every=2)
        statuses = [o.status for o in searcher.observations]
        assert statuses.count("failed") == 1
        assert statuses.count("diverged") == self.n_steps // 2
        assert len(searcher.observations) == self.n_steps + 1

    def test_save_load_resumes_identically(self, tmp_path):
        searcher = self.make_searcher(self.space(), seed=2)
        run_steps(searcher, self.n_steps)
        pending = searcher.suggest()
        searcher.save(tmp_path / "state.json")
        loaded = type(searcher).load(tmp_path / "state.json")
        assert pending.suggestion_id in loaded.outstanding
        assert loaded.observations == searcher.observations
        for _ in range(2):
            a, b = searcher.suggest(), loaded.suggest()
            if self.resumes_identically:
                assert a == b
            else:
                assert b.suggestion_id in loaded.outstanding
                assert self.space().from_basic(self.space().to_basic(b.config)) == b.config

    def test_concurrent_asks_are_distinct(self):
        searcher = self.make_searcher(self.space(), seed=3)
        run_steps(searcher, self.n_steps)
        asked = [searcher.suggest() for _ in range(6)]
        configs = {tuple(sorted(s.config.items())) for s in asked}
        assert len(configs) == len(asked)
        assert len({s.suggestion_id for s in asked}) == len(asked)

    def test_forget_drops_the_outstanding_suggestion(self):
        searcher = self.make_searcher(self.space(), seed=4)
        s = searcher.suggest()
        searcher.forget(s.suggestion_id)
        assert s.suggestion_id not in searcher.outstanding

    def test_bad_observations_are_rejected_with_a_named_value(self):
        searcher = self.make_searcher(self.space(), seed=5)
        s = searcher.suggest()
        with pytest.raises(InputError, match="cost"):
            searcher.observe(Observation(s.config, 1.0, -3.0, "completed"))
        with pytest.raises(InputError, match="status"):
            searcher.observe(Observation(s.config, 1.0, 1.0, "exploded"))
        with pytest.raises(InputError, match="lr"):
            searcher.observe(Observation({"batch_size": 8, "dropout": 0.1}, 1.0, 1.0))
