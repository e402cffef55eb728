"""`tunescale trials export` and `trials import`, called as a user does (in process)."""

from __future__ import annotations

import json

import optuna
import pandas as pd
import pytest

from tests.conftest import run_main, valid_row
from tunescale.cli.main import main
from tunescale.contract.store import TrialStore, read_trials

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def store(tmp_path):
    directory = tmp_path / "sweep"
    for i in range(6):
        TrialStore(directory).write(valid_row(i, lr=1e-3 * (i + 1)))
    return directory


@pytest.mark.parametrize("name", ["all.parquet", "all.csv"])
def test_export_writes_every_row_in_the_format_of_the_suffix(store, tmp_path, name):
    out = tmp_path / "out" / name
    run = run_main(main, "trials", "export", store, out)
    assert run.returncode == 0, run.stderr
    frame = pd.read_parquet(out) if name.endswith(".parquet") else pd.read_csv(out)
    assert len(frame) == 6 and sorted(frame["lr"]) == pytest.approx([1e-3 * (i + 1) for i in range(6)])


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        (lambda store, tmp: store / "trials" / "copy.parquet", "would be read as trials"),
        (lambda store, tmp: tmp / "all.txt", "cannot tell the format"),
        (lambda store, tmp: tmp, "is a directory"),
    ],
)
def test_export_refuses_in_one_line(store, tmp_path, target, needle):
    run = run_main(main, "trials", "export", store, target(store, tmp_path))
    assert run.returncode == 2 and needle in run.stderr and run.stderr.count("\n") == 1
    assert len(read_trials(store)) == 6


def test_export_to_an_unwritable_path_is_one_line(store, tmp_path):
    (tmp_path / "a-file").write_text("")
    run = run_main(main, "trials", "export", store, tmp_path / "a-file" / "all.parquet")
    assert run.returncode == 2 and "cannot write" in run.stderr and run.stderr.count("\n") == 1


def test_export_into_a_directory_that_cannot_be_written_is_one_line(store, unwritable_dir):
    run = run_main(main, "trials", "export", store, unwritable_dir / "all.parquet")
    assert run.returncode == 2 and "cannot write the export" in run.stderr and run.stderr.count("\n") == 1
    assert "Traceback" not in run.stderr


def test_export_to_optuna_then_import_gives_the_same_trials(store, tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    out = run_main(main, "trials", "export", store, "--format", "optuna", "--storage", url, "--study", "s")
    assert out.returncode == 0, out.stderr
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 6
    back = run_main(main, "trials", "import", "optuna", url, tmp_path / "back", "--study", "s", "--json")
    assert back.returncode == 0, back.stderr
    assert '"written": 6' in back.stdout
    assert sorted(read_trials(tmp_path / "back")["lr"]) == sorted(read_trials(store)["lr"])


def test_import_of_a_missing_study_is_one_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    optuna.create_study(storage=url, study_name="there")
    run = run_main(main, "trials", "import", "optuna", url, tmp_path / "s", "--study", "nope")
    assert run.returncode == 2 and "nope" in run.stderr and run.stderr.count("\n") == 1


def test_optuna_export_needs_a_storage(store):
    run = run_main(main, "trials", "export", store, "--format", "optuna")
    assert run.returncode == 2 and "--storage" in run.stderr


def test_show_prints_a_rounded_table_or_one_json_document(store):
    text = run_main(main, "trials", "show", store, "--top", "3")
    assert text.returncode == 0, text.stderr
    header = next(line for line in text.stdout.splitlines() if "trial_id" in line)
    assert header.split()[:2] == ["trial_id", "status"] and "loss" in header
    assert "{" not in text.stdout and "0.0030000" not in text.stdout  # no reprs, no unrounded floats
    as_json = run_main(main, "trials", "show", store, "--top", "3", "--json")
    document = json.loads(as_json.stdout)
    assert document["trials"] == 6 and len(document["best"]) == 3
    assert document["best"][0]["loss"] == min(r["loss"] for r in document["best"])
