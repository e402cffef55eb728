"""A local sweep's Ray listens on loopback only, starts its own instance, and starts in bounded time.

Each test runs `tunescale sweep` as its own process (a fresh Ray, as a user gets) and
reads the sockets of that process tree from /proc while the trials run.
"""

import os
import subprocess
import sys
import time

from tests.conftest import REPO
from tests.sweep.listening import descendants, is_loopback, listening
from tests.sweep.slow_bowl import write_spec
from tunescale.contract.store import read_trials


def _sweep(tmp_path, **env) -> subprocess.Popen:
    spec = write_spec(tmp_path, "lo", sleep_s=0.4, low=1e-3, high=1e-2, num=4)
    return subprocess.Popen(
        [sys.executable, "-m", "tunescale.cli.main", "sweep", str(spec), "--num-cpus", "2", "--quiet"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


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
            driver.kill()
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
