"""Laws of a hyperparameter each run tunes itself (an STN's dropout): per-scale means, a bootstrap over
runs, leave-largest-out, the tuned-online mark, and values at 0 refused with the rows named."""

import json

import numpy as np
import pandas as pd
import pytest

from tests.scaling.conftest import run_cli
from tunescale.contract.errors import InputError
from tunescale.scaling import fit_scaling, load

A, B, C = 0.4, -0.3, 2.0  # dropout* = C · N^A · D^B


def _runs(tmp_path, *, seeds=3, noise=0.1, spoil=None, name="runs.csv"):
    """An STN-like table: 4 widths x 2 token budgets x `seeds` runs, each with its own tuned hp_drop."""
    rng = np.random.default_rng(0)
    rows = []
    for N in (1e4, 3e4, 1e5, 3e5):
        for D in (1e6, 4e6):
            for s in range(seeds):
                rows.append({"trial_id": f"N{N:.0e}-D{D:.0e}-s{s}", "status": "completed", "params": N, "tokens": D,
                             "lr": 0.01, "loss": 3.0 + rng.normal(0, 0.01), "seed": s,
                             "hp_drop": C * N**A * D**B * np.exp(rng.normal(0, noise)), "hp_drop_init": 0.05,
                             "hp_variant": "centred"})
    frame = pd.DataFrame(rows)
    if spoil:
        frame = spoil(frame)
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_recovers_a_known_law_in_params_and_tokens_without_being_asked(tmp_path):
    fit = fit_scaling(load(_runs(tmp_path)), n_bootstrap=300, loss_law=False)
    learned = fit.learned["hp_drop"]
    law = learned.law
    assert law.inputs == ("params", "tokens") and learned.marked
    assert len(learned.points) == 8 and (learned.points["n_runs"] == 3).all() and len(learned.runs) == 24
    for k, true in (("params", A), ("tokens", B)):
        assert law.intervals[k][0] <= true <= law.intervals[k][1]
        assert law.bootstrap_intervals[k][0] <= true <= law.bootstrap_intervals[k][1]
    assert law.resampled == "runs" and law.summary()["bootstrap_over"] == "runs"
    v = fit.validation["hp_drop"]
    assert v.held_out_by == "params" and v.n_held_out == 2 and abs(v.error) < 0.1
    # the other varying hp_ columns are no law and no setting the runs are grouped by
    assert set(fit.learned) == {"hp_drop"}
    assert "hp_drop" not in load(_runs(tmp_path)).fixed_columns
    value, lo, hi = fit.predict(params=1e6, tokens=2e6).values["hp_drop"]
    assert lo < C * 1e6**A * 2e6**B < hi and lo < value < hi


def test_bootstrap_over_runs_sees_the_seed_scatter_that_the_means_hide(tmp_path):
    """Seeds at 0.5x and 2x the law: the means lie exactly on a power law (t-interval of width 0),
    while a resample that draws one seed twice moves a scale's mean by a factor of up to 2.5."""

    def halves(frame):
        frame = frame[frame["seed"] < 2].copy()
        frame["hp_drop"] = C * frame["params"] ** A * frame["tokens"] ** B * np.where(frame["seed"] == 0, 0.5, 2.0)
        return frame

    law = fit_scaling(load(_runs(tmp_path, spoil=halves)), n_bootstrap=300, loss_law=False).learned["hp_drop"].law
    t_lo, t_hi = law.intervals["params"]
    b_lo, b_hi = law.bootstrap_intervals["params"]
    assert t_hi - t_lo < 1e-6 and b_hi - b_lo > 0.1


def test_a_column_with_no_tuned_mark_needs_law_and_is_labelled(tmp_path):
    path = _runs(tmp_path, spoil=lambda f: f.drop(columns="hp_drop_init"))
    with pytest.raises(InputError, match="nothing to fit"):
        fit_scaling(load(path), n_bootstrap=0, loss_law=False)
    fit = fit_scaling(load(path), laws=["hp_drop ~ params"], n_bootstrap=0, loss_law=False)
    assert fit.learned["hp_drop"].law.inputs == ("params",) and not fit.learned["hp_drop"].marked
    assert "no hp_drop_init marks it as tuned online" in fit.report()


def _zero(frame):
    frame.loc[[4, 5], "hp_drop"] = 0.0
    return frame


def test_a_value_at_zero_stops_an_asked_law_and_names_the_runs_and_the_fix(tmp_path):
    table = load(_runs(tmp_path, spoil=_zero))
    with pytest.raises(InputError, match=r"2 run\(s\) with hp_drop not > 0: N1e\+04-D4e\+06-s1 .*--where 'hp_drop>0'"):
        fit_scaling(table, laws=["hp_drop ~ params + tokens"], n_bootstrap=0, loss_law=False)
    with pytest.raises(InputError, match=r"nothing to fit .*; hp_drop: no law, .*not > 0"):
        fit_scaling(table, n_bootstrap=0, loss_law=False)
    kept = load(_runs(tmp_path, spoil=_zero), where=["hp_drop>0"])
    assert kept.dropped == {"--where hp_drop>0": 2}
    fit = fit_scaling(kept, laws=["hp_drop ~ params + tokens"], n_bootstrap=0, loss_law=False)
    assert fit.learned["hp_drop"].points["n_runs"].sum() == 22


def test_runs_tuned_in_part_or_pooled_over_settings_are_refused_with_the_where_that_fixes_it(tmp_path):
    def mixed(frame):
        frame.loc[frame["seed"] == 2, "hp_drop_init"] = np.nan  # a fixed run in the same store
        return frame

    table = load(_runs(tmp_path, spoil=mixed))
    with pytest.raises(InputError, match=r"tuned online in 16 of 24 runs .*--where 'hp_drop_init>=0'"):
        fit_scaling(table, laws=["hp_drop ~ params"], n_bootstrap=0, loss_law=False)
    with pytest.raises(InputError, match=r"nothing to fit .*; hp_drop: tuned online in 16 of 24 runs"):
        fit_scaling(table, n_bootstrap=0, loss_law=False)
    fit = fit_scaling(load(_runs(tmp_path, spoil=mixed), where=["hp_drop_init>=0"]), n_bootstrap=0, loss_law=False)
    assert fit.learned["hp_drop"].points["n_runs"].sum() == 16

    def variants(frame):
        frame.loc[frame["seed"] == 0, "hp_variant"] = "linearized"
        return frame

    with pytest.raises(InputError, match=r"differ in hp_variant \(centred, linearized\).*--where hp_variant=centred"):
        fit_scaling(load(_runs(tmp_path, spoil=variants)), laws=["hp_drop ~ params"], n_bootstrap=0, loss_law=False)


def test_fit_scaling_cli_reports_writes_json_and_figures_and_refuses_zero_in_one_line(tmp_path):
    path = _runs(tmp_path)
    out = tmp_path / "fit"
    proc = run_cli([path, "--law", "hp_drop ~ params + tokens", "--bootstrap", "200", "--no-loss-law",
                    "--out", out, "--json", "--predict", "params=1e6,tokens=2e6"])
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    law = doc["learned_laws"]["hp_drop"]
    assert law["law"] == "hp_drop ~ params + tokens" and law["bootstrap_over"] == "runs" and law["n_runs"] == 24
    assert len(law["points"]) == 8 and law["tuned_online"]
    assert doc["validation"]["hp_drop"]["error_kind"] == "log10"
    assert "hp_drop" in doc["predictions"][0]["predictions"]
    assert (out / "law_hp_drop.png").is_file() and (out / "residuals.png").is_file()
    text = run_cli([path, "--law", "hp_drop ~ params", "--bootstrap", "50", "--no-loss-law"]).stdout
    assert "hp_drop law (tuned online by each run" in text and "bootstrap over runs" in text
    assert "leave-largest-out (params = 3e+05" in text

    bad = run_cli([_runs(tmp_path, spoil=_zero, name="zero.csv"), "--law", "hp_drop ~ params"])
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "hp_drop>0" in bad.stderr
    missing = run_cli([path, "--law", "hp_dorp ~ params"])
    assert missing.returncode == 2 and "did you mean 'hp_drop'" in missing.stderr


def test_under_the_joint_model_a_tuned_column_is_a_law_and_no_nuisance_term(tmp_path):
    rng = np.random.default_rng(1)
    rows = []
    for N in (1e7, 3e7, 1e8, 3e8):
        for D in (1e9, 4e9):
            for s in range(8):
                lr = 10 ** rng.uniform(-4, -1)
                lr_star = 3e-3 * (N / 1e7) ** -0.3
                rows.append({"trial_id": f"{N:.0e}-{D:.0e}-{s}", "status": "completed", "params": N, "tokens": D,
                             "lr": lr, "loss": 2 + 400 / N**0.3 + 300 / D**0.3 + 0.05 * np.log(lr / lr_star) ** 2,
                             "hp_drop": 0.1 * (N / 1e7) ** A * np.exp(rng.normal(0, 0.1)), "hp_drop_init": 0.05})
    path = tmp_path / "search.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    fit = fit_scaling(load(path), laws=["hp_drop ~ params"], method="joint", n_bootstrap=20)
    assert fit.method == "joint" and not fit.joint.nuisance
    law = fit.learned["hp_drop"].law
    assert law.intervals["params"][0] < A < law.intervals["params"][1]
    assert "hp_drop" in fit.predict(params=1e9, tokens=1e10).values and "hp_drop" in fit.validation
