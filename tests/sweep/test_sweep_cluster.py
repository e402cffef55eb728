"""A real two-node Ray cluster on loopback (head + worker via `ray start`), swept with --address."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tunescale.contract.store import read_trials

SPEC = """
name = "c"
algorithm = "grid"
trainable = "tunescale.trials.synthetic:quadratic_trial"
storage = "{storage}"
concurrency = 2
[model]
widths = [16, 32]
[budget]
steps = 10
[space.lr]
type = "log"
low = 1e-3
high = 1e-2
num = 2
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_sweep_on_a_two_node_loopback_cluster(tmp_path):
    ray_bin = str(Path(sys.executable).with_name("ray"))
    port = _free_port()
    address = f"127.0.0.1:{port}"
    # Own temp dir and process group: teardown ends exactly this cluster, not others on the machine.
    temp = Path("/tmp") / f"rt{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "token"}
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--block"]
    head = subprocess.Popen([ray_bin, "start", "--head", f"--port={port}", "--include-dashboard=false",
                             f"--temp-dir={temp}", *common], env=env, cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"import ray,time\nfor _ in range(60):\n  try:\n    ray.init(address='{address}'); break\n"
                "  except Exception: time.sleep(1)",
            ],
            env=env,
            cwd=REPO,
            check=True,
            timeout=120,
            capture_output=True,
        )
        worker = subprocess.Popen(
            [ray_bin, "start", f"--address={address}", *common],
            env=env,
            cwd=REPO,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        spec_path = tmp_path / "c.toml"
        spec_path.write_text(SPEC.format(storage=tmp_path / "run"))
        nodes = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import ray,time\nray.init(address='{address}')\n"
                "for _ in range(60):\n  n=len([x for x in ray.nodes() if x['Alive']])\n  if n==2: break\n"
                "  time.sleep(1)\nprint(n)",
            ],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert nodes.stdout.strip().endswith("2"), nodes.stderr[-500:]
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "tunescale.cli.main",
                "sweep",
                str(spec_path),
                "--address",
                address,
                "--quiet",
                "--json",
            ],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        summary = json.loads(run.stdout[run.stdout.index('{\n  "name"') :])
        assert summary["cluster"].endswith(f":{port}"), run.stdout
        df = read_trials(tmp_path / "run", validated=True)
        assert len(df) == 4 and set(df["status"]) == {"completed"}
        # --address auto follows RAY_ADDRESS (a sweep without --address never does) and says where it went.
        auto = subprocess.run(
            [
                sys.executable,
                "-m",
                "tunescale.cli.main",
                "sweep",
                str(spec_path),
                "--address",
                "auto",
                "--storage",
                str(tmp_path / "auto"),
            ],
            env={**env, "RAY_ADDRESS": address},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert auto.returncode == 0, auto.stderr[-2000:]
        assert re.search(rf"joined the Ray cluster at [0-9.]+:{port}", auto.stderr), auto.stderr[-2000:]
    finally:
        for proc in (worker, head):
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=60)
        shutil.rmtree(temp, ignore_errors=True)
