"""The trial store under concurrency and crashes, with real writer processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO, valid_row
from tunescale.contract.schema import validate
from tunescale.contract.store import TrialStore, export, read_curves, read_table, read_trials

WRITER = """
import sys
from tests.conftest import valid_row
from tunescale.contract.store import TrialStore
run_dir, worker, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = TrialStore(run_dir)
for i in range(n):
    store.write(valid_row(i, trial_id=f"w{worker}-{i}"),
                curves=[{"step": s, "tokens": 64.0 * s, "metric": "eval_loss", "value": 3.0} for s in range(5)])
"""


def _spawn_writer(run_dir, worker: int, n: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(run_dir), str(worker), str(n)], cwd=REPO)


def _temporaries(run_dir) -> list:
    return [p for p in run_dir.rglob("*") if p.is_file() and (".tmp" in p.parts or p.name.startswith("."))]


def test_roundtrip_keeps_types_extras_and_curves(tmp_path):
    store = TrialStore(tmp_path)
    store.write(valid_row(1, hp_warmup=100), curves=[{"step": 1, "tokens": 10.0, "metric": "train_loss", "value": 4.0}])
    store.write(valid_row(2, status="failed", loss=None))
    df = read_trials(tmp_path, validated=True)
    assert sorted(df["trial_id"]) == ["t00001", "t00002"]
    assert df.loc[df.trial_id == "t00001", "hp_warmup"].item() == 100
    assert df.loc[df.trial_id == "t00001", "flops"].item() == 6 * 1_000_000 * 2.0e7
    assert str(df["created_at"].dtype).startswith("datetime64")
    curves = read_curves(tmp_path)
    assert list(curves["metric"]) == ["train_loss"] and curves["trial_id"].item() == "t00001"


def test_rewriting_a_trial_id_replaces_it(tmp_path):
    store = TrialStore(tmp_path)
    store.write(valid_row(1, status="failed", loss=None))
    store.write(valid_row(1))
    df = read_trials(tmp_path)
    assert len(df) == 1 and df["status"].item() == "completed"


def test_eight_concurrent_writers_lose_nothing(tmp_path):
    procs = [_spawn_writer(tmp_path, w, 500) for w in range(8)]
    assert [p.wait(timeout=600) for p in procs] == [0] * 8
    table = read_table(tmp_path, validated=True)
    assert table.num_rows == 4000
    assert len(set(table.column("trial_id").to_pylist())) == 4000
    assert _temporaries(tmp_path) == []


def test_sigkill_mid_write_leaves_no_partial_file(tmp_path):
    proc = _spawn_writer(tmp_path, 0, 100_000)
    trials_dir = tmp_path / "trials"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(trials_dir.glob("*.parquet"))) < 50:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    visible = list(trials_dir.glob("*.parquet"))
    assert len(visible) >= 50
    for path in visible:
        pq.read_table(path)
    table = read_table(tmp_path, validated=True)
    assert table.num_rows == len(visible)
    TrialStore(tmp_path)  # a new writer removes what the dead one left in .tmp/
    assert _temporaries(tmp_path) == []


def test_export_writes_one_valid_file(tmp_path):
    store = TrialStore(tmp_path / "run")
    for i in range(5):
        store.write(valid_row(i))
    out = tmp_path / "all.parquet"
    assert export(tmp_path / "run", out) == 5
    assert validate(pq.read_table(out)).num_rows == 5
    assert read_trials(out)["trial_id"].tolist() == [f"t{i:05d}" for i in range(5)]


def test_reads_csv(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("trial_id,sweep,status,params,tokens,lr,loss\na,s,completed,10,100,0.1,2.0\n")
    assert read_table(path, validated=True).num_rows == 1


def test_store_rejects_invalid_rows(tmp_path):
    from tunescale.contract.errors import SchemaError

    with pytest.raises(SchemaError, match="'lr'"):
        TrialStore(tmp_path).write(valid_row(0, lr=-1.0))
    assert read_table(tmp_path).num_rows == 0
