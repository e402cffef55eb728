"""A real Optuna SQLite study imported into the store fits as the same runs written directly;
a store exported to Optuna and imported back is the same store."""

from __future__ import annotations

import optuna
import pytest

from tests.sweep.scaling_runs import curve, fit_summary, grid, write_direct
from tunescale.contract.errors import InputError
from tunescale.contract.store import TrialStore, read_curves, read_trials
from tunescale.sweep.export_optuna import export_optuna
from tunescale.sweep.import_optuna import import_optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
PRUNE_LR, FAIL_LR = 7.0, 9.0


def objective(trial: optuna.Trial) -> float:
    """Define-by-run, as an Optuna user writes it: scale columns in user attrs."""
    config = {"lr": trial.suggest_float("lr", 1e-5, 10.0, log=True),
              "batch_size": trial.suggest_int("batch_size", 16, 64, log=True),
              "weight_decay": trial.suggest_float("weight_decay", 0.0, 0.2)}
    trial.set_user_attr("params", trial.suggest_int("n", 10_000, 10**8, log=True))
    trial.set_user_attr("tokens", 20.0 * trial.user_attrs["params"])
    trial.set_user_attr("gpu", "none")
    if config["lr"] == FAIL_LR:
        raise RuntimeError("out of memory")
    losses = curve({**config, **trial.user_attrs})
    for step, loss in enumerate(losses, 1):
        trial.report(loss, step)
        if config["lr"] == PRUNE_LR:
            raise optuna.TrialPruned()
    return losses[-1]


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> str:
    """15 grid runs, one pruned after its first report, one failed, in a SQLite study."""
    url = f"sqlite:///{tmp_path_factory.mktemp('optuna') / 'study.db'}"
    study = optuna.create_study(storage=url, study_name="lr_grid")
    for c in grid():
        study.enqueue_trial({"lr": c["lr"], "batch_size": c["batch_size"], "weight_decay": c["weight_decay"],
                             "n": c["params"]})
    for lr in (PRUNE_LR, FAIL_LR):
        study.enqueue_trial({"lr": lr, "batch_size": 32, "weight_decay": 0.1, "n": 1000})
    study.optimize(objective, n_trials=17, catch=(RuntimeError,))
    return url


def test_import_round_trip_fits_the_same_laws(storage, tmp_path):
    summary = import_optuna(storage, "lr_grid", tmp_path / "imported")
    assert summary.summary()["statuses"] == {"completed": 15, "pruned": 1, "failed": 1}
    assert summary.notes == ["user attrs gpu are kept by no column: Optuna records no step for them, so they are "
                             "no curve either; map one to a trial column with --COLUMN-col NAME to keep it"]
    write_direct(tmp_path / "direct", "lr_grid")
    imported, direct = fit_summary(tmp_path / "imported"), fit_summary(tmp_path / "direct")
    assert imported["input"]["dropped"] == {"status pruned": 1, "status failed": 1}
    imported["input"]["rows_in_file"] -= 2
    imported["input"]["dropped"] = {}
    assert imported == direct


def test_states_reasons_and_intermediate_values(storage, tmp_path):
    import_optuna(storage, "lr_grid", tmp_path)
    rows = read_trials(tmp_path).set_index("trial_id")
    pruned, failed = rows.loc["optuna-00015"], rows.loc["optuna-00016"]
    assert (pruned["status"], pruned["lr"], pruned["params"]) == ("pruned", PRUNE_LR, 1000)
    assert pruned["loss"] == pytest.approx(curve({"lr": PRUNE_LR, "params": 1000, "tokens": 2e4})[0])
    assert failed["status"] == "failed" and "FAIL" in failed["hp_reason"]
    assert rows.loc["optuna-00000", "hp_n"] == 100_000  # a param with no column of its own
    curves = read_curves(tmp_path)
    assert len(curves[curves["trial_id"] == "optuna-00000"]) == 3
    assert len(curves[curves["trial_id"] == "optuna-00015"]) == 1


def test_missing_study_names_the_ones_there(storage, tmp_path):
    with pytest.raises(InputError, match="no study named 'lr_gird'.*lr_grid"):
        import_optuna(storage, "lr_gird", tmp_path)


def test_export_then_import_gives_the_same_store(tmp_path):
    store = TrialStore(tmp_path / "store")
    for i, c in enumerate(grid()):
        store.write({"trial_id": f"t{i:02d}", "sweep": "s", "status": "completed", **c, "loss": curve(c)[-1],
                     "width": 64, "parametrization": "mup", "hp_schedule": "cosine"},
                    [{"step": k, "tokens": c["tokens"] * k / 3, "metric": "eval_loss", "value": v}
                     for k, v in enumerate(curve(c), 1)])
    base = {"sweep": "s", "params": 1000, "tokens": 2e4, "lr": 1.0, "batch_size": 32, "weight_decay": 0.1,
            "width": 64, "parametrization": "mup", "hp_schedule": "wsd"}
    store.write({**base, "trial_id": "nan", "status": "diverged", "loss": float("nan")})
    store.write({**base, "trial_id": "oom", "status": "failed", "hp_reason": "CUDA out of memory"})
    store.write({**base, "trial_id": "cut", "status": "pruned", "loss": 4.0},
                [{"step": 1, "tokens": 1e4, "metric": "eval_loss", "value": 4.0}])
    url = f"sqlite:///{tmp_path / 'out.db'}"

    assert export_optuna(tmp_path / "store", url, "s") == 18
    study = optuna.load_study(study_name="s", storage=url)
    assert study.best_trial.user_attrs["trial_id"] == "t12"  # the optimum lr of the largest scale
    assert isinstance(study.best_trial.distributions["lr"], optuna.distributions.FloatDistribution)
    assert study.best_trial.distributions["lr"].log

    import_optuna(url, "s", tmp_path / "back")
    columns = ["trial_id", "sweep", "status", "params", "tokens", "flops", "width", "parametrization", "lr",
               "batch_size", "weight_decay", "loss", "hp_schedule", "hp_reason"]
    before = read_trials(tmp_path / "store")[columns].sort_values("trial_id").reset_index(drop=True)
    after = read_trials(tmp_path / "back")[columns].sort_values("trial_id").reset_index(drop=True)
    assert after.loc[after["trial_id"] == "nan", "loss"].isna().all()
    assert before.drop(columns="loss").equals(after.drop(columns="loss"))
    done = before["status"].isin(["completed", "pruned"])
    assert after.loc[done, "loss"].tolist() == pytest.approx(before.loc[done, "loss"].tolist())
    assert fit_summary(tmp_path / "store") | {"input": None} == fit_summary(tmp_path / "back") | {"input": None}

    with pytest.raises(InputError, match="exists already"):
        export_optuna(tmp_path / "store", url, "s")


def test_fit_scaling_reads_an_optuna_storage_and_asks_which_study_when_it_holds_several(storage, tmp_path):
    from tests.conftest import run_main
    from tunescale.cli.fit_scaling import main as fit_scaling

    one = run_main(fit_scaling, storage, "--bootstrap", "20", "--no-validate")
    assert one.returncode == 0, one.stderr
    assert f"read 17 trials of the Optuna study 'lr_grid' in {storage}" in one.stdout
    optuna.create_study(storage=storage, study_name="other")
    several = run_main(fit_scaling, storage, "--bootstrap", "20")
    assert several.returncode == 2 and several.stderr.count("\n") == 1
    assert "holds 2 studies (lr_grid, other); name one with --study NAME" in several.stderr
    empty = run_main(fit_scaling, storage, "--study", "other")
    assert empty.returncode == 2 and "has no finished trial" in empty.stderr
    assert run_main(fit_scaling, storage, "--study", "lr_grid", "--bootstrap", "20").returncode == 0
