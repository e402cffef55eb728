"""The loop closes: a random search over proxies of several widths, fitted by `fit-scaling` with no flags."""

import json

import numpy as np

from tests.scaling.conftest import run_cli
from tunescale.scaling import synthetic
from tunescale.scaling.columns import load
from tunescale.sweep.engine import run_sweep
from tunescale.sweep.spec import parse_spec
from tunescale.trials.synthetic import OPTIMAL_LOG10_LR


def test_random_sweep_over_widths_is_fitted_without_flags(tmp_path, local_ray):
    # lr and weight decay drawn at random per width: no width has 3 lrs at one weight decay, so auto
    # picks the joint model. The synthetic bowl ignores weight decay: its basin is flat, and the fit
    # must say it has no weight-decay optimum rather than report one.
    spec = parse_spec({
        "name": "loop", "algorithm": "random", "trainable": "tunescale.trials.synthetic:quadratic_trial",
        "storage": str(tmp_path / "runs"), "concurrency": 2, "num_samples": 12, "model": {"widths": [16, 32, 64]},
        "budget": {"steps": 10},
        "space": {"lr": {"type": "log", "low": 1e-4, "high": 1e-1},
                  "weight_decay": {"type": "log", "low": 1e-3, "high": 1e-1}},
    })
    run_sweep(spec, out=None)
    out = tmp_path / "fit.json"
    proc = run_cli([spec.storage, "--bootstrap", "50", "--json-out", out])
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["method"] == "joint" and doc["joint"]["scale_axes"] == ["params"]
    lr = doc["joint"]["hp_laws"]["lr"]
    assert abs(np.log10(lr["coef"]["c"]) - OPTIMAL_LOG10_LR) < 0.1 and abs(lr["coef"]["params"]) < 0.05
    assert doc["joint"]["hp_laws"]["weight_decay"]["unresolved"]
    assert "tokens is 160 in every run" in proc.stdout and "no weight_decay law" in proc.stdout


def test_an_empty_weight_decay_column_is_left_out(tmp_path):
    path = tmp_path / "runs.csv"
    table = synthetic.random_search_table(120, seed=4, diverged=0.0).drop(columns="run_id")
    table["weight_decay"] = np.nan  # a trainer without weight decay stores nulls, as the trial schema allows
    table.to_csv(path, index=False)
    loaded = load(path)
    assert "weight_decay" not in loaded.frame.columns
    assert "weight_decay is empty on every row: not used" in loaded.notes
