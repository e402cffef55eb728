"""`tunescale study` end to end on the tiny spec (real proxies, real local Ray), and spec validation."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from tests.analyses.test_report import check_report_matches_store
from tests.cli.test_cli import tunescale
from tunescale.contract.store import read_trials
from tunescale.study.results import TAU, TOKEN_BUDGET_TAG, StudyFit
from tunescale.study.run import (
    StudyResult,
    StudySpecError,
    load_study_spec,
    spec_path,
    target_grids,
)
from tunescale.study.verdict import Verdict


def test_tiny_study_end_to_end_report_matches_store(tmp_path):
    run_dir = tmp_path / "study"
    done = tunescale("study", "study_tiny.toml", "--out", str(run_dir), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)  # stdout holds the document and nothing else
    # Ray Tune's own output stays off; off a terminal, progress is a few plain lines per stage
    for banner in ("Configuration for experiment", "TensorBoard", "View detailed results", "Token authentication"):
        assert banner not in done.stderr
    assert [line for line in done.stderr.splitlines() if not line.startswith("[")] == []
    fit = StudyFit.load(run_dir / "fit.json")
    assert fit.scaling["method"] == "grid" and "swept its proxies on a grid" in fit.scaling["method_reason"]
    proxies, target = read_trials(run_dir / "proxies"), read_trials(run_dir / "target")
    spec = load_study_spec(spec_path("study_tiny.toml"))
    assert spec.swept == ("lr", "batch_size", "weight_decay")
    # every planned trial is in the store exactly once: widths x budgets x (lr x batch-size grid, then the
    # other weight decays at the best grid point of each budget), and the target's one-at-a-time grids
    n_lr, n_bs, n_wd = (len(spec.space["lr"]["values"]) if "values" in spec.space["lr"] else spec.space["lr"]["num"],
                        len(spec.space["batch_size"]["values"]), len(spec.space["weight_decay"]["values"]))
    assert len(proxies) == len(spec.widths) * len(spec.token_budgets) * (n_lr * n_bs + n_wd - 1)
    assert proxies["trial_id"].is_unique and set(target["width"]) == {spec.target_width}
    grids = target_grids(fit.prediction.settings, spec.multipliers)
    assert len(target) == sum(len(values) for values in grids.values())
    assert set(proxies["width"]) == set(spec.widths)
    # tokens are fixed per scale whatever the batch size: the steps change instead
    for _, scale in proxies.groupby(["width", "tokens"]):
        sequences = scale["hp_steps"] * scale["batch_size"]
        assert sequences.nunique() == 1 and scale["batch_size"].nunique() == n_bs
    # every swept hyperparameter is predicted: by its law, validated by leaving the largest scale out, or,
    # where its optima sit on the grid's edge, by the optimum at the largest proxy scale, with a warning
    assert "lr" in fit.hp_laws, fit.warnings
    for hp in spec.swept:
        assert fit.prediction.settings[hp] is not None
        law = TAU if hp == "weight_decay" and TAU in fit.hp_laws else hp  # weight decay's law is of its timescale
        if law in fit.hp_laws:
            assert fit.prediction.hps[law].law is not None and law in fit.validation
        else:
            assert any(w.startswith(hp) for w in fit.warnings), (hp, fit.warnings)
    # the target is counted as its trial rows count it, and trained at the predicted triple
    settings = fit.prediction.settings
    at = target
    for hp in spec.swept:
        at = at[(at[hp] - settings[hp]).abs() <= 1e-12 * settings[hp]]
    assert len(at) == 1 and at["lr"].iloc[0] == pytest.approx(fit.prediction.hps["lr"].law.value)
    if TAU in fit.hp_laws:  # the λ trained with gives the predicted timescale at the target's lr and steps
        assert at["hp_tau"].iloc[0] == pytest.approx(fit.prediction.hps[TAU].law.value, rel=1e-9)
    assert at["params"].iloc[0] == fit.target.params > proxies["params"].max()
    assert at["flops"].iloc[0] / at["tokens"].iloc[0] == pytest.approx(fit.target.flops / fit.target.tokens)
    assert result["compute_ratio"] == pytest.approx(proxies["flops"].sum() / fit.target.flops, rel=1e-12)
    done_t = target[target["status"] == "completed"]
    assert result["best_of_grid_loss"] == pytest.approx(done_t["loss"].min(), rel=1e-12)
    # each hyperparameter's grid: the others at their predictions, its own at prediction x multipliers
    for hp in spec.multipliers:
        line = target
        for other in spec.swept:
            if other != hp:
                line = line[(line[other] - settings[other]).abs() <= 1e-12 * settings[other]]
        # the predicted run is on every line, trained once
        assert len(line) == len(set(grids.get(hp, [])) | {settings[hp]}), hp
        if hp in result["gap_pct_by_hp"]:
            done = line[line["status"] == "completed"]
            assert result["gap_pct_by_hp"][hp] == pytest.approx(100 * (at["loss"].iloc[0] / done["loss"].min() - 1))
    # study.json holds the verdict the command printed
    verdict = Verdict.load(run_dir / "study.json")
    assert [r.role for r in verdict.runs].count("predicted") == 1
    # the text report: tables of rounded numbers, no dict reprs, on one screen
    text = StudyResult(run_dir=str(run_dir), fit=fit, verdict=verdict).report()
    assert "{" not in text and len(text.splitlines()) <= 36  # one 40-line screen with the stage lines
    assert all(len(d.replace(".", "").lstrip("0")) <= 4 for d in re.findall(r"\d+\.\d+", text)), text
    assert verdict.gap_pct == pytest.approx(result["gap_pct"])
    # the report the command wrote, and a fresh one, agree with the stores
    assert (run_dir / "report" / "report.html").is_file()
    numbers = check_report_matches_store(run_dir, tmp_path / "report")
    assert numbers["verification"]["gap_pct"] == pytest.approx(result["gap_pct"])
    # a second run into the same directory without --resume is refused in one line
    again = tunescale("study", "study_tiny.toml", "--out", str(run_dir))
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1 and "--resume" in again.stderr


def _check_search_study(run_dir, spec_file, result: dict) -> tuple:
    """What a random or CARBS proxy search must leave: `trials` finished configurations of all three
    hyperparameters at every width and budget, one joint model's optima and laws with intervals, the
    prediction trained and judged, a report that agrees with the stores, and a resume that trains nothing."""
    spec = load_study_spec(spec_file)
    fit = StudyFit.load(run_dir / "fit.json")
    proxies, target = read_trials(run_dir / "proxies"), read_trials(run_dir / "target")
    assert len(proxies) == len(spec.widths) * len(spec.token_budgets) * spec.trials and proxies["trial_id"].is_unique
    assert set(proxies["status"]) <= {"completed", "diverged"}  # no trial is stopped early: the fit needs them all
    for hp in spec.swept:
        low, high = (spec.space[hp]["low"], spec.space[hp]["high"]) if hp == "lr" else (
            min(spec.space[hp]["values"]), max(spec.space[hp]["values"]))
        assert proxies[hp].between(low, high).all() and proxies[hp].nunique() >= 3, hp
    assert fit.scaling["method"] == "joint"
    assert "searched its proxies at random or by CARBS" in fit.scaling["method_reason"]
    assert fit.optima and all(o.coef is None and not o.at_edge and o.low <= o.value <= o.high for o in fit.optima)
    lr = fit.prediction.hps["lr"].law
    assert lr is not None and lr.low < lr.value < lr.high and "lr" in fit.hp_laws and "lr" in fit.validation
    loss = fit.prediction.loss
    assert 0 < loss.low < loss.high and loss.value > 0 and "loss" in fit.validation
    for hp in spec.swept:  # by its law, or, where the model resolves no optimum, by the best run, with a warning
        assert fit.prediction.settings[hp] is not None
        assert hp in fit.hp_laws or any(w.startswith(f"{hp}: no optimum") for w in fit.warnings), (hp, fit.warnings)
    for law in fit.hp_laws.values():
        assert law.points and all(p.low <= p.value <= p.high for p in law.points)
    verdict = Verdict.load(run_dir / "study.json")
    assert [r.role for r in verdict.runs].count("predicted") == 1 and len(target) == len(verdict.runs)
    assert verdict.gap_pct is not None and verdict.gap_pct == pytest.approx(result["gap_pct"])
    check_report_matches_store(run_dir, run_dir.parent / "report")
    again = tunescale("study", str(spec_file), "--out", str(run_dir), "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert Verdict.load(run_dir / "study.json").wall_s > verdict.wall_s  # the resume adds to the first run's time
    assert len(read_trials(run_dir / "proxies")) == len(proxies) and len(read_trials(run_dir / "target")) == len(target)
    return spec, proxies


def test_tiny_random_study_end_to_end(tmp_path):
    run_dir = tmp_path / "study"
    spec_file = spec_path("study_tiny_random.toml")
    done = tunescale("study", str(spec_file), "--out", str(run_dir), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    spec, proxies = _check_search_study(run_dir, spec_file, json.loads(done.stdout))
    # muP proxies: lr moves with the token budget only, as the grid study fits it
    assert "params" not in StudyFit.load(run_dir / "fit.json").hp_laws["lr"].form
    # random search draws its configurations once: the same ones at every width and budget
    draws = {w: Counter(map(tuple, g[list(spec.swept)].to_numpy())) for w, g in proxies.groupby("width")}
    assert len(draws[spec.widths[0]]) == spec.trials and all(d == draws[spec.widths[0]] for d in draws.values())


@pytest.mark.slow
def test_tiny_carbs_study_end_to_end(tmp_path):
    spec_file = tmp_path / "carbs.toml"
    text = spec_path("study_tiny_random.toml").read_text()
    spec_file.write_text(text.replace('search = "random"', 'search = "carbs"'))
    run_dir = tmp_path / "study"
    done = tunescale("study", str(spec_file), "--out", str(run_dir), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    spec, proxies = _check_search_study(run_dir, spec_file, json.loads(done.stdout))
    # one search per width and budget, each told only its own budget's trials (tagged on every row)
    assert set(proxies.groupby(["width", TOKEN_BUDGET_TAG]).size()) == {spec.trials}
    done_rows = proxies[proxies["status"] == "completed"]
    assert (done_rows["tokens"] == done_rows[TOKEN_BUDGET_TAG]).all()


def test_shipped_specs_are_valid():
    shipped = ("study_default.toml", "study_gpu.toml", "study_tiny.toml", "study_tiny_random.toml", "study_cpu_8x.toml")
    for name in shipped:
        spec = load_study_spec(spec_path(name))
        assert spec.target_width > max(spec.widths) and 1.0 in spec.multipliers["lr"]
        assert spec.swept == ("lr", "batch_size", "weight_decay") and set(spec.multipliers) == set(spec.swept)
        assert (spec.search, spec.trials) == (("random", 14) if name == "study_tiny_random.toml" else ("grid", None))
    assert load_study_spec(spec_path("study_cpu_8x.toml")).target_width == 8 * max(spec.widths)
    assert spec_path(None).name == "study_default.toml"


def test_bad_spec_lists_every_problem_by_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('bogus = 1\n[proxies]\nwidths = [32, 64]\ntokens = [1e5]\n[target]\nwidth = 32\n'
                   'tokens = 1e5\nlr_multipliers = [0.5, 2.0]\n[fixed]\nlr = 0.1\n')
    with pytest.raises(StudySpecError) as err:
        load_study_spec(bad)
    msg = str(err.value)
    for key in ("bogus", "proxies.space", "proxies.widths", "target.width", "target.lr_multipliers", "fixed.lr"):
        assert key in msg
    cli = tunescale("study", str(bad))
    assert cli.returncode == 2 and "Traceback" not in cli.stderr and len(cli.stderr.strip().splitlines()) == 1


def test_bad_integer_fields_are_spec_problems_not_tracebacks(tmp_path):
    text = spec_path("study_tiny.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("seed = 0", 'seed = "abc"').replace("concurrency = 2", "concurrency = 0")
                   .replace("n_bootstrap = 50", "n_bootstrap = 0"))
    with pytest.raises(StudySpecError) as err:
        load_study_spec(bad)
    for key in ("'seed'", "'concurrency'", "'fit.n_bootstrap'"):
        assert key in str(err.value)


def test_three_hp_spec_problems_are_named_by_key(tmp_path):
    text = spec_path("study_tiny.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("values = [1, 2, 4]", "values = [2, 4.5]")
                   .replace("tokens = [12_288, 24_576]", "tokens = [12_000, 24_576]")
                   .replace("seq_len = 64", "seq_len = 64\nweight_decay = 0.1\nbatch_size = 4")
                   .replace("weight_decay_multipliers = [0.25, 1.0, 4.0]", "weight_decay_multipliers = [0.25, 4.0]"))
    with pytest.raises(StudySpecError) as err:
        load_study_spec(bad)
    for key in ("proxies.space.batch_size", "proxies.tokens", "fixed.weight_decay", "fixed.batch_size",
                "target.weight_decay_multipliers"):
        assert key in str(err.value)
    lr_only = tmp_path / "lr_only.toml"
    lr_only.write_text(text.split("[proxies.space.batch_size]")[0] + "[target]" + text.split("[target]")[1])
    with pytest.raises(StudySpecError, match="target.batch_size_multipliers.*not swept"):
        load_study_spec(lr_only)


def test_target_grids_are_one_at_a_time_around_the_prediction():
    grids = target_grids({"lr": 0.01, "batch_size": 6, "weight_decay": 0.5},
                         {"lr": (0.5, 1.0, 2.0), "batch_size": (0.25, 0.5, 1.0, 2.0), "weight_decay": (1.0, 4.0)})
    assert grids == {"lr": [0.005, 0.01, 0.02], "batch_size": [2, 3, 12], "weight_decay": [2.0]}
