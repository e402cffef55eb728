"""`replay`: a fresh searcher told trials it did not suggest continues their search."""

import torch

from tunescale.search.base import Observation
from tunescale.search.carbs import Carbs, CarbsConfig
from tunescale.search.optuna_search import OptunaSearch
from tunescale.search.replay import replay
from tunescale.search.space import LogParam, Space

torch.set_num_threads(1)
SPACE = Space([LogParam("lr", 1e-3, min=1e-5, max=1.0)])
STORED = [
    Observation({"lr": 1e-3}, 2.0, 100.0, suggestion_id="a"),
    Observation({"lr": 1e-2}, None, 40.0, "pruned", suggestion_id="b"),
    Observation({"lr": 3e-2}, None, 60.0, "pruned", suggestion_id="c"),  # stopped, no curve kept
    Observation({"lr": 0.5}, None, None, "diverged", suggestion_id="d"),
]
REPORTS = {"a": [(0.5, 2.5, 50.0), (1.0, 2.0, 100.0)], "b": [(0.4, 3.0, 40.0)]}


def test_replay_gives_carbs_the_reports_and_leaves_out_a_stopped_trial_without_them():
    carbs = Carbs(SPACE, config=CarbsConfig(n_sobol=2, n_candidates_per_dim=20))
    replay(carbs, STORED, REPORTS)
    assert [(o.suggestion_id, o.status) for o in carbs.observations] == [
        ("a", "completed"), ("b", "pruned"), ("d", "diverged")]
    assert carbs.progress == {"a": REPORTS["a"], "b": REPORTS["b"]}
    assert not carbs.outstanding and carbs.suggest().config["lr"] > 0


def test_replay_tells_optuna_every_stored_trial_and_its_next_asks_are_new():
    optuna_search = OptunaSearch(SPACE, seed=0)
    replay(optuna_search, STORED, REPORTS)
    assert [o.status for o in optuna_search.observations] == ["completed", "pruned", "pruned", "diverged"]
    states = [t.state.name for t in optuna_search._study_now().trials]
    assert states == ["COMPLETE", "PRUNED", "PRUNED", "FAIL"]
    asked = optuna_search.suggest()
    assert asked.config["lr"] not in {o.config["lr"] for o in STORED}
