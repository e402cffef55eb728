"""Bad options of fit-scaling, trials show, report and the checks: one line, exit 2, before any work."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO, run_main, valid_row
from tunescale.cli.main import main
from tunescale.contract.store import TrialStore


@pytest.fixture
def sweep_csv(tmp_path):
    rows = [{"trial_id": f"s{i}-{j}", "status": "completed", "params": n, "tokens": 20 * n, "lr": lr,
             "loss": 2 + 1e3 / n**0.3 + 0.05 * (np.log(lr) + 6) ** 2}
            for i, n in enumerate(np.geomspace(1e7, 1e9, 4)) for j, lr in enumerate(np.geomspace(1e-4, 1e-1, 7))]
    path = tmp_path / "runs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _refused(*argv, expect: str) -> None:
    r = run_main(main, *argv)
    assert r.returncode == 2, r.stderr + r.stdout
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and "np.float64" not in r.stderr, r.stderr
    assert expect in r.stderr, r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("option, expect", [
    (["--band", "nan"], "--band nan: expected a finite percentage"),
    (["--band", "inf"], "--band inf"),
    (["--seed", "-1"], "--seed -1: expected an integer >= 0"),
    (["--bootstrap", "100000000"], "expected 0 to 100,000 resamples"),
    (["--seq-len", "nan"], "--seq-len nan"),
    (["--predict", "params=1e300,tokens=1e300"], "the scale overflows"),
    (["--json-out", "{tmp}/missing/fit.json"], "does not exist"),
    (["--json-out", "{tmp}"], "is a directory"),
    (["--out", "{tmp}/runs.csv/figs"], "is a file, not a directory"),
])
def test_fit_scaling_option_refused_before_reading(sweep_csv, option, expect):
    option = [o.replace("{tmp}", str(sweep_csv.parent)) for o in option]
    _refused("fit-scaling", sweep_csv, *option, expect=expect)


def _store_with_conflicting_types(tmp_path):
    store = TrialStore(tmp_path / "run")
    store.write(valid_row(0))
    store.write(valid_row(1))
    # A file written by something else, with `seed` as text: the concat cannot unify it.
    table = pd.DataFrame([{**valid_row(2), "seed": "two"}])
    table.to_parquet(tmp_path / "run" / "trials" / "t00002.parquet")
    return tmp_path / "run"


@pytest.mark.parametrize("command", [["fit-scaling"], ["trials", "show"]])
def test_conflicting_column_types_across_files_name_the_file(tmp_path, command):
    run = _store_with_conflicting_types(tmp_path)
    _refused(*command, run, expect="t00002.parquet: column 'seed' is large_string, but t00000.parquet has it as int64")


@pytest.mark.parametrize("top", ["-1", "0"])
def test_trials_show_top_below_one(tmp_path, top):
    TrialStore(tmp_path / "run").write(valid_row())
    _refused("trials", "show", tmp_path / "run", "--top", top, expect="--top: expected an integer >= 1")


def test_trials_show_into_a_closed_pipe_has_no_traceback(tmp_path):
    store = TrialStore(tmp_path / "run")
    for i in range(40):
        store.write(valid_row(i))
    cmd = (f"{sys.executable} -m tunescale.cli.main trials show {tmp_path / 'run'} --top 40 | head -1")
    r = subprocess.run(["bash", "-c", cmd], cwd=REPO, capture_output=True, text=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert r.stdout.count("\n") == 1 and "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr


def test_report_out_that_is_a_file(tmp_path):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    _refused("report", tmp_path, "--out", blocker, expect="is a file, not a directory")


@pytest.mark.parametrize("option, expect", [
    (["--lr=-1"], "--lr: expected a finite number > 0, got -1"),
    (["--lr", "nan"], "--lr: expected a finite number > 0, got nan"),
    (["--steps", "0"], "--steps: expected an integer >= 1, got 0"),
    (["--widths", "32,0"], "expected comma-separated integers >= 1"),
    (["--out", "{file}"], "is a file, not a directory"),
])
def test_coord_check_options(tmp_path, option, expect):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    _refused("coord-check", *[o.replace("{file}", str(blocker)) for o in option], expect=expect)


@pytest.mark.parametrize("option, expect", [
    (["--steps", "0"], "--steps: expected an integer >= 1"),
    (["--lrs", "1e-3,-1"], "expected comma-separated numbers > 0"),
])
def test_transfer_check_options(option, expect):
    _refused("transfer-check", *option, expect=expect)


@pytest.mark.parametrize("n_scales", [1, 2])
def test_fit_scaling_with_too_few_scales_says_lr_was_swept(tmp_path, n_scales):
    rows = [{"trial_id": f"s{i}-{j}", "status": "completed", "params": n, "tokens": 20 * n, "lr": lr, "loss": 2 + lr}
            for i, n in enumerate(np.geomspace(1e7, 1e9, n_scales)) for j, lr in enumerate(np.geomspace(1e-4, 1e-1, 7))]
    path = tmp_path / "few.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    _refused("fit-scaling", path, "--bootstrap", "10",
             expect=f"lr swept at 3+ values, but only at {n_scales} scale(s); a law needs runs at 3 or more scales")


@pytest.mark.parametrize("command", [
    ["fit-scaling", "{csv}", "--out", "{dir}"],
    ["fit-scaling", "{csv}", "--out", "{dir}/figs"],
    ["fit-scaling", "{csv}", "--json-out", "{dir}/fit.json"],
    ["report", "{tmp}", "--out", "{dir}"],
    ["coord-check", "--widths", "16,32", "--steps", "1", "--out", "{dir}"],
    ["transfer-check", "--steps", "1", "--out", "{dir}/drift"],
])
def test_output_into_a_directory_that_cannot_be_written_is_refused_before_any_work(
        sweep_csv, unwritable_dir, command):
    fill = {"{csv}": str(sweep_csv), "{tmp}": str(sweep_csv.parent), "{dir}": str(unwritable_dir)}
    argv = [next((a.replace(k, v) for k, v in fill.items() if k in a), a) for a in command]
    _refused(*argv, expect=f"{unwritable_dir} cannot be written")
