"""SIGKILL the sweep driver mid-sweep, resume with a new driver, and check every trial id appears exactly once.

A killed driver's Ray agents outlive it for about a minute, still listening on loopback;
the resuming driver must start its own Ray beside them, neither joining nor waiting for them.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO
from tests.sweep.listening import descendants, is_loopback, listening
from tests.sweep.slow_bowl import write_spec
from tunescale.contract.store import read_trials
from tunescale.sweep.plan import plan
from tunescale.sweep.spec import load_spec


def _in_session(sid: int) -> set[int]:
    """Live processes of session `sid` (a killed driver's orphans keep its session)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def test_sigkilled_driver_resumes_beside_its_lingering_ray_without_losing_or_repeating_trials(tmp_path):
    spec_path = write_spec(tmp_path, "k", sleep_s=0.15)
    trials_dir = tmp_path / "run" / "trials"
    command = [sys.executable, "-m", "tunescale.cli.main", "sweep", str(spec_path), "--num-cpus", "2", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    driver = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(trials_dir.glob("*.parquet"))) < 2:
            assert driver.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.05)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        before = set(read_trials(tmp_path / "run")["trial_id"])
        spec = load_spec(spec_path)
        assert 2 <= len(before) < len(plan(spec))

        resume = subprocess.Popen([*command, "--resume", "--json"], cwd=REPO, env=env, start_new_session=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sockets, beside, beside_sockets = set(), set(), []
        while resume.poll() is None:
            sockets.update(listening(descendants(resume.pid)))
            if not beside and "raylet" in {name for _, name, _ in sockets}:
                beside = _in_session(driver.pid)  # the killed driver's Ray still alive as the new one runs
                beside_sockets = listening(beside)
            time.sleep(0.2)
        out, err = resume.communicate()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)  # what still lingers of the killed driver's Ray
    assert resume.returncode == 0, err[-2000:]
    summary = json.loads(out[out.index('{\n  "name"'):])
    assert summary["cluster"] == "local" and summary["resumed"] >= len(before)
    assert {name for _, name, _ in sockets} >= {"gcs_server", "raylet"}, "the resume started no Ray of its own"
    assert beside, "nothing of the killed driver's Ray outlived it until the resume's Ray ran: nothing checked"
    assert all(is_loopback(address) for _, _, address in [*sockets, *beside_sockets]), (sockets, beside_sockets)
    ids = list(read_trials(tmp_path / "run", validated=True)["trial_id"])
    assert sorted(ids) == sorted(t.trial_id for t in plan(spec))
    assert len(ids) == len(set(ids))
