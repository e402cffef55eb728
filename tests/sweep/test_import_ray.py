"""A real Ray Tune experiment imported into the store fits as the same runs written directly."""

from __future__ import annotations

import pytest

from tests.sweep.scaling_runs import curve, fit_summary, grid, write_direct
from tunescale.contract.errors import InputError
from tunescale.contract.store import read_curves, read_trials
from tunescale.scaling.columns import ColumnMap
from tunescale.sweep.import_ray import import_ray_tune

MAPPING = ColumnMap(params="n_params", loss="val_loss")
BAD_LR = 5.0  # the trainable raises for this one


def trainable(config):
    from ray import tune

    if config["lr"] == BAD_LR:
        raise RuntimeError(f"lr {BAD_LR} blew up")
    for k, loss in enumerate(curve({**config, "params": config["n_params"]}), 1):
        tune.report({"val_loss": loss, "tokens": config["tokens"] * k / 3, "val_accuracy": 1 / (1 + loss)})


@pytest.fixture(scope="module")
def experiment(local_ray, tmp_path_factory):
    """15 grid runs and one that raises, as a Tune user would run them (config key n_params)."""
    from ray import tune
    from ray.tune.search import BasicVariantGenerator

    points = [{"n_params": c.pop("params"), **c} for c in grid()]
    points.append({"n_params": 1000, "tokens": 2e4, "lr": BAD_LR})
    space = {"n_params": tune.choice([1000]), "tokens": tune.uniform(1, 2), "lr": tune.loguniform(1e-6, 10),
             "batch_size": 32, "weight_decay": 0.1}
    storage = tmp_path_factory.mktemp("ray_results")
    tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(num_samples=len(points), reuse_actors=True,
                                    search_alg=BasicVariantGenerator(points_to_evaluate=points)),
        run_config=tune.RunConfig(name="lr_grid", storage_path=str(storage), verbose=0),
    ).fit()
    return storage / "lr_grid"


def test_import_round_trip_fits_the_same_laws(experiment, tmp_path):
    summary = import_ray_tune(experiment, tmp_path / "imported", MAPPING)
    assert summary.summary()["statuses"] == {"completed": 15, "failed": 1}
    assert summary.sweep == "lr_grid"
    write_direct(tmp_path / "direct", "lr_grid")
    imported, direct = fit_summary(tmp_path / "imported"), fit_summary(tmp_path / "direct")
    assert imported["input"]["dropped"] == {"status failed": 1}
    imported["input"]["rows_in_file"] -= 1
    imported["input"]["dropped"] = {}
    assert imported == direct


def test_errored_trial_is_failed_with_ray_text_reason_and_curves_are_kept(experiment, tmp_path):
    import_ray_tune(experiment, tmp_path, MAPPING, sweep_name="renamed")
    rows = read_trials(tmp_path)
    assert set(rows["sweep"]) == {"renamed"}
    failed = rows[rows["status"] == "failed"].iloc[0]
    assert failed["hp_reason"] == f"Ray Tune trial errored: RuntimeError: lr {BAD_LR} blew up"
    assert failed["params"] == 1000 and failed["lr"] == BAD_LR
    curves = read_curves(tmp_path)
    done = rows[rows["status"] == "completed"]
    assert set(curves["trial_id"]) == set(done["trial_id"])
    one = curves[curves["trial_id"] == done["trial_id"].iloc[0]].sort_values("step")
    # every number the trial reported is a curve, the loss under the store's name; Ray's bookkeeping is not
    assert set(curves["metric"]) == {"eval_loss", "val_accuracy"}
    loss = one[one["metric"] == "eval_loss"]
    assert list(loss["step"]) == [1, 2, 3]
    assert loss["value"].iloc[-1] == pytest.approx(done["loss"].iloc[0])
    assert loss["tokens"].iloc[-1] == pytest.approx(done["tokens"].iloc[0])
    accuracy = one[one["metric"] == "val_accuracy"]
    assert list(accuracy["step"]) == [1, 2, 3]
    assert accuracy["value"].to_numpy() == pytest.approx(1 / (1 + loss["value"].to_numpy()))


def test_mapping_to_a_missing_name_says_which_is_close(experiment, tmp_path):
    with pytest.raises(InputError, match="val_los.*did you mean 'val_loss'"):
        import_ray_tune(experiment, tmp_path, ColumnMap(params="n_params", loss="val_los"))


def test_unmapped_params_is_an_error_naming_the_option(experiment, tmp_path):
    with pytest.raises(InputError, match="without a 'params' value.*--params-col"):
        import_ray_tune(experiment, tmp_path, ColumnMap(loss="val_loss"))


def test_a_directory_that_is_no_experiment_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not a Ray Tune experiment"):
        import_ray_tune(tmp_path, tmp_path / "store")


def budgeted_trainable(config):
    """Reports the tokens trained so far; a run that reaches its configured `tokens` finished."""
    from ray import tune

    for k in range(1, 9):
        tune.report({"loss": config["x"] + 1.0 / k, "tokens": config.get("tokens", 8000) * k / 8, "params": 1000})


def _asha_experiment(storage, config: dict):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    tune.Tuner(
        budgeted_trainable,
        param_space={"x": tune.grid_search([0.0, 1.0, 2.0, 3.0]), "lr": 1e-3, **config},
        tune_config=tune.TuneConfig(metric="loss", mode="min",
                                    scheduler=ASHAScheduler(max_t=8, grace_period=1, reduction_factor=2)),
        run_config=tune.RunConfig(name="asha", storage_path=str(storage), verbose=0),
    ).fit()
    return storage / "asha"


def test_trials_a_scheduler_stopped_short_of_their_token_budget_are_pruned(local_ray, tmp_path):
    experiment = _asha_experiment(tmp_path, {"tokens": 8000.0})
    summary = import_ray_tune(experiment, tmp_path / "store")
    rows = read_trials(tmp_path / "store")
    stopped = rows[rows["tokens"] < 8000]
    assert len(stopped) >= 1 and set(stopped["status"]) == {"pruned"}
    assert stopped["hp_reason"].str.startswith("stopped early: reached").all()
    assert set(rows[rows["tokens"] == 8000]["status"]) == {"completed"}
    assert summary.statuses["pruned"] == len(stopped) and summary.notes == []


def test_without_a_token_budget_the_summary_says_how_to_mark_stopped_trials(local_ray, tmp_path):
    experiment = _asha_experiment(tmp_path, {})
    summary = import_ray_tune(experiment, tmp_path / "store")
    assert summary.statuses == {"completed": 4}
    assert "--full-iterations 8" in summary.notes[0]
    again = import_ray_tune(experiment, tmp_path / "again", full_iterations=8)
    rows = read_trials(tmp_path / "again")
    assert summary.statuses["completed"] > again.statuses["completed"] >= 1
    assert set(rows[rows["status"] == "pruned"]["hp_reason"].str[:30]) == {"stopped early: 1 of 8 training"}
