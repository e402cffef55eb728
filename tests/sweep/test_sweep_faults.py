"""Faults a sweep survives with one clear line and nothing lost: Ctrl-C, a store that
stops being writable, a cut-short curve file, a second driver on the same store; and a
pickle planted in the store directory, which must never be unpickled."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, run_main, valid_row
from tests.sweep.slow_bowl import write_spec
from tunescale.cli.main import main
from tunescale.contract.errors import StoreError
from tunescale.contract.store import TrialStore, read_trials
from tunescale.sweep.engine import run_sweep
from tunescale.sweep.plan import plan
from tunescale.sweep.spec import load_spec, parse_spec
from tunescale.sweep.storage import LOCK_FILE, driver_lock


def _spec_file(tmp_path):
    return write_spec(tmp_path, "f", sleep_s=0.3)


def test_ctrl_c_stops_the_trials_says_what_is_stored_and_exits_130(tmp_path, local_ray):
    spec_path = _spec_file(tmp_path)
    trials_dir = tmp_path / "run" / "trials"
    # Its own session, as a terminal's foreground job: Ctrl-C reaches the driver and its workers.
    driver = subprocess.Popen(
        [sys.executable, "-m", "tunescale.cli.main", "sweep", str(spec_path), "--num-cpus", "2", "--quiet"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(trials_dir.glob("*.parquet"))) < 2:
            assert driver.poll() is None, driver.communicate()
            time.sleep(0.05)
        os.killpg(driver.pid, signal.SIGINT)
        _, err = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    stored = len(read_trials(tmp_path / "run", validated=True))
    assert driver.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert f"interrupted: {stored} of 8 trials are stored" in last and "--resume" in last, err
    assert "Traceback" not in err and stored < 8
    spec = load_spec(spec_path)
    run_sweep(spec, resume=True, out=None)
    ids = list(read_trials(tmp_path / "run", validated=True)["trial_id"])
    assert sorted(ids) == sorted(t.trial_id for t in plan(spec))


def test_store_turning_unwritable_mid_sweep_stops_in_one_line_and_keeps_the_rows(tmp_path, local_ray):
    storage = tmp_path / "run"
    lrs = [1e-3, 2e-3, 3e-3, 4e-3, 5e-3, 6e-3]
    spec = parse_spec({
        "name": "ro", "algorithm": "grid", "trainable": "tests.sweep.sweep_faults:store_breaking_trial",
        "storage": str(storage), "concurrency": 1, "max_retries": 0, "model": {"widths": 16},
        "budget": {"steps": 10}, "space": {"lr": {"type": "choice", "values": lrs}},
        "fixed": {"hp_break_at_lr": 3e-3, "hp_store": str(storage)},
    })
    with pytest.raises(StoreError, match="cannot write trial .* the rows already stored are intact") as err:
        run_sweep(spec, out=None)
    assert "\n" not in str(err.value)
    rows = read_trials(storage, validated=True)
    assert sorted(rows["lr"]) == [1e-3, 2e-3] and set(rows["status"]) == {"completed"}


def test_pickles_planted_under_the_store_are_never_unpickled(tmp_path, local_ray):
    storage, marker = tmp_path / "run", tmp_path / "planted-code-ran"
    spec = parse_spec({
        "name": "pk", "algorithm": "grid", "trainable": "tests.sweep.sweep_faults:pickle_planting_trial",
        "storage": str(storage), "concurrency": 2, "max_retries": 0, "model": {"widths": 16},
        "budget": {"steps": 10}, "space": {"lr": {"type": "choice", "values": [1e-3, 2e-3]}},
        "fixed": {"hp_die_at_lr": 1e-3, "hp_store": str(storage), "hp_marker": str(marker)},
    })
    run_sweep(spec, out=None)
    assert not marker.exists(), "a pickle under STORAGE/_tune/ was unpickled"
    rows = read_trials(storage, validated=True)
    assert dict(zip(rows["lr"], rows["status"], strict=True)) == {1e-3: "failed", 2e-3: "completed"}


def test_cut_short_curve_file_is_named_in_one_line(tmp_path):
    store = TrialStore(tmp_path / "run")
    store.write(valid_row(trial_id="a"), [{"step": 1, "tokens": 16.0, "metric": "eval_loss", "value": 2.0}])
    curve = tmp_path / "run" / "curves" / "a.parquet"
    for damage in (b"", curve.read_bytes()[:40]):
        curve.write_bytes(damage)
        with pytest.raises(Exception, match=f"{curve}: not a readable Parquet file") as err:
            store.curves("a")
        assert type(err.value).__name__ == "InputError" and "\n" not in str(err.value)


CARBS = """
name = "cb"
algorithm = "carbs"
trainable = "tunescale.trials.synthetic:quadratic_trial"
storage = "{storage}"
num_samples = 3
concurrency = 1
[model]
widths = 16
[budget]
steps = 10
[space.lr]
type = "log"
low = 1e-4
high = 1e-1
"""


def test_carbs_resume_over_a_zero_byte_curve_file_names_it(tmp_path, local_ray):
    spec_path = tmp_path / "cb.toml"
    spec_path.write_text(CARBS.format(storage=tmp_path / "run"))
    run_sweep(load_spec(spec_path), out=None)
    curve = sorted((tmp_path / "run" / "curves").glob("*.parquet"))[0]
    curve.write_bytes(b"")
    spec_text = spec_path.read_text().replace("num_samples = 3", "num_samples = 4")
    spec_path.write_text(spec_text)
    r = run_main(main, "sweep", spec_path, "--resume", "--quiet")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"{curve}: not a readable Parquet file" in r.stderr


def test_second_driver_on_a_store_is_refused_and_a_dead_drivers_lock_is_gone(tmp_path):
    spec_path = _spec_file(tmp_path)
    store = tmp_path / "run"
    TrialStore(store)
    with driver_lock(str(store)):
        r = run_main(main, "sweep", spec_path, "--quiet")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert f"another sweep driver (pid {os.getpid()} on" in r.stderr
    # A driver killed while holding the lock: the kernel drops the lock with the process.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from tunescale.sweep.storage import driver_lock\n"
         f"with driver_lock({str(store)!r}):\n    print('held', flush=True); time.sleep(60)"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (store / LOCK_FILE).exists()
    with driver_lock(str(store)):
        pass
