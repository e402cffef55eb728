"""The study report: numbers agree with the trial stores, the page renders in a real browser."""

from __future__ import annotations

import json
import shutil
from functools import partial

import pytest

from tests.analyses import browser
from tests.conftest import REPO, run_main
from tunescale.analyses import transfer
from tunescale.analyses.figures import script_main
from tunescale.analyses.report import write_report
from tunescale.analyses.rundir import StudyRun
from tunescale.cli.main import main
from tunescale.contract.errors import InputError
from tunescale.contract.store import read_trials
from tunescale.study.results import StudyFit
from tunescale.study.verdict import Verdict


def check_report_matches_store(run_dir, out_dir) -> dict:
    """Report numbers == what the stores and fit.json hold; returns report.json. Shared with the e2e test."""
    page = write_report(run_dir, out_dir)
    numbers = json.loads((out_dir / "report.json").read_text())
    fit = StudyFit.load(run_dir / "fit.json")
    for stage in ("proxies", "target"):
        df = read_trials(run_dir / stage)
        inv = numbers["inventory"][stage]
        assert inv["trials"] == len(df)
        assert inv["by_status"] == {k: int(v) for k, v in df["status"].value_counts().items()}
        assert inv["flops"] == pytest.approx(df["flops"].sum(), rel=1e-12)
    target = read_trials(run_dir / "target")
    done = target[target["status"] == "completed"]
    v = numbers["verification"]
    assert v["best_of_grid_loss"] == pytest.approx(done["loss"].min(), rel=1e-12)
    at_pred = done
    for hp, want in fit.prediction.settings.items():
        if want is not None:
            at_pred = at_pred[(at_pred[hp] - want).abs() <= 1e-12 * max(abs(want), 1e-300)]
    assert v["loss_at_predicted"] == pytest.approx(at_pred["loss"].min(), rel=1e-12)
    assert v["gap_pct"] == pytest.approx(100 * (v["loss_at_predicted"] / v["best_of_grid_loss"] - 1))
    ratio = read_trials(run_dir / "proxies")["flops"].sum() / fit.target.flops
    assert numbers["inventory"]["proxy_to_target_run_flops"] == pytest.approx(ratio, rel=1e-12)
    html = page.read_text()
    assert f"{v['best_of_grid_loss']:.4g}" in html and f"{ratio:.4g}" in html
    for name in ("transfer", "hp_laws", "loss_law", "validation", "verification", "inventory"):
        assert (out_dir / f"{name}.png").stat().st_size > 0 and (out_dir / f"{name}.pdf").stat().st_size > 0
    assert html.count('<img alt="') == 6 and 'src="data:image/png;base64,' in html
    return numbers


def test_report_numbers_match_store(synthetic_study, tmp_path):
    numbers = check_report_matches_store(synthetic_study, tmp_path / "report")
    assert numbers["inventory"]["target"]["by_status"] == {"completed": 5, "failed": 1}
    assert numbers["inventory"]["proxies"]["by_status"] == {"completed": 56, "diverged": 8}
    # The synthetic surface puts lr* at 3e-3 at every width: no drift, prediction on target.
    assert max(numbers["transfer"]["lr_drift_decades"].values()) < 0.02
    assert numbers["verification"]["gap_pct"] == pytest.approx(0.0, abs=0.05)


@pytest.mark.skipif(not browser.available(), reason=f"no Chromium binary at {browser.CHROMIUM}; "
                    "install Debian's 'chromium' package (the README's test command does)")
def test_report_renders_in_headless_chromium(synthetic_study, tmp_path):
    page = write_report(synthetic_study, tmp_path / "report")
    state, console = browser.probe(page, tmp_path)
    assert len(state["imgs"]) == 6
    assert all(img["complete"] and img["w"] > 0 for img in state["imgs"]), state["imgs"]
    assert state["errors"] == [] and console == []
    shot = REPO / "test-artifacts" / "study_report.png"
    assert browser.screenshot(page, shot, tmp_path) == []
    assert shot.stat().st_size > 10_000


def test_report_cli_and_standalone_script(synthetic_study, tmp_path):
    run = run_main(main, "report", synthetic_study, "--out", tmp_path / "r")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "r" / "report.html").is_file()
    one = run_main(partial(script_main, transfer.make, transfer.__doc__), synthetic_study, tmp_path / "t")
    assert one.returncode == 0, one.stderr
    assert (tmp_path / "t" / "transfer.png").is_file() and (tmp_path / "t" / "transfer.pdf").is_file()
    assert "width" in one.stdout


def test_report_on_a_non_study_directory_is_one_line_exit_2(tmp_path):
    (tmp_path / "proxies").mkdir()
    run = run_main(main, "report", tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "target" in run.stderr


def test_fit_and_verdict_read_back_as_written(synthetic_study):
    for name, cls in (("fit.json", StudyFit), ("study.json", Verdict)):
        text = (synthetic_study / name).read_text()
        back = cls.from_json(json.loads(text), name).to_json()
        assert json.dumps(back, indent=1, allow_nan=True) + "\n" == text


def _edited(src, dst, name, edit):
    shutil.copytree(src, dst)
    doc = json.loads((dst / name).read_text())
    edit(doc)
    (dst / name).write_text(json.dumps(doc))
    return dst


@pytest.mark.parametrize(("name", "edit", "key"), [
    ("fit.json", lambda d: d["optima"][3].update(value="abc"), "optima[3].value"),
    ("fit.json", lambda d: d["prediction"]["hps"]["lr"].pop("setting"), "prediction.hps.lr.setting"),
    ("fit.json", lambda d: d["hp_laws"]["lr"].update(axis="width"), "hp_laws.lr.axis"),
    ("study.json", lambda d: d.pop("stages"), "stages"),
    ("study.json", lambda d: d["runs"][0].update(loss=None), "runs[0].loss"),
    ("study.json", lambda d: d["drift"]["lr"].update(many=0.1), "drift.lr.many"),
])
def test_hand_edited_results_name_the_file_and_key(synthetic_study, tmp_path, name, edit, key):
    run_dir = _edited(synthetic_study, tmp_path / "study", name, edit)
    with pytest.raises(InputError) as err:
        StudyRun.load(run_dir)
    msg = str(err.value)
    assert msg.startswith(str(run_dir / name)) and f"'{key}'" in msg and len(msg.splitlines()) == 1


def test_hand_edited_fit_is_one_line_exit_2_through_the_cli(synthetic_study, tmp_path):
    run_dir = _edited(synthetic_study, tmp_path / "study", "fit.json", lambda d: d["target"].update(flops=True))
    run = run_main(main, "report", run_dir)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    line, = run.stderr.strip().splitlines()
    assert "fit.json" in line and "'target.flops'" in line and "expected a number" in line
