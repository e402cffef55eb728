import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunescale.contract.errors import TunescaleError
from tunescale.contract.schema import TRIAL_SCHEMA
from tunescale.contract.store import TrialStore, read_curves, read_trials
from tunescale.trials.train import lr_factor, resolve_config, train_trial

TINY = {"lr": 3e-3, "steps": 20}


def test_tiny_trial_row_validates_and_is_stored(tmp_path):
    seen = []
    outcome = train_trial({**TINY, "hp_note": "x", "weight_decay": 0.1}, on_eval=seen.append)
    row = outcome.row
    assert row["status"] == "completed"
    assert set(TRIAL_SCHEMA.names) - set(row) == {"trial_id", "sweep", "created_at"}
    assert row["tokens"] == 20 * 16 * 64  # exact: steps x batch x seq_len
    assert row["loss"] < math.log(256)  # learned something beyond uniform bytes
    assert row["hp_note"] == "x" and math.isclose(row["hp_tau"], 1 / (3e-3 * 0.1 * 20))  # fraction of the run
    assert [e["step"] for e in seen] == [4, 8, 12, 16, 20]
    assert set(seen[0]) == {"step", "tokens", "flops", "train_loss", "eval_loss"}
    assert seen[-1]["flops"] == row["flops"]  # the FLOPs so far, which CARBS's early stopping needs
    TrialStore(tmp_path).write({**row, "trial_id": "t0", "sweep": "s"}, outcome.curves)
    df = read_trials(tmp_path, validated=True)
    assert df.loc[0, "loss"] == row["loss"] and df.loc[0, "flops"] == row["flops"]
    assert set(read_curves(tmp_path)["metric"]) == {"train_loss", "eval_loss", "lr"}


def test_same_seed_same_loss_other_seed_differs():
    a, b = train_trial({**TINY, "steps": 10}), train_trial({**TINY, "steps": 10})
    c = train_trial({**TINY, "steps": 10, "seed": 1})
    assert a.row["loss"] == b.row["loss"] and a.row["train_loss"] == b.row["train_loss"]
    assert c.row["loss"] != a.row["loss"]


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_absurd_lr_gives_a_diverged_row(tmp_path, optimizer):
    outcome = train_trial({"lr": 1e4, "steps": 30, "optimizer": optimizer, "grad_clip": 0})
    assert outcome.row["status"] == "diverged"
    assert outcome.row["hp_steps_done"] < 30
    TrialStore(tmp_path).write({**outcome.row, "trial_id": "d", "sweep": "s"}, outcome.curves)
    assert read_trials(tmp_path, validated=True).loc[0, "status"] == "diverged"


def test_on_eval_returning_true_prunes_and_charges_only_the_steps_trained():
    full = train_trial({**TINY, "steps": 20, "eval_every": 5}).row
    pruned = train_trial({**TINY, "steps": 20, "eval_every": 5}, on_eval=lambda m: m["step"] >= 10).row
    assert pruned["status"] == "pruned" and pruned["hp_steps_done"] == 10
    assert pruned["flops"] == pytest.approx(full["flops"] / 2) and math.isnan(pruned["loss"])


def test_mlp_trial_overfits_the_classification_set():
    cfg = {"model": "mlp", "width": 128, "depth": 1, "lr": 1e-2, "steps": 300, "batch_size": 64}
    row = train_trial(cfg).row
    assert row["status"] == "completed" and row["depth"] == 1
    assert row["train_loss"] < 0.5 * row["loss"]
    assert row["tokens"] == 300 * 64


def test_tokens_set_the_step_count():
    cfg = resolve_config({"lr": 1e-3, "tokens": 10_000})
    assert cfg["steps"] == math.ceil(10_000 / (16 * 64))


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"lr": 1e-3, "widht": 64}, "unknown trial config key 'widht'"),
        ({}, "'lr' = None"),
        ({"lr": 1e-3, "schedule": "step"}, "'schedule' = 'step'"),
        ({"lr": 1e-3, "steps": 5, "tokens": 100}, "both 'steps' and 'tokens'"),
        ({"lr": 1e-3, "parametrization": "xp"}, "parametrization 'xp' is unknown"),
    ],
)
def test_bad_config_raises_naming_the_key(config, match):
    with pytest.raises(TunescaleError, match=match):
        train_trial(config)


@given(
    schedule=st.sampled_from(["cosine", "wsd", "constant"]),
    steps=st.integers(1, 500),
    warmup=st.floats(0, 0.5),
    data=st.data(),
)
def test_lr_factor_stays_in_unit_interval_and_peaks_after_warmup(schedule, steps, warmup, data):
    cfg = resolve_config({"lr": 1.0, "steps": steps, "schedule": schedule, "warmup_frac": warmup})
    step = data.draw(st.integers(0, steps - 1))
    f = lr_factor(step, cfg)
    assert 0.0 <= f <= 1.0 + 1e-12
    first_after_warmup = int(warmup * steps)
    if first_after_warmup < steps and schedule != "wsd":
        assert math.isclose(lr_factor(first_after_warmup, cfg), 1.0)


@pytest.mark.slow
def test_compiled_model_trains_to_the_eager_loss():
    eager = train_trial({**TINY, "steps": 10})
    compiled = train_trial({**TINY, "steps": 10, "compile": True})
    assert compiled.row["status"] == "completed"
    assert math.isclose(compiled.row["loss"], eager.row["loss"], rel_tol=1e-3)


def test_tau_sets_weight_decay_and_each_group_reports_its_own_tau():
    cfg = {"lr": 1e-2, "steps": 10, "parametrization": "mup", "width": 64, "base_width": 32}
    row = train_trial({**cfg, "tau": 0.5}).row
    assert math.isclose(row["weight_decay"], 1 / (0.5 * 10 * 1e-2)) and math.isclose(row["hp_tau"], 0.5)
    for role in ("input", "hidden", "readout"):  # width-free decay: every matrix has the run's τ
        assert math.isclose(row[f"hp_tau_{role}"], 0.5), role
    old = train_trial({**cfg, "weight_decay": 20.0, "wd_mode": "coupled_group"}).row
    assert math.isclose(old["hp_tau_hidden"], 2 * old["hp_tau_input"])  # hidden LR / 2 under muP at m = 2
    assert old["hp_tau"] is None
    umup = resolve_config({"lr": 1.0, "parametrization": "umup", "steps": 10, "tau": 0.5})
    assert umup["wd_mode"] == "independent" and math.isclose(umup["weight_decay"], 0.2)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"tau": 0.5, "weight_decay": 0.1}, "both 'weight_decay' and 'tau'"),
        ({"tau": 0.5, "wd_mode": "coupled_group"}, "each group its own"),
        ({"tau": -1}, "positive fraction"),
        ({"wd_scaling": True}, "drop wd_scaling"),
        ({"parametrization": "mup", "per_layer_lr": True}, "per layer already"),
    ],
)
def test_nonsense_weight_decay_settings_fail_in_one_line(extra, match):
    with pytest.raises(TunescaleError, match=match):
        resolve_config({"lr": 1e-2, **extra})


def test_umup_and_per_layer_lr_trials_train():
    for extra in ({"parametrization": "umup", "lr": 0.5}, {"parametrization": "sp", "per_layer_lr": True}):
        row = train_trial({"lr": 3e-3, "steps": 10, "width": 64, "base_width": 32, **extra}).row
        assert row["status"] == "completed" and row["loss"] < math.log(256), extra
