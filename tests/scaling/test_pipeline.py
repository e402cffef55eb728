"""End to end on a sweep written by the project's own trial store: laws recovered, predictions bracket truth."""

import json

import numpy as np
import pandas as pd
import pytest

from tests.scaling.conftest import run_cli
from tunescale.contract.errors import InputError
from tunescale.contract.store import TrialStore
from tunescale.scaling.columns import ColumnMap, load
from tunescale.scaling.fit import fit_scaling

LR = (1.8, -0.7, 0.3)  # lr* = 1.8 · N^-0.7 · D^0.3


def _truth(N, D):
    lr = LR[0] * N ** LR[1] * D ** LR[2]
    loss = 1.8 + 480 / N**0.34 + 2000 / D**0.37
    return lr, loss


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    """8 scales × 9 learning rates × 2 weight decays, plus failed and diverged trials."""
    rng = np.random.default_rng(0)
    run = tmp_path_factory.mktemp("sweep")
    store = TrialStore(run)
    scales = [(N, 20 * N * r) for N, r in zip(np.geomspace(2e7, 2e9, 8), (1, 3, 1, 3, 1, 3, 1, 3), strict=True)]
    for i, (N, D) in enumerate(scales):
        lr_star, loss_star = _truth(N, D)
        for j, lr in enumerate(lr_star * np.geomspace(1 / 16, 16, 9) * np.exp(rng.uniform(-0.2, 0.2))):
            for wd in (0.0, 0.1):
                loss = loss_star * (1 + 0.01 * np.log(lr / lr_star) ** 2 + (0.004 if wd == 0 else 0)) \
                    + rng.normal(0, 0.002)
                status = "completed"
                if j == 8 and wd == 0.1:
                    status, loss = "diverged", float("nan")
                store.write({"trial_id": f"s{i}-lr{j}-wd{wd}", "sweep": "synthetic", "status": status,
                             "params": int(N), "tokens": float(D), "lr": float(lr), "batch_size": 64,
                             "weight_decay": wd, "loss": loss, "seed": 0})
        store.write({"trial_id": f"s{i}-crash", "sweep": "synthetic", "status": "failed",
                     "params": int(N), "tokens": float(D), "lr": 1e-3, "seed": 0})
    return run


def test_fit_recovers_lr_law_and_predicts_with_intervals(sweep_dir):
    table = load(sweep_dir)
    assert table.dropped == {"status diverged": 8, "status failed": 8}
    fit = fit_scaling(table, n_bootstrap=300, seed=0)
    assert len(fit.optima) == 8
    lr = fit.hp_laws["lr"]
    assert lr.intervals["params"][0] <= LR[1] <= lr.intervals["params"][1]
    assert lr.intervals["tokens"][0] <= LR[2] <= lr.intervals["tokens"][1]
    assert "weight_decay" not in fit.hp_laws  # 2 values are not a sweep
    # the best weight decay (0.1) group speaks for each scale
    assert fit.validation["lr"].error is not None and abs(fit.validation["lr"].error) < 0.1
    pred = fit.predict(params=7e9, tokens=2e11)
    true_lr, true_loss = _truth(7e9, 2e11)
    value, lo, hi = pred.values["lr"]
    assert lo <= true_lr <= hi and abs(np.log10(value / true_lr)) < 0.1
    s = json.dumps(fit.summary())  # JSON-safe
    assert "hp_laws" in s


def test_hp_laws_can_be_limited_to_tokens_and_loss_law_keeps_both(sweep_dir):
    fit = fit_scaling(load(sweep_dir), n_bootstrap=50, seed=0, hp_law_inputs={"lr": ("tokens",)})
    assert fit.hp_laws["lr"].inputs == ("tokens",)
    assert fit.loss_law.inputs == ("params", "tokens")


def test_cli_end_to_end_writes_json_and_figures(sweep_dir, tmp_path):
    out = tmp_path / "fit"
    proc = run_cli([sweep_dir, "--bootstrap", "100", "--predict", "params=7e9,tokens=2e11",
                    "--law", "lr ~ params + tokens", "--compare", "steplaw", "--out", out])
    assert proc.returncode == 0, proc.stderr
    assert "136 used" in proc.stdout and "8 status diverged" in proc.stdout and "8 status failed" in proc.stdout
    assert "prediction at params = 7e+09" in proc.stdout
    doc = json.loads((out / "fit.json").read_text())
    assert doc["predictions"][0]["predictions"]["lr"]["interval"][0] > 0
    assert doc["compare"][0]["source"] == "Step Law"
    for name in ("optima_lr", "law_lr", "loss_law", "residuals"):
        for ext in ("png", "pdf"):
            assert (out / f"{name}.{ext}").stat().st_size > 1000, name


def test_law_option_errors(sweep_dir):
    table = load(sweep_dir)
    with pytest.raises(InputError, match="not a scale column"):
        fit_scaling(table, laws=["lr ~ width"], n_bootstrap=0)
    with pytest.raises(InputError, match="batch_size"):
        fit_scaling(table, laws=["batch_size ~ tokens"], n_bootstrap=0)


def test_column_mapping_suggests_and_derives(tmp_path):
    import pandas as pd

    path = tmp_path / "foreign.csv"
    pd.DataFrame({"Model Size": [1e8, 2e8, 4e8], "Training FLOP": [6e18, 1.2e19, 2.4e19],
                  "final_loss": [3.0, 2.9, 2.8]}).to_csv(path, index=False)
    with pytest.raises(InputError, match="did you mean 'Model Size'"):
        load(path, ColumnMap(params="model size", loss="final_loss"))
    with pytest.raises(InputError, match="did you mean 'final_loss'"):
        load(path, ColumnMap(params="Model Size"))
    t = load(path, ColumnMap(params="Model Size", flops="Training FLOP", loss="final_loss"))
    np.testing.assert_allclose(t.frame["tokens"], [1e10, 1e10, 1e10])
    assert "tokens derived as flops / (6 · params)" in t.notes


def test_nearly_proportional_params_and_tokens_give_a_law_in_one_axis(tmp_path):
    store = TrialStore(tmp_path)
    for i, n in enumerate((1e6, 3e6, 1e7, 3e7)):
        lr_star = 1e-2 * (n / 1e6) ** -0.3
        for j, f in enumerate((0.25, 0.5, 1.0, 2.0, 4.0)):
            store.write({"trial_id": f"s{i}-{j}", "sweep": "s", "status": "completed", "params": int(n),
                         "tokens": 20 * n * (1 + 1e-4 * i), "lr": lr_star * f, "batch_size": 32,
                         "loss": 3.0 + 0.1 * np.log(f) ** 2 - 0.1 * i, "seed": 0})
    fit = fit_scaling(load(tmp_path), n_bootstrap=20, seed=0)
    law = fit.hp_laws["lr"]
    assert len(law.inputs) == 1 and np.isfinite(law.prefactor)
    assert "lr*" in law.formula()


@pytest.mark.parametrize("method", ["grid", "joint"])
def test_two_token_values_say_the_loss_law_cannot_fix_its_token_term(tmp_path, method):
    """E + A/N^α + B/D^β at two D values gives two equations for E, B and β: a law fitted there says so,
    and the same grid with a third token value does not."""
    rng = np.random.default_rng(1)
    said = {}
    for tokens in ((2e9, 2e10), (2e9, 6e9, 2e10)):
        rows = []
        for N in np.geomspace(1e7, 1e9, 4):
            for D in tokens:
                lr_star, loss_star = _truth(N, D)
                for lr in lr_star * np.geomspace(1 / 8, 8, 7):
                    loss = loss_star * (1 + 0.01 * np.log(lr / lr_star) ** 2) + rng.normal(0, 0.002)
                    rows.append({"params": N, "tokens": D, "lr": lr, "loss": loss})
        path = tmp_path / f"{len(tokens)}.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
        fit = fit_scaling(load(path), n_bootstrap=0, method=method, validate=False)
        said[len(tokens)] = [w for w in fit.warnings if "takes only 2 values" in w]
    assert said[3] == []
    assert len(said[2]) == 1 and said[2][0].startswith("loss law: tokens takes only 2 values (2e+09 and 2e+10)")
