"""SIGKILL the sweep driver mid-sweep, resume, and check every trial id appears exactly once."""

import os
import signal
import subprocess
import sys
import time

from tests.conftest import REPO
from tests.sweep.slow_bowl import write_spec
from tunescale.contract.store import read_trials
from tunescale.sweep.engine import run_sweep
from tunescale.sweep.plan import plan
from tunescale.sweep.spec import load_spec


def test_sigkilled_driver_resumes_without_losing_or_repeating_trials(tmp_path, local_ray):
    spec_path = write_spec(tmp_path, "k", sleep_s=0.15)
    trials_dir = tmp_path / "run" / "trials"
    driver = subprocess.Popen(
        [sys.executable, "-m", "tunescale.cli.main", "sweep", str(spec_path), "--num-cpus", "2", "--quiet"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(trials_dir.glob("*.parquet"))) < 2:
            assert driver.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.05)
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.wait()
    before = set(read_trials(tmp_path / "run")["trial_id"])
    spec = load_spec(spec_path)
    assert 2 <= len(before) < len(plan(spec))
    result = run_sweep(spec, resume=True, out=None)
    ids = list(read_trials(tmp_path / "run", validated=True)["trial_id"])
    assert sorted(ids) == sorted(t.trial_id for t in plan(spec))
    assert len(ids) == len(set(ids))
    assert result.resumed >= len(before)
