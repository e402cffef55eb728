"""The same runs made three ways fit to the same laws: a `tunescale sweep`, a Ray Tune experiment
and an Optuna study, the last two read by `fit-scaling` directly from where those tools keep them."""

from __future__ import annotations

import json

import optuna
import pytest

from tests.conftest import run_main
from tunescale.cli.fit_scaling import main as fit_scaling
from tunescale.contract.store import read_trials
from tunescale.sweep.engine import run_sweep
from tunescale.sweep.spec import parse_spec
from tunescale.trials.synthetic import quadratic_trial

WIDTHS = [16, 24, 32, 48]
LRS = {"type": "log", "low": 10**-3.5, "high": 10**-1.5, "num": 5}  # the bowl's optimum is 10**-2.5
TOKENS, BATCH = 1600, 16
CONFIG_KEYS = ("width", "depth", "lr")
FIT = ("--bootstrap", "40", "--no-validate", "--json")


def ray_trainable(config):
    """A Ray Tune user's function trainable around the same synthetic run: it reports every evaluation."""
    from ray import tune

    evals = []
    outcome = quadratic_trial(config, on_eval=evals.append)
    for e in evals:
        tune.report({"val_loss": e["eval_loss"], "tokens": e["tokens"], "n_params": outcome.row["params"]})


def optuna_objective(trial: optuna.Trial) -> float:
    """An Optuna user's objective around the same synthetic run: scale columns in user attrs."""
    config = {"width": trial.suggest_categorical("width", WIDTHS), "depth": trial.suggest_int("depth", 1, 4),
              "lr": trial.suggest_float("lr", 1e-4, 1.0, log=True), "batch_size": BATCH, "tokens": TOKENS}
    evals = []
    outcome = quadratic_trial(config, on_eval=evals.append)
    for step, e in enumerate(evals, 1):
        trial.report(e["eval_loss"], step)
    trial.set_user_attr("params", outcome.row["params"])
    trial.set_user_attr("tokens", outcome.row["tokens"])
    return outcome.row["loss"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory, local_ray):
    """The runs as `tunescale sweep` makes them: 4 widths x 5 learning rates of the synthetic trainable."""
    storage = tmp_path_factory.mktemp("sweep") / "runs"
    spec = parse_spec({"name": "bowl", "algorithm": "grid", "trainable": "tunescale.trials.synthetic:quadratic_trial",
                       "storage": str(storage), "concurrency": 2, "model": {"widths": WIDTHS},
                       "budget": {"tokens": TOKENS}, "space": {"lr": LRS}, "fixed": {"batch_size": BATCH}})
    run_sweep(spec, out=None)
    rows = read_trials(storage, validated=True)
    assert set(rows["status"]) == {"completed"} and len(rows) == len(WIDTHS) * LRS["num"]
    configs = [{k: (float(v) if k == "lr" else int(v)) for k, v in r.items()}
               for r in rows[list(CONFIG_KEYS)].to_dict("records")]
    return storage, configs


def _laws(*args) -> dict:
    run = run_main(fit_scaling, *args, *FIT)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    return {k: doc[k] for k in ("method", "optima", "hp_laws", "loss_law")} | {"rows": doc["input"]["rows_used"]}


def test_a_ray_tune_experiment_fits_as_the_same_runs_made_by_tunescale_sweep(swept, tmp_path):
    from ray import tune
    from ray.tune.search import BasicVariantGenerator

    storage, configs = swept
    tune.Tuner(
        ray_trainable,
        param_space={"width": tune.choice(WIDTHS), "lr": tune.loguniform(1e-4, 1.0), "depth": tune.choice([2]),
                     "batch_size": BATCH, "tokens": TOKENS},
        tune_config=tune.TuneConfig(num_samples=len(configs), search_alg=BasicVariantGenerator(
            points_to_evaluate=configs)),
        run_config=tune.RunConfig(name="bowl", storage_path=str(tmp_path), verbose=0),
    ).fit()
    imported = _laws(tmp_path / "bowl", "--params-col", "n_params", "--loss-col", "val_loss")
    assert imported == _laws(storage)


def test_an_optuna_study_fits_as_the_same_runs_made_by_tunescale_sweep(swept, tmp_path):
    storage, configs = swept
    db = tmp_path / "optuna.db"
    study = optuna.create_study(storage=f"sqlite:///{db}", study_name="bowl")
    for c in configs:
        study.enqueue_trial(c)
    study.optimize(optuna_objective, n_trials=len(configs))
    imported = _laws(db)  # a SQLite file's path names an Optuna storage
    assert imported == _laws(storage)
