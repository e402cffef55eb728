"""The study report: numbers agree with the trial stores, the page renders in a real browser."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.analyses import browser
from tests.conftest import REPO
from tunescale.analyses.report import write_report
from tunescale.contract.store import read_trials


def check_report_matches_store(run_dir, out_dir) -> dict:
    """Report numbers == what the stores and fit.json hold; returns report.json. Shared with the e2e test."""
    page = write_report(run_dir, out_dir)
    numbers = json.loads((out_dir / "report.json").read_text())
    fit = json.loads((run_dir / "fit.json").read_text())
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
    at_pred = done[(done["lr"] - fit["target_settings"]["lr"]).abs() <= 1e-12 * fit["target_settings"]["lr"]]
    assert v["loss_at_predicted"] == pytest.approx(at_pred["loss"].min(), rel=1e-12)
    assert v["gap_pct"] == pytest.approx(100 * (v["loss_at_predicted"] / v["best_of_grid_loss"] - 1))
    ratio = read_trials(run_dir / "proxies")["flops"].sum() / fit["target"]["flops"]
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
    run = subprocess.run([sys.executable, "-m", "tunescale.cli.main", "report", str(synthetic_study), "--out",
                          str(tmp_path / "r")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "r" / "report.html").is_file()
    one = subprocess.run([sys.executable, "-m", "tunescale.analyses.transfer", str(synthetic_study), str(tmp_path / "t")],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr
    assert (tmp_path / "t" / "transfer.png").is_file() and (tmp_path / "t" / "transfer.pdf").is_file()
    assert "width" in one.stdout


def test_report_on_a_non_study_directory_is_one_line_exit_2(tmp_path):
    (tmp_path / "proxies").mkdir()
    run = subprocess.run([sys.executable, "-m", "tunescale.cli.main", "report", str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "target" in run.stderr
