"""The joint model across scales: known answers from synthetic random searches and from Step Law's grid."""

import re

import numpy as np
import pandas as pd
import pytest

from tests.scaling.conftest import DATA
from tunescale.contract.errors import InputError
from tunescale.scaling import synthetic
from tunescale.scaling.columns import ColumnMap, load
from tunescale.scaling.fit import DEFAULT_INPUTS, fit_scaling
from tunescale.scaling.joint import diverged_by_rule, fit_joint
from tunescale.scaling.joint_model import Design, Layout, objective
from tunescale.scaling.predict import predict_table
from tunescale.scaling.scale_optima import grid_swept


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    layout = Layout(3, 2)
    n = 40
    design = Design(rng.normal(size=n), rng.normal(size=n), rng.normal(size=(n, 3)), rng.normal(size=(n, 2)),
                    np.log(2.5) + 0.1 * rng.normal(size=n))
    fun_grad = objective(layout, design, rng.random((2, n)), 0.05)
    # basin asymmetries at random, at zero and near it (the stretch's series), and steep (its closed form)
    for tau in (None, 0.0, 2e-4, 2.5):
        theta = 0.3 * rng.normal(size=(2, layout.p))
        if tau is not None:
            theta[:, layout.tau] = tau * np.array([1.0, -1.0, 0.5])
        _, g = fun_grad(theta, np.arange(2))
        eps = 1e-6
        for j in range(layout.p):
            up, down = theta.copy(), theta.copy()
            up[:, j] += eps
            down[:, j] -= eps
            fd = (fun_grad(up, np.arange(2))[0] - fun_grad(down, np.arange(2))[0]) / (2 * eps)
            np.testing.assert_allclose(g[:, j], fd, rtol=1e-5, atol=1e-6, err_msg=f"tau {tau}, coefficient {j}")


@pytest.fixture(scope="module")
def synthetic_fit():
    table = synthetic.random_search_table(800, seed=1)
    div = diverged_by_rule(table)
    fit, warnings = fit_joint(table[~div], n_bootstrap=200, seed=0)
    return table, div, fit, warnings


def test_synthetic_random_search_recovers_every_exponent(synthetic_fit):
    table, div, fit, warnings = synthetic_fit
    assert warnings == []
    assert fit.hps == ("lr", "batch_size", "weight_decay")
    # the divergence rule catches the 10% blown-up runs and no run within 30% of its scale's tuned loss
    ratio = (table["loss"] / synthetic.tuned_loss(table["params"], table["tokens"])).to_numpy()
    assert div[ratio > 2.0].mean() > 0.9 and not div[ratio < 1.3].any()
    # 95% intervals: over 20 draws of this table they covered 96% of the 9 true values below; on this
    # one draw at most one may miss, and by less than half its interval's width
    checks = [(f"{hp}.{k}", synthetic.TRUE_LAWS[hp][k], law["intervals"][k])
              for hp, law in fit.hp_laws().items() for k in ("params", "tokens")]
    checks += [(k, synthetic.TRUE_LOSS[k], fit.loss_law()["intervals"][k]) for k in ("alpha", "beta", "E")]
    misses = [(name, true, iv) for name, true, iv in checks if not iv[0] <= true <= iv[1]]
    assert len(misses) <= 1, misses
    for name, true, (lo, hi) in misses:
        assert min(abs(true - lo), abs(true - hi)) < 0.5 * (hi - lo), (name, true, lo, hi)
    for name, _, (lo, hi) in checks[:6]:
        assert hi - lo < 0.15, (name, lo, hi)
    # prediction at a 4x larger model than any fitted: each optimum within 0.05 decades of the truth
    opt = fit.optimum(4e9, 8e10)
    for hp in fit.hps:
        assert abs(np.log10(opt[hp][0][0] / synthetic.optimum(hp, 4e9, 8e10))) < 0.05, hp
    assert opt["loss"][0][0] == pytest.approx(synthetic.tuned_loss(4e9, 8e10), rel=0.01)


def test_a_basin_steep_above_the_optimum_and_flat_below_is_centred_where_it_is():
    """A learning-rate basin of the LINEX shape (loss exponential towards divergence above lr*, linear below),
    drawn from its formula: the fitted asymmetry is positive and the optimum lands within 0.05 decades of the
    truth, while a symmetric basin slides towards the flat side."""
    rng = np.random.default_rng(7)
    n_runs, tau, curvature = 400, 1.5, 0.01
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e9), n_runs))
    D = 20 * N * np.exp(rng.uniform(-1.0, 1.0, n_runs))
    lr = np.exp(rng.uniform(np.log(1e-4), np.log(3e-2), n_runs))
    u = np.log(lr / synthetic.optimum("lr", N, D))
    basin = curvature * 2 * (np.expm1(tau * u) - tau * u) / tau**2
    loss = synthetic.tuned_loss(N, D) * np.exp(basin + rng.normal(0, 0.003, n_runs))
    table = pd.DataFrame({"params": N, "tokens": D, "lr": lr, "loss": loss})
    errors = {}
    for terms in ((), ("asymmetry",)):
        fit, _ = fit_joint(table, n_bootstrap=0, terms=terms)
        errors[terms] = np.log10(fit.optimum(1e8, 2e9)["lr"][0][0] / synthetic.optimum("lr", 1e8, 2e9))
    assert fit.theta[fit.layout.tau][0] == pytest.approx(tau, rel=0.2)
    assert abs(errors[("asymmetry",)]) < 0.05 and errors[()] < -0.05, errors


def test_optimum_loss_is_positive_and_not_below_the_data(synthetic_fit):
    table, div, fit, _ = synthetic_fit
    kept = table[~div]
    opt = fit.optimum(kept["params"].to_numpy(), kept["tokens"].to_numpy())["loss"][0]
    assert np.all(opt > 0)
    # the best runs are within the noise of the optimum at their scale, never far above the model
    gap = np.log(kept["loss"].to_numpy() / opt)
    assert gap.min() > -4 * fit.sigma


def test_flat_basin_gives_a_wide_interval():
    table = synthetic.random_search_table(300, seed=5, diverged=0.0)
    # weight decay redrawn at random: the loss no longer depends on it, its basin is flat
    table["weight_decay"] = np.exp(np.random.default_rng(1).uniform(np.log(1e-3), 0.0, len(table)))
    fit, _ = fit_joint(table, n_bootstrap=40, seed=0)
    width = {hp: float(np.log10(opt[2][0] / opt[1][0])) for hp, opt in fit.optimum(1e8, 2e9).items()}
    assert width["weight_decay"] > 0.5 and width["weight_decay"] > 5 * width["lr"], width


def _steplaw():
    return load(DATA / "steplaw_dense_lr_bs_loss.csv",
                ColumnMap(params="N", tokens="D", batch_size="bs", loss="smooth loss"), seq_len=2048)


def test_steplaw_five_percent_of_runs_agrees_with_the_full_grid():
    """5% of Step Law's runs (~90 runs over 17 scales: no grid left) against the grid method on all of them,
    at params=1e9, tokens=1e11, with fit-scaling's law forms. Measured over draws 0-19 (100 resamples,
    `benchmarks/joint_fit_bench.py --steplaw-draws 20`): errors of -0.18 .. +0.16 decades for lr and
    -0.26 .. +0.18 for batch size; the grid value fell inside the 95% interval 38 times in 40. The grid
    fit's own 95% interval there is ±0.10 decades for lr and ±0.17 for batch size. At 95% coverage, 6 or
    more of 8 draws inside fails by chance less than 1% of the time."""
    table = _steplaw()
    grid = fit_scaling(table, n_bootstrap=0, validate=False, method="grid").predict(params=1e9, tokens=1e11)
    inside = {"lr": 0, "batch_size": 0}
    for seed in range(8):
        sub = table.frame.sample(frac=0.05, random_state=seed)
        sub = sub[~diverged_by_rule(sub)]
        fit, _ = fit_joint(sub, n_bootstrap=50, seed=seed, law_inputs=DEFAULT_INPUTS)
        opt = fit.optimum(1e9, 1e11)
        for hp in inside:
            v, lo, hi = (float(a[0]) for a in opt[hp])
            ref = grid.values[hp][0]
            inside[hp] += lo <= ref <= hi
            assert abs(np.log10(v / ref)) < 0.3, (seed, hp, v, ref)
    assert min(inside.values()) >= 6, inside


def test_auto_picks_joint_for_random_search_and_grid_for_a_grid(tmp_path):
    table = synthetic.random_search_table(200, seed=2)
    path = tmp_path / "runs.csv"
    table.drop(columns="run_id").to_csv(path, index=False)
    fit = fit_scaling(load(path), n_bootstrap=0)
    assert fit.method == "joint" and "random, Bayesian or CARBS" in fit.method_reason
    assert any("random or Bayesian search" in w for w in fit.warnings)
    assert any("counted as diverged" in w for w in fit.warnings)
    grid = fit_scaling(_steplaw(), n_bootstrap=0, validate=False)
    assert grid.method == "grid"


def test_the_joint_method_takes_the_law_forms_the_grid_method_takes(tmp_path):
    """Batch size moves with tokens only by default, as under the grid method; --law and `hp_law_inputs`
    (the study's width-transferred HPs) change an HP's form; a law the joint model cannot take is one line."""
    path = tmp_path / "runs.csv"
    synthetic.random_search_table(300, seed=3).drop(columns="run_id").to_csv(path, index=False)
    table = load(path)

    def inputs(**kw):
        laws = fit_scaling(table, n_bootstrap=0, validate=False, method="joint", **kw).joint.hp_laws()
        return {hp: law["inputs"] for hp, law in laws.items()}

    both = ["params", "tokens"]
    assert inputs() == {"lr": both, "batch_size": ["tokens"], "weight_decay": both}
    assert inputs(laws=["batch_size ~ params + tokens", "weight_decay ~ params"]) == {
        "lr": both, "batch_size": both, "weight_decay": ["params"]}
    assert inputs(hp_law_inputs={"lr": ("tokens",), "batch_size": ("tokens",)})["lr"] == ["tokens"]
    law = fit_scaling(table, n_bootstrap=0, validate=False, method="joint", laws=["lr ~ tokens"]).joint.hp_laws()["lr"]
    assert law["formula"].startswith("lr* = ") and "params" not in law["formula"] and law["coef"]["params"] == 0.0
    for bad in ("lr ~ flops", "loss ~ params + tokens"):
        with pytest.raises(InputError, match=re.escape(f"--law {bad}: the joint model")):
            fit_scaling(table, n_bootstrap=0, validate=False, method="joint", laws=[bad])


def test_auto_picks_joint_for_a_sweep_drawing_batch_size_and_weight_decay_from_a_few_choices(tmp_path):
    """A random sweep over widths (a few scales) with continuous lr and 3-value choices of the others:
    by chance some (scale, batch size, weight decay) holds 3 learning rates, but most runs lie on no grid."""
    rng = np.random.default_rng(0)
    rows = []
    for n in (1e6, 4e6, 1.6e7, 6.4e7):
        for tokens in (2e7, 8e7):
            for _ in range(20):
                lr = float(np.exp(rng.uniform(np.log(1e-4), np.log(1e-1))))
                bs, wd = int(rng.choice([16, 32, 64])), float(rng.choice([0.01, 0.1, 1.0]))
                loss = 2 + 5 * n**-0.2 + 0.05 * np.log(lr / 3e-3) ** 2 + 0.01 * np.log(bs / 32) ** 2
                rows.append({"params": n, "tokens": tokens, "lr": lr, "batch_size": bs, "weight_decay": wd,
                             "loss": loss * np.exp(rng.normal(0, 0.003))})
    path = tmp_path / "runs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    table = load(path)
    assert grid_swept(table.frame, table.fixed_columns)  # the grid test alone would take it for a grid
    fit = fit_scaling(table, n_bootstrap=0, validate=False)
    assert fit.method == "joint" and "of the runs lie on a grid" in fit.method_reason, fit.method_reason


def test_lr_varying_with_weight_decay_says_why_there_is_no_grid(tmp_path):
    rows = [{"params": N, "tokens": 20 * N, "lr": lr, "weight_decay": wd, "loss": 3.0 + lr}
            for N in (1e7, 1e8, 1e9) for lr, wd in zip((1e-3, 2e-3, 4e-3), (0.1, 0.01, 0.001), strict=True)]
    path = tmp_path / "runs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    from tunescale.contract.errors import InputError

    with pytest.raises(InputError, match="never with the other hyperparameters .weight_decay. held fixed"):
        fit_scaling(load(path), laws=["lr ~ params"], n_bootstrap=0, method="grid")


def test_cli_runs_checkpoints_where_ignore_and_holdout(tmp_path):
    import json

    from tests.scaling.conftest import run_cli

    path = tmp_path / "ckpt.csv"
    synthetic.random_search_table(300, seed=3, checkpoints=3).to_csv(path, index=False)
    out = tmp_path / "fit.json"
    proc = run_cli([path, "--where", "params<8e8", "--where", "lr!=0", "--ignore-col", "weight_decay",
                    "--holdout", "params>=5e8", "--bootstrap", "20", "--json-out", out])
    assert proc.returncode == 0, proc.stderr
    assert "earlier evaluation of a run" in proc.stdout and "one row per run ('run_id')" in proc.stdout
    assert "method: joint" in proc.stdout and "np.float64" not in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["joint"]["basin_hps"] == ["lr", "batch_size"]
    assert doc["holdout"]["n_runs"] > 0 and doc["holdout"]["mean_abs_rel_error"] < 0.05
    assert "--where params<8e8" in doc["input"]["dropped"]


def test_messages_print_plain_floats(tmp_path):
    from tests.scaling.conftest import run_cli

    path = tmp_path / "bad.csv"
    frame = synthetic.random_search_table(30, seed=0)
    frame.loc[3, "loss"] = np.nan
    frame.drop(columns="run_id").to_csv(path, index=False)
    proc = run_cli([path])
    assert proc.returncode == 2 and "= nan" in proc.stderr and "np.float64" not in proc.stderr, proc.stderr


def test_cli_predict_table_and_joint_figures(tmp_path):
    from tests.scaling.conftest import run_cli

    fit_path, pred_path, out = tmp_path / "runs.csv", tmp_path / "next.csv", tmp_path / "fit"
    rename = {"lr": "LR"}  # the predict table is read with the fitted table's column mapping
    table = synthetic.random_search_table(300, seed=3).drop(columns="run_id").rename(columns=rename)
    table.to_csv(fit_path, index=False)
    truth = synthetic.random_search_table(20, seed=9, diverged=0.0, params_range=(1e9, 4e9))
    truth.drop(columns=["run_id", "loss"]).rename(columns=rename).to_csv(pred_path, index=False)
    proc = run_cli(
        [
            fit_path,
            "--lr-col",
            "LR",
            "--bootstrap",
            "30",
            "--holdout",
            "params>5e8",
            "--out",
            out,
            "--predict-table",
            pred_path,
        ]
    )
    assert proc.returncode == 0, proc.stderr
    pred = pd.read_csv(out / "predictions.csv")
    assert list(pred.columns[:6]) == ["params", "tokens", "LR", "batch_size", "weight_decay", "predicted_loss"]
    for name in (
        "predicted_loss",
        "optimal_lr",
        "optimal_batch_size",
        "optimal_weight_decay",
        "predicted_optimal_loss",
    ):
        assert (pred[f"{name}_low"] <= pred[name]).all() and (pred[name] <= pred[f"{name}_high"]).all(), name
    # runs up to 4x larger than any fitted: each run's loss at its own HPs within 2% (noise 0.5%), optima near truth
    assert np.abs(pred["predicted_loss"] / truth["loss"] - 1).max() < 0.02
    assert np.abs(np.log10(pred["optimal_lr"] / synthetic.optimum("lr", truth["params"], truth["tokens"]))).max() < 0.05
    assert (
        np.abs(pred["predicted_optimal_loss"] / synthetic.tuned_loss(truth["params"], truth["tokens"]) - 1).max() < 0.01
    )
    for name in ("joint_fit", "joint_basin", "joint_residuals"):
        assert (out / f"{name}.png").stat().st_size > 10_000 and (out / f"{name}.pdf").exists()
    proc = run_cli([fit_path, "--lr-col", "LR", "--bootstrap", "0", "--predict-table", pred_path])
    assert proc.returncode == 2 and "give --out DIR too" in proc.stderr


def test_on_a_grid_the_grid_and_joint_methods_agree():
    """Step Law's full grid (1,730 runs, 17 scales) fitted both ways, with the same law forms: at params=1e9,
    tokens=1e11 each optimum lies inside the other's 95% interval and the two differ by less than 0.05
    decades (measured: lr +0.016, batch size +0.008 decades, joint over grid; the joint intervals are
    about ±0.04 decades, the grid's ±0.10 and ±0.17)."""
    table = _steplaw()
    target = {"params": 1e9, "tokens": 1e11}
    fits = {m: fit_scaling(table, n_bootstrap=100, validate=False, method=m) for m in ("grid", "joint")}
    grid, joint = (fits[m].predict(**target) for m in ("grid", "joint"))
    for hp in ("lr", "batch_size"):
        assert list(fits["grid"].hp_laws[hp].inputs) == fits["joint"].joint.hp_laws()[hp]["inputs"], hp
        g, g_lo, g_hi = grid.values[hp]
        j, j_lo, j_hi = joint.values[hp]
        assert g_lo <= j <= g_hi and j_lo <= g <= j_hi, (hp, grid.values[hp], joint.values[hp])
        assert abs(np.log10(j / g)) < 0.05, (hp, g, j)
    # a predict table gives the same read-offs row by row, with either method
    rows = pd.DataFrame({"params": [target["params"]], "tokens": [target["tokens"]], "lr": [1e-3], "batch_size": [1e6]})
    for method, pred in ((m, predict_table(fits[m], rows)) for m in fits):
        expected = {"grid": grid, "joint": joint}[method].values
        for hp in ("lr", "batch_size"):
            assert pred[f"optimal_{hp}"][0] == pytest.approx(expected[hp][0], rel=1e-9), (method, hp)
        assert pred["predicted_optimal_loss"][0] == pytest.approx(expected["loss"][0], rel=1e-9), method
        assert np.isnan(pred["optimal_weight_decay"][0])
        assert np.isnan(pred["predicted_loss"][0]) == (method == "grid")
