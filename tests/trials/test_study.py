"""`tunescale study` end to end on the tiny spec (real proxies, real local Ray), and spec validation."""

from __future__ import annotations

import json
import re

import pytest

from tests.analyses.test_report import check_report_matches_store
from tests.trials.test_cli import tunescale
from tunescale.contract.store import read_trials
from tunescale.study.results import StudyFit
from tunescale.study.run import StudyResult, StudySpecError, load_study_spec, spec_path
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
    lr = fit.prediction.settings["lr"]
    proxies, target = read_trials(run_dir / "proxies"), read_trials(run_dir / "target")
    spec = load_study_spec(spec_path("study_tiny.toml"))
    # every planned trial is in the store exactly once: widths x budgets x LR grid, and the target grid
    assert len(proxies) == len(spec.widths) * len(spec.token_budgets) * spec.space["lr"]["num"]
    assert proxies["trial_id"].is_unique and len(target) == len(spec.lr_multipliers)
    assert set(proxies["width"]) == set(spec.widths) and set(target["width"]) == {spec.target_width}
    # the target is counted as its trial rows count it, and trained at the prediction
    pred_row = target[(target["lr"] - lr).abs() < 1e-12 * lr]
    assert len(pred_row) == 1 and pred_row["lr"].iloc[0] == pytest.approx(fit.prediction.hps["lr"].law.value)
    assert pred_row["params"].iloc[0] == fit.target.params > proxies["params"].max()
    assert pred_row["flops"].iloc[0] == pytest.approx(fit.target.flops, rel=1e-12)
    assert result["compute_ratio"] == pytest.approx(proxies["flops"].sum() / fit.target.flops, rel=1e-12)
    done_t = target[target["status"] == "completed"]
    assert result["best_of_grid_loss"] == pytest.approx(done_t["loss"].min(), rel=1e-12)
    # study.json holds the verdict the command printed
    verdict = Verdict.load(run_dir / "study.json")
    assert [r.role for r in verdict.runs].count("predicted") == 1
    # the text report: tables of rounded numbers, no dict reprs, on one screen
    text = StudyResult(run_dir=str(run_dir), fit=fit, verdict=verdict).report()
    assert "{" not in text and len(text.splitlines()) <= 30
    assert all(len(d.replace(".", "").lstrip("0")) <= 4 for d in re.findall(r"\d+\.\d+", text)), text
    assert verdict.gap_pct == pytest.approx(result["gap_pct"])
    # the report the command wrote, and a fresh one, agree with the stores
    assert (run_dir / "report" / "report.html").is_file()
    numbers = check_report_matches_store(run_dir, tmp_path / "report")
    assert numbers["verification"]["gap_pct"] == pytest.approx(result["gap_pct"])
    # a second run into the same directory without --resume is refused in one line
    again = tunescale("study", "study_tiny.toml", "--out", str(run_dir))
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1 and "--resume" in again.stderr


def test_shipped_specs_are_valid():
    for name in ("study_default.toml", "study_gpu.toml", "study_tiny.toml"):
        spec = load_study_spec(spec_path(name))
        assert spec.target_width > max(spec.widths) and 1.0 in spec.lr_multipliers
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
