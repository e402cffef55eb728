"""Shared helpers for scaling tests: run the CLI as a user does, in a subprocess."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

DATA = REPO / "tests" / "data"
SHARED_DATA = REPO.parent / "shared" / "data"  # CI checks out shared/ beside the clone

ENTRY_POINTS = {
    "fit-scaling": [sys.executable, "-m", "tunescale.cli.fit_scaling_cmd"],
    "tunescale fit-scaling": [sys.executable, "-m", "tunescale.cli.main", "fit-scaling"],
}


def run_cli(args, entry="fit-scaling", timeout=120):
    env = {k: v for k, v in os.environ.items() if k != "TUNESCALE_DEBUG"}
    env["PYTHONPATH"] = str(REPO)
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([*ENTRY_POINTS[entry], *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=timeout)


@pytest.fixture(params=list(ENTRY_POINTS))
def entry(request):
    return request.param
