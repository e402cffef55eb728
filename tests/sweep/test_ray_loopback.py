"""A local sweep's Ray listens on loopback only, starts its own instance, and starts in bounded time.

Each test runs `tunescale sweep` as its own process (a fresh Ray, as a user gets) and
reads the sockets of that process tree from /proc while the trials run, or kills one of
its Ray processes while Ray starts.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.sweep.listening import descendants, is_loopback, listening
from tests.sweep.slow_bowl import write_spec
from tunescale.contract.store import read_trials


def _sweep(tmp_path, sleep_s=0.4, num=4, **env) -> subprocess.Popen:
    spec = write_spec(tmp_path, "lo", sleep_s=sleep_s, low=1e-3, high=1e-2, num=num)
    return subprocess.Popen(
        [sys.executable, "-m", "tunescale.cli.main", "sweep", str(spec), "--num-cpus", "2", "--quiet"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **env}, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _is_worker(argv: list[str]) -> bool:
    return any(a.endswith("default_worker.py") for a in argv[1:3])


def _kill_first(driver: subprocess.Popen, wanted) -> str:
    """SIGKILL the first process below the driver whose argv `wanted` accepts, as soon as it exists."""
    deadline = time.monotonic() + 120
    while driver.poll() is None and time.monotonic() < deadline:
        for pid in descendants(driver.pid) - {driver.pid}:
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            except OSError:
                continue
            if wanted(argv):
                os.kill(pid, signal.SIGKILL)
                return argv[0]
        time.sleep(0.01)
    raise AssertionError(f"no such process appeared; the driver ended with {driver.returncode}")


def _finish(driver: subprocess.Popen, timeout: float) -> tuple[str, str]:
    try:
        return driver.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.communicate()
        raise AssertionError(f"the driver still ran after {timeout} s: a hang") from None


def test_local_sweep_listens_on_loopback_only_and_ignores_ray_address(tmp_path):
    # RAY_ADDRESS points at nothing: a local sweep must not try to join it.
    driver = _sweep(tmp_path, RAY_ADDRESS="127.0.0.1:1")
    seen: dict[tuple[int, str, str], None] = {}
    try:
        deadline = time.monotonic() + 120
        while driver.poll() is None and time.monotonic() < deadline:
            for sock in listening(descendants(driver.pid)):
                seen[sock] = None
            time.sleep(0.2)
        out, err = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    assert driver.returncode == 0, err
    names = {name for _, name, _ in seen}
    assert {"gcs_server", "raylet"} <= names, f"saw no Ray servers listening: {sorted(seen)}"
    exposed = [s for s in seen if not is_loopback(s[2])]
    assert not exposed, f"Ray processes listening beyond loopback: {exposed}"
    assert len(read_trials(tmp_path / "run")) == 4


def test_ray_start_is_bounded_with_a_one_line_error(tmp_path):
    start = time.monotonic()
    driver = _sweep(tmp_path, TUNESCALE_RAY_START_TIMEOUT="0.2")
    out, err = driver.communicate(timeout=90)
    assert driver.returncode == 2
    # Ray prints its token-auth banner before; ours is the last line, with no traceback.
    assert err.splitlines()[-1].startswith("tunescale: error: the local Ray did not start within 0.2 s"), err
    assert "Traceback" not in err
    assert time.monotonic() - start < 60


def test_a_worker_killed_while_ray_starts_neither_hangs_nor_loses_a_trial(tmp_path):
    # Ray's default makes the first driver wait for a worker started for it, inside C++ code
    # holding the GIL (no time-out, no Ctrl-C); killing that worker then hung the driver for good.
    # The raylet notices a dead worker after worker_register_timeout_seconds (60 by default).
    driver = _sweep(tmp_path, sleep_s=0, num=2, TUNESCALE_RAY_START_TIMEOUT="30",
                    RAY_worker_register_timeout_seconds="10")
    _kill_first(driver, _is_worker)
    out, err = _finish(driver, 120)
    assert driver.returncode == 0, err[-2000:]
    assert len(read_trials(tmp_path / "run", validated=True)) == 2


@pytest.mark.parametrize("bound, expect", [
    ("10", "the local Ray did not start within 10 s"),
    pytest.param("120", "the local Ray failed to start (The current node timed out during startup",
                 marks=pytest.mark.slow),
])
def test_raylet_killed_while_ray_starts_is_one_line(tmp_path, bound, expect):
    # Ray gives up on a node whose raylet died after 30 s; the bound, when shorter, speaks first.
    driver = _sweep(tmp_path, TUNESCALE_RAY_START_TIMEOUT=bound)
    assert _kill_first(driver, lambda argv: argv[0].endswith("/raylet"))
    out, err = _finish(driver, 120)
    assert driver.returncode == 2, err[-2000:]
    assert err.splitlines()[-1].startswith(f"tunescale: error: {expect}"), err[-2000:]
    assert "Traceback" not in err
