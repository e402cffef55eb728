"""`algorithm = "stn"`: STN runs of the transformer proxy as trials of a Ray sweep, resumed after
the driver is SIGKILLed, every trial stored exactly once with its tuned hyperparameters."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO
from tunescale.contract.store import read_curves, read_trials
from tunescale.sweep.engine import run_sweep
from tunescale.sweep.plan import plan
from tunescale.sweep.spec import STN_TRAINABLE, SpecError, load_spec, parse_spec

SPEC = """
name = "stn-k"
algorithm = "stn"
storage = "{storage}"
concurrency = 1
[model]
widths = [16, 32]
depths = 1
[budget]
steps = 30
[space.seed]
type = "choice"
values = [0, 1]
[fixed]
lr = 0.003
seq_len = 16
batch_size = 4
eval_batches = 1
eval_every = 10
device = "cpu"
train_bytes = 5000
stn_variant = "centred"
stn_steps_per_hyper = 1
stn_hyper_lr = 0.1
"""


def test_stn_spec_defaults_to_the_stn_trainable_and_checks_like_a_grid():
    raw = {"name": "s", "algorithm": "stn", "model": {"widths": 16}, "budget": {"steps": 5},
           "space": {"stn_tau": {"type": "log", "low": 1e-3, "high": 1e-2, "num": 2}}, "fixed": {"lr": 1e-3}}
    spec = parse_spec(raw)
    assert spec.trainable == STN_TRAINABLE and len(plan(spec)) == 2
    with pytest.raises(SpecError, match="algorithm = \"stn\" runs the whole grid"):
        parse_spec({**raw, "num_samples": 3})
    with pytest.raises(SpecError, match="'model.family': algorithm = \"stn\" tunes the transformer"):
        parse_spec({**raw, "model": {"widths": 16, "family": "mlp"}})


def test_killed_stn_sweep_resumes_and_stores_every_trial_once(tmp_path, local_ray):
    spec_path = tmp_path / "stn.toml"
    spec_path.write_text(SPEC.format(storage=tmp_path / "run"))
    trials_dir = tmp_path / "run" / "trials"
    driver = subprocess.Popen(
        [sys.executable, "-m", "tunescale.cli.main", "sweep", str(spec_path), "--num-cpus", "2", "--quiet"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not list(trials_dir.glob("*.parquet")):
            assert driver.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.05)
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.wait()
    before = set(read_trials(tmp_path / "run")["trial_id"])
    spec = load_spec(spec_path)
    planned = plan(spec)
    assert 1 <= len(before) < len(planned) == 4
    result = run_sweep(spec, resume=True, out=None)
    rows = read_trials(tmp_path / "run", validated=True)
    ids = list(rows["trial_id"])
    assert sorted(ids) == sorted(t.trial_id for t in planned) and len(ids) == len(set(ids))
    assert result.resumed >= len(before) and result.statuses == {"completed": 4}
    assert sorted(zip(rows["width"], rows["seed"], strict=True)) == [(16, 0), (16, 1), (32, 0), (32, 1)]
    assert (rows["hp_algorithm"] == "stn").all() and (rows["hp_hyper_steps"] > 0).all()
    assert rows["hp_resid_dropout"].between(0.0, 0.8).all()
    curves = read_curves(tmp_path / "run")
    assert set(curves[curves["metric"] == "hp/resid_dropout"]["trial_id"]) == set(ids)
