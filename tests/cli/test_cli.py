"""`tunescale trials ...` as a user calls it: output, exit codes, one-line errors."""

from __future__ import annotations

import pyarrow.parquet as pq

from tests.conftest import CommandRun, run_main, valid_row
from tunescale.cli.main import main
from tunescale.contract.store import TrialStore


def tunescale(*args: str) -> CommandRun:
    return run_main(main, *args)


def _assert_one_line_error(result: CommandRun, *needles: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_show_and_export(tmp_path):
    store = TrialStore(tmp_path / "run")
    for i in range(12):
        store.write(valid_row(i, loss=3.0 + i * 0.1))
    store.write(valid_row(99, status="diverged", loss=None))
    shown = tunescale("trials", "show", str(tmp_path / "run"), "--top", "3")
    assert shown.returncode == 0, shown.stderr
    assert "13 trials" in shown.stdout and "completed: 12" in shown.stdout and "diverged: 1" in shown.stdout
    assert "t00000" in shown.stdout and "t00011" not in shown.stdout
    out = tmp_path / "x.parquet"
    exported = tunescale("trials", "export", str(tmp_path / "run"), str(out))
    assert exported.returncode == 0 and pq.read_table(out).num_rows == 13


def test_missing_path_is_one_line_exit_2(tmp_path):
    _assert_one_line_error(tunescale("trials", "show", str(tmp_path / "nope")), "nope", "no such file")


def test_unreadable_file_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "trials.parquet"
    bad.write_bytes(b"this is not parquet")
    _assert_one_line_error(tunescale("trials", "show", str(bad)), "trials.parquet", "cannot read")


def test_corrupt_file_in_sweep_dir_is_one_line_exit_2(tmp_path):
    TrialStore(tmp_path).write(valid_row(0))
    (tmp_path / "trials" / "intruder.parquet").write_bytes(b"\x00garbage")
    _assert_one_line_error(tunescale("trials", "show", str(tmp_path)), "intruder.parquet")


def test_invalid_rows_are_one_line_exit_2(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("trial_id,sweep,status,params,tokens,lr,loss\na,s,completed,10,100,0,2.0\n")
    _assert_one_line_error(tunescale("trials", "show", str(path)), "'lr'")


def test_usage_error_is_one_line_exit_2():
    _assert_one_line_error(tunescale("trials", "frobnicate"), "invalid choice")
