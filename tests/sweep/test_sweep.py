"""Real sweeps on a real local Ray (shared per session): store rows, resume, retries."""

import io

import pytest

from tunescale.contract.store import TrialStore, read_curves, read_trials
from tunescale.search.replay import replay
from tunescale.search.space import ChoiceParam, OrderedParam
from tunescale.sweep.engine import run_sweep
from tunescale.sweep.plan import plan
from tunescale.sweep.searchers import (
    make_searcher,
    search_space,
    stored_observations,
    stored_reports,
)
from tunescale.sweep.spec import SpecError, parse_spec


def _spec(tmp_path, **over):
    raw = {
        "name": "t",
        "algorithm": "grid",
        "trainable": "tunescale.trials.synthetic:quadratic_trial",
        "storage": str(tmp_path / "run"),
        "concurrency": 2,
        "max_retries": 1,
        "model": {"widths": [16, 32]},
        "budget": {"steps": 10},
        "space": {"lr": {"type": "log", "low": 1e-3, "high": 3e-3, "num": 2}},
    }
    raw.update(over)
    return parse_spec(raw)


def _dying_spec(tmp_path, lrs, die_times, **over):
    """A sweep of `sweep_faults.dying_trial`: each lr kills its worker on its first `die_times` attempts."""
    return _spec(
        tmp_path,
        trainable="tests.sweep.sweep_faults:dying_trial",
        model={"widths": 16},
        space={"lr": {"type": "choice", "values": lrs}},
        fixed={"hp_die_dir": str(tmp_path / "attempts"), "hp_die_times": die_times},
        **over,
    )


def test_local_sweep_writes_every_trial_to_the_store_and_resume_runs_none(tmp_path, local_ray):
    spec = _spec(tmp_path)
    result = run_sweep(spec, out=None)
    df = read_trials(spec.storage, validated=True)
    assert sorted(df["trial_id"]) == sorted(t.trial_id for t in plan(spec))
    assert set(df["status"]) == {"completed"} and set(df["width"]) == {16, 32}
    assert result.statuses == {"completed": 4} and result.best["lr"] == pytest.approx(3e-3)
    assert set(read_curves(spec.storage)["trial_id"]) == set(df["trial_id"])
    again = run_sweep(spec, resume=True, out=None)
    assert again.ran == 0 and again.resumed == 4


def test_batched_mode_runs_the_same_plan(tmp_path, local_ray):
    spec = _spec(tmp_path, trials_per_task=3, space={"lr": {"type": "log", "low": 1e-3, "high": 1e-1, "num": 4}})
    run_sweep(spec, out=None)
    df = read_trials(spec.storage, validated=True)
    assert sorted(df["trial_id"]) == sorted(t.trial_id for t in plan(spec))


def test_killed_worker_is_retried_then_recorded(tmp_path, local_ray):
    # Each trial SIGKILLs its worker on the first attempt; the retry completes it.
    spec = _dying_spec(tmp_path, [1e-3, 1e-2], 1, max_retries=1)
    run_sweep(spec, out=None)
    df = read_trials(spec.storage, validated=True).set_index("lr")
    assert set(df["status"]) == {"completed"} and len(df) == 2
    assert len(list((tmp_path / "attempts" / "0.001").iterdir())) == 2


def test_worker_dying_past_max_retries_is_recorded_failed(tmp_path, local_ray):
    spec = _dying_spec(tmp_path, [1e-2], 99, max_retries=1)
    run_sweep(spec, out=None)
    df = read_trials(spec.storage, validated=True)
    assert list(df["status"]) == ["failed"]
    assert "worker failed" in df["hp_reason"][0]
    assert len(list((tmp_path / "attempts" / "0.01").iterdir())) == 2


def test_batched_progress_counts_the_trials_a_retried_task_had_already_stored(tmp_path, local_ray):
    # Every trial kills its worker once: the chunk's retries skip the trials stored by
    # attempts before them, and the progress line must still count those.
    spec = _dying_spec(tmp_path, [1e-3, 1e-2], 1, trials_per_task=2, max_retries=2)
    out = io.StringIO()
    run_sweep(spec, out=out)
    assert set(read_trials(spec.storage, validated=True)["status"]) == {"completed"}
    assert out.getvalue().splitlines()[-1].startswith("[t] 2/2 done · 0 running · 0 failed")


def test_batched_progress_counts_the_stored_trials_of_a_task_that_failed(tmp_path, local_ray):
    # No retries. lr 1e-3 has an attempt on record, so it completes; 1e-2 then kills the
    # task (recorded failed) and 1e-1 dies in a fresh one. The completed trial was only
    # in the failed task, and the progress line must still count it.
    (tmp_path / "attempts" / "0.001").mkdir(parents=True)
    (tmp_path / "attempts" / "0.001" / "earlier").touch()
    spec = _dying_spec(tmp_path, [1e-3, 1e-2, 1e-1], 1, trials_per_task=3, max_retries=0)
    out = io.StringIO()
    run_sweep(spec, out=out)
    df = read_trials(spec.storage, validated=True).set_index("lr")
    assert df["status"].to_dict() == {1e-3: "completed", 1e-2: "failed", 1e-1: "failed"}
    assert out.getvalue().splitlines()[-1].startswith("[t] 3/3 done · 0 running · 2 failed")


def test_optuna_with_asha_stores_pruned_rows_and_resume_adds_new_trials(tmp_path, local_ray):
    over = dict(algorithm="optuna", num_samples=4, model={"widths": 16},
                space={"lr": {"type": "log", "low": 1e-4, "high": 1e-1}},
                scheduler={"type": "asha", "grace_period": 2, "reduction_factor": 2})
    spec = _spec(tmp_path, **over)
    run_sweep(spec, out=None)
    first = read_trials(spec.storage, validated=True)
    assert len(first) == 4 and set(first["status"]) <= {"completed", "pruned"}
    assert "completed" in set(first["status"])
    run_sweep(_spec(tmp_path, **{**over, "num_samples": 6}), resume=True, out=None)
    ids = list(read_trials(spec.storage, validated=True)["trial_id"])
    assert len(ids) == len(set(ids)) == 6 and set(first["trial_id"]) <= set(ids)


def _replayed(spec, rows):
    """The searcher a resume of `spec` builds, told the stored `rows` as the sweep tells it."""
    searcher = make_searcher(spec, spec.seed + len(rows))
    reports = stored_reports(TrialStore(spec.storage), rows, "step", spec.budget)
    replay(searcher, stored_observations(spec, rows), reports)
    return searcher


def test_carbs_sweep_stores_its_trials_and_resume_feeds_them_back(tmp_path, local_ray):
    over = dict(
        algorithm="carbs", num_samples=3, model={"widths": 16}, space={"lr": {"type": "log", "low": 1e-4, "high": 1e-1}}
    )
    spec = _spec(tmp_path, **over)
    result = run_sweep(spec, out=None)
    first = read_trials(spec.storage, validated=True)
    assert len(first) == 3 and set(first["status"]) == {"completed"}
    assert first["lr"].between(1e-4, 1e-1).all() and first["lr"].nunique() == 3
    assert (first["flops"] > 0).all() and result.best["loss"] == first["loss"].min()
    carbs = _replayed(spec, first.to_dict("records"))
    assert len(carbs.observations) == 3 and not carbs.outstanding
    resumed = run_sweep(_spec(tmp_path, **{**over, "num_samples": 5}), resume=True, out=None)
    ids = list(read_trials(spec.storage, validated=True)["trial_id"])
    assert resumed.resumed == 3 and resumed.ran == 2
    assert len(ids) == len(set(ids)) == 5 and set(first["trial_id"]) <= set(ids)


def test_carbs_sweep_stops_the_trials_that_cannot_beat_its_best(tmp_path, local_ray):
    # The synthetic curves all fall alike, so once three trials have finished CARBS can
    # forecast a trial's final loss from its first evaluation, and it stops those that
    # cannot beat the best (every trial of a sweep shape costs the same).
    spec = _spec(
        tmp_path,
        algorithm="carbs",
        num_samples=10,
        concurrency=1,
        model={"widths": 16},
        space={"lr": {"type": "log", "low": 1e-4, "high": 1e-1}},
    )
    run_sweep(spec, out=None)
    df = read_trials(spec.storage, validated=True)
    assert len(df) == 10 and set(df["status"]) == {"completed", "pruned"}
    completed, pruned = df[df["status"] == "completed"], df[df["status"] == "pruned"]
    assert (pruned["flops"] < completed["flops"].min()).all()
    assert (pruned["loss"] > completed["loss"].min()).all()  # their last evaluation already lost


def test_carbs_plans_sharing_a_store_each_run_and_resume_their_own_trials_and_stop_none_without_early_stopping(
    tmp_path, local_ray
):
    # Two plans under one sweep name and store, told apart by a pass-through [fixed] tag (a study
    # tags each token budget's search): the second is not mistaken for done because the first
    # stored trials at the same width, and a resume of the first runs nothing.
    def plan_spec(tag, n):
        return _spec(tmp_path, algorithm="carbs", num_samples=n, concurrency=1, early_stopping=False,
                     model={"widths": 16}, space={"lr": {"type": "log", "low": 1e-4, "high": 1e-1}},
                     fixed={"hp_plan": tag})

    run_sweep(plan_spec(1, 10), out=None)
    second = run_sweep(plan_spec(2, 2), resume=True, out=None)
    again = run_sweep(plan_spec(1, 10), resume=True, out=None)
    df = read_trials(plan_spec(1, 10).storage, validated=True)
    assert second.ran == 2 and (again.ran, again.resumed) == (0, 12)
    assert df.groupby("hp_plan").size().to_dict() == {1: 10, 2: 2} and df["trial_id"].is_unique
    # the same ten trials with early stopping lose some to it (the test above); without it every one finishes
    assert set(df["status"]) == {"completed"}


def test_resumed_carbs_sweep_gives_carbs_back_the_curves_of_its_completed_and_stopped_trials(tmp_path, local_ray):
    over = dict(
        algorithm="carbs",
        num_samples=10,
        concurrency=1,
        model={"widths": 16},
        space={"lr": {"type": "log", "low": 1e-4, "high": 1e-1}},
    )
    spec = _spec(tmp_path, **over)
    run_sweep(spec, out=None)
    first = read_trials(spec.storage, validated=True).set_index("trial_id")
    pruned = first.index[first["status"] == "pruned"]
    assert len(pruned) and (first["status"] == "completed").sum() >= 3
    curves = read_curves(spec.storage)
    evals = curves[curves["metric"] == "eval_loss"].sort_values("step").groupby("trial_id")
    for trial_id in pruned:  # the driver stores what a stopped trial reported before CARBS stopped it
        curve = evals.get_group(trial_id)
        assert curve["step"].max() < 10 and curve["value"].iloc[-1] == pytest.approx(first.loc[trial_id, "loss"])

    carbs = _replayed(spec, read_trials(spec.storage).to_dict("records"))
    told = {o.suggestion_id: o for o in carbs.observations[:10]}
    assert set(told) == set(first.index) and {told[t].status for t in pruned} == {"pruned"}
    for trial_id in told:
        reports = carbs.progress[trial_id]
        assert [f for f, _, _ in reports] == [s / 10 for s in evals.get_group(trial_id)["step"]]
        assert reports[-1][2] == pytest.approx(first.loc[trial_id, "flops"])
    forecast_lrs = {config["lr"] for config, _, _ in carbs._stopping_model()[1]}
    assert set(first.loc[pruned, "lr"]) <= forecast_lrs  # each stopped trial has its forecast again
    resumed = run_sweep(_spec(tmp_path, **{**over, "num_samples": 11}), resume=True, out=None)
    assert resumed.resumed == 10 and resumed.ran == 1


def test_resumed_carbs_sweep_gives_the_stored_failures_to_carbs(tmp_path, local_ray):
    # The bowl diverges at lr >= 1: CARBS starts at lr = 3.2 and spreads around it, so the
    # first run stores both completed and diverged rows.
    over = dict(
        algorithm="carbs", num_samples=4, model={"widths": 16}, space={"lr": {"type": "log", "low": 0.1, "high": 100.0}}
    )
    run_sweep(_spec(tmp_path, **over), resume=False, out=None)
    first = read_trials(_spec(tmp_path, **over).storage, validated=True)
    diverged = sorted(first.loc[first["status"] == "diverged", "lr"])
    assert diverged and "completed" in set(first["status"])

    told = _replayed(_spec(tmp_path, **over), read_trials(_spec(tmp_path, **over).storage).to_dict("records"))
    told = told.observations
    assert len(told) == 4
    resumed = run_sweep(_spec(tmp_path, **{**over, "num_samples": 5}), resume=True, out=None)
    assert resumed.resumed == 4 and resumed.ran == 1
    assert sorted(o.config["lr"] for o in told if o.status == "diverged") == pytest.approx(diverged)
    assert sum(o.success for o in told) == (first["status"] == "completed").sum()


def test_carbs_searches_numeric_choices_and_stepped_ints_along_their_values_and_other_choices_as_categories(tmp_path):
    spec = _spec(
        tmp_path,
        algorithm="carbs",
        space={
            "lr": {"type": "log", "low": 1e-4, "high": 1e-1},
            "batch": {"type": "choice", "values": [64, 16, 32]},
            "warmup": {"type": "int", "low": 0, "high": 40, "step": 10},
            "schedule": {"type": "choice", "values": ["cosine", "constant"]},
        },
    )
    space = search_space(spec)
    _, batch, warmup, schedule = space.searched
    assert batch == OrderedParam("batch", (16, 32, 64)) and batch.log
    assert warmup == OrderedParam("warmup", (0, 10, 20, 30, 40)) and not warmup.log
    assert schedule == ChoiceParam("schedule", ("cosine", "constant")) and space.categories == ((3, 2),)
    # grid and random sweeps keep the spec's values in the spec's order
    random = _spec(
        tmp_path,
        algorithm="random",
        space={"lr": {"type": "log", "low": 1e-4, "high": 1e-1}, "batch": {"type": "choice", "values": [64, 16]}},
    )
    assert search_space(random).searched[1] == ChoiceParam("batch", (64, 16))


def test_carbs_sweep_over_a_choice_stores_its_values(tmp_path, local_ray):
    spec = _spec(
        tmp_path,
        algorithm="carbs",
        num_samples=3,
        model={"widths": 16},
        space={"lr": {"type": "choice", "values": [1e-3, 3e-3, 1e-2]}},
    )
    run_sweep(spec, out=None)
    df = read_trials(spec.storage, validated=True)
    assert len(df) == 3 and set(df["lr"]) <= {1e-3, 3e-3, 1e-2} and set(df["status"]) == {"completed"}


def test_carbs_spec_rejects_a_scheduler(tmp_path):
    with pytest.raises(SpecError, match="scheduler"):
        _spec(
            tmp_path,
            algorithm="carbs",
            space={"lr": {"type": "log", "low": 1e-4, "high": 1e-1}},
            scheduler={"type": "asha"},
        )


def test_real_proxy_transformer_sweep_in_transfer_mode(tmp_path, local_ray):
    spec = parse_spec(
        {
            "name": "real",
            "algorithm": "grid",
            "mode": "transfer",
            "storage": str(tmp_path / "run"),
            "model": {"family": "transformer", "widths": [16, 32], "depths": 1, "parametrization": "mup"},
            "budget": {"steps": 8},
            "space": {"lr": {"type": "choice", "values": [1e-2]}},
            "fixed": {"batch_size": 4, "seq_len": 16},
        }
    )
    run_sweep(spec, out=None)
    df = read_trials(spec.storage, validated=True)
    assert sorted(df["width"]) == [16, 32] and set(df["status"]) == {"completed"}
    assert (df["params"] > 0).all() and df["loss"].notna().all()
    assert set(read_curves(spec.storage)["trial_id"]) == set(df["trial_id"])
