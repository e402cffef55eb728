"""A tiny real Ray Tune experiment driven by AskTellSearch over CARBS on a loopback-only local Ray."""

import math

import pytest

ray = pytest.importorskip("ray")
from ray import tune  # noqa: E402

from tunescale.search.carbs import Carbs, CarbsConfig  # noqa: E402
from tunescale.search.ray_adapter import AskTellSearch  # noqa: E402
from tunescale.search.space import LinearParam, LogParam, Space  # noqa: E402


def trainable(config):
    if config["lr"] > 0.05:
        raise RuntimeError("diverged on purpose: lr too high")
    loss = (math.log(config["lr"]) - math.log(1e-2)) ** 2 + 10.0 / config["width"]
    tune.report({"loss": loss, "flops": 6.0 * config["width"] ** 2 * 1000, "seed": config["seed"]})


def test_carbs_search_runs_a_real_tune_experiment(local_ray, tmp_path):
    space = Space([LogParam("lr", 1e-3, min=1e-4, max=0.2),
                   LinearParam("width", 64, scale=32, min=16, max=256, is_integer=True, rounding_factor=16)])
    search = AskTellSearch(Carbs(space, config=CarbsConfig(n_sobol=2, n_candidates_per_dim=20)),
                           metric="loss", mode="min", cost_attr="flops", seed_key="seed")
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=tune.search.ConcurrencyLimiter(search, max_concurrent=2),
                                    num_samples=6, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="carbs", verbose=0,
                                  failure_config=tune.FailureConfig(fail_fast=False)),
    )
    results = tuner.fit()
    assert len(results) == 6
    observations = search.ask_tell.observations
    assert len(observations) == 6 and not search.ask_tell.outstanding
    completed = [o for o in observations if o.status == "completed"]
    assert completed and all(o.cost == 6.0 * o.config["width"] ** 2 * 1000 for o in completed)
    assert {o.status for o in observations} <= {"completed", "failed"}
    configs = {(o.config["lr"], o.config["width"]) for o in observations}
    assert len(configs) == 6
    search.save(str(tmp_path / "carbs.json"))
    restored = AskTellSearch(Carbs(space), metric="loss", mode="min")
    restored.restore(str(tmp_path / "carbs.json"))
    assert len(restored.ask_tell.observations) == 6
    from_state = AskTellSearch()
    from_state.set_state(search.get_state())
    assert from_state.ask_tell.state_dict() == search.ask_tell.state_dict()


def test_carbs_search_observes_a_stopped_trial_as_pruned_unless_it_reached_its_end():
    space = Space([LogParam("lr", 1e-3, min=1e-4, max=0.2)])
    search = AskTellSearch(Carbs(space, config=CarbsConfig(n_sobol=2, n_candidates_per_dim=20)),
                           metric="loss", mode="min", cost_attr="flops", fraction_attr="fraction")
    for i in range(4):  # finished trials that fell by 1.0 from 40% of their run
        config = search.suggest(f"done{i}")
        final = (math.log(config["lr"]) - math.log(1e-2)) ** 2
        assert not search.stops(f"done{i}", {"fraction": 0.4, "loss": final + 1.0, "flops": 40.0})
        search.on_trial_complete(f"done{i}", {"loss": final, "flops": 100.0})
    best = min(o.output for o in search.ask_tell.observations)
    for trial_id, end in (("stopped", {"fraction": 0.4, "loss": best + 5.0, "flops": 40.0}),
                          ("finished anyway", {"loss": best + 4.0, "flops": 100.0})):
        search.suggest(trial_id)
        assert search.stops(trial_id, {"fraction": 0.4, "loss": best + 5.0, "flops": 40.0})
        assert not search.stops(trial_id, {"loss": best + 5.0, "flops": 40.0})  # no fraction: not a report
        search.on_trial_complete(trial_id, end)
    *_, stopped, finished = search.ask_tell.observations
    assert (stopped.status, stopped.output, stopped.cost) == ("pruned", None, 40.0)
    assert (finished.status, finished.output) == ("completed", best + 4.0)
