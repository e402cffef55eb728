"""CarbsSampler at Optuna's level: the searcher contract where it applies (suggestions in the
space, failures and NaN objectives never stop the search, concurrent asks differ, same seed
same suggestions), log spaces, and the one-line switch."""

from __future__ import annotations

import math
import warnings

import optuna
import pytest
import torch
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from tunescale.contract.errors import InputError
from tunescale.search.carbs import CarbsConfig
from tunescale.search.optuna_sampler import CarbsSampler, from_optuna
from tunescale.search.space import ChoiceParam, FixedParam, LinearParam, LogParam, OrderedParam
from tunescale.search.space_convert import to_optuna

torch.set_num_threads(1)
optuna.logging.set_verbosity(optuna.logging.ERROR)
FAST = CarbsConfig(n_sobol=2, n_candidates_per_dim=30)  # the contract does not depend on these
N_TRIALS = 6


def objective(trial: optuna.Trial) -> float:
    """A bowl in (log lr, batch size); every third trial returns NaN, as a diverged run."""
    lr = trial.suggest_float("lr", 1e-5, 1.0, log=True)
    batch_size = trial.suggest_int("batch_size", 8, 512, step=8)
    width = trial.suggest_int("width", 16, 1024, log=True)
    trial.suggest_categorical("optimizer", ["adamw"])
    trial.set_user_attr("flops", 6.0 * width * batch_size)
    if trial.number % 3 == 2:
        return float("nan")
    return (math.log(lr) - math.log(3e-3)) ** 2 + (batch_size / 128 - 1) ** 2 + 30 / width


def run(seed: int, n: int = N_TRIALS) -> optuna.Study:
    study = optuna.create_study(sampler=CarbsSampler(cost_attr="flops", seed=seed, config=FAST))
    study.optimize(objective, n_trials=n)
    return study


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    return run(seed=0)


def test_suggestions_lie_in_the_space_and_nan_objectives_never_stop_it(study):
    assert len(study.trials) == N_TRIALS
    assert [t.state for t in study.trials].count(optuna.trial.TrialState.FAIL) == N_TRIALS // 3
    for t in study.trials:
        p = t.params
        assert 1e-5 <= p["lr"] <= 1.0
        assert 8 <= p["batch_size"] <= 512 and p["batch_size"] % 8 == 0 and isinstance(p["batch_size"], int)
        assert 16 <= p["width"] <= 1024 and isinstance(p["width"], int)
        assert p["optimizer"] == "adamw"


def test_same_seed_same_suggestions(study):
    again = run(seed=0)
    assert [t.params for t in again.trials] == [t.params for t in study.trials]


def test_raised_objectives_are_failures_the_search_survives():
    def flaky(trial):
        x = trial.suggest_float("x", 1e-3, 1e3, log=True)
        trial.set_user_attr("flops", 1.0)
        if trial.number == 1:
            raise RuntimeError("worker lost")
        return math.log(x) ** 2

    study = optuna.create_study(sampler=CarbsSampler(cost_attr="flops", config=FAST))
    study.optimize(flaky, n_trials=4, catch=(RuntimeError,))
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]


def test_concurrent_asks_are_distinct():
    dists = {"lr": FloatDistribution(1e-5, 1.0, log=True), "batch_size": IntDistribution(8, 512, step=8)}
    sampler = CarbsSampler(cost_attr=lambda t: float(t.params["batch_size"]), config=FAST, search_space=dists)
    study = optuna.create_study(sampler=sampler)
    asked = [study.ask(dists) for _ in range(4)]
    assert len({tuple(sorted(t.params.items())) for t in asked}) == 4
    # a space given up front is searched from the first trial on, from the centre of the log range
    assert asked[0].params["lr"] == pytest.approx(math.sqrt(1e-5), rel=1e-6)
    study.tell(asked[0], 1.0)  # the cost callable is read on the finished trial


def test_a_completed_trial_without_its_cost_is_an_error_naming_the_attr():
    study = optuna.create_study(sampler=CarbsSampler(cost_attr="flops", config=FAST))
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0) + 1.0, n_trials=1)  # first trial: independent
    with pytest.raises(InputError, match="user attr 'flops'"):
        study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0) + 1.0, n_trials=1)


def test_categoricals_are_searched_by_carbs_without_a_fallback():
    def objective_with_choice(trial):
        trial.set_user_attr("flops", float(trial.suggest_categorical("width", [64, 16, 32])))
        act = trial.suggest_categorical("act", ["relu", "gelu"])
        return trial.suggest_float("x", -1.0, 1.0) ** 2 + (act == "relu")

    study = optuna.create_study(sampler=CarbsSampler(cost_attr="flops", config=FAST))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "sampled at random" fallback
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        study.optimize(objective_with_choice, n_trials=5)
    assert all(t.params["act"] in ("relu", "gelu") and t.params["width"] in (16, 32, 64) for t in study.trials)


def test_from_optuna_maps_log_linear_int_and_constants():
    space = from_optuna({"lr": FloatDistribution(1e-4, 1e-2, log=True), "wd": FloatDistribution(0.0, 0.4),
                         "bs": IntDistribution(16, 256, step=16), "opt": CategoricalDistribution(["adamw"])})
    lr, wd, bs = space.searched
    assert isinstance(lr, LogParam) and lr.search_center == pytest.approx(1e-3) and lr.scale == pytest.approx(
        math.log(10))
    assert isinstance(wd, LinearParam) and wd.search_center == pytest.approx(0.2) and wd.scale == pytest.approx(0.1)
    assert bs.is_integer and bs.rounding_factor == 16
    assert space.fixed == (FixedParam("opt", "adamw"),)
    with pytest.raises(InputError, match="'q'.*cannot be searched by CARBS"):
        from_optuna({"q": FloatDistribution(0.0, 1.0, step=0.1)})


def test_from_optuna_maps_categoricals_to_choices_and_numbers_to_ordered_values():
    space = from_optuna({"act": CategoricalDistribution(["relu", "gelu"]),
                         "width": CategoricalDistribution([64, 16, 32]), "wd": CategoricalDistribution([0.0, 0.1])})
    act, width, wd = space.searched
    assert act == ChoiceParam("act", ("relu", "gelu"))
    assert isinstance(width, OrderedParam) and width.values == (16, 32, 64) and width.log
    assert isinstance(wd, OrderedParam) and not wd.log  # 0.0 has no log
    assert from_optuna(to_optuna(space)).to_dict() == space.to_dict()  # round trip
