"""Shared test helpers: the repository root, a valid trial row to start from, a command run in process,
an existing directory no one can write."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def valid_row(i: int = 0, **overrides) -> dict:
    """A completed trial row that passes validate(); tests change one field at a time."""
    row = {
        "trial_id": f"t{i:05d}",
        "sweep": "test",
        "status": "completed",
        "params": 1_000_000,
        "tokens": 2.0e7,
        "lr": 1e-3,
        "batch_size": 32,
        "weight_decay": 0.1,
        "loss": 3.0 + (i % 7) * 0.01,
        "seed": i,
    }
    row.update(overrides)
    return row


@dataclass
class CommandRun:
    """What a command line left behind, with the names of `subprocess.CompletedProcess`."""

    returncode: int
    stdout: str
    stderr: str


def run_main(main: Callable[[list[str]], int], *args) -> CommandRun:
    """Call a console script's `main(argv)` in this process (no interpreter start, no re-imports)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return CommandRun(code, out.getvalue(), err.getvalue())


@pytest.fixture(autouse=True)
def _errors_in_one_line(monkeypatch):
    """The one-line error contract holds whatever TUNESCALE_DEBUG the shell running the tests has."""
    monkeypatch.delenv("TUNESCALE_DEBUG", raising=False)


@pytest.fixture
def python() -> str:
    return sys.executable


@pytest.fixture(scope="session")
def local_ray():
    """One loopback Ray instance shared by every Ray test of the session (a start costs ~4 s)."""
    from tunescale.sweep.ray_local import ray_session

    with ray_session(num_cpus=2):
        yield


@pytest.fixture(params=["mode 0o500", "/sys"])
def unwritable_dir(request, tmp_path) -> Path:
    """An existing directory this process cannot create files in.

    A mode-0o500 directory stops a normal user but not root, who passes every permission
    check; sysfs refuses new files to root as well (and is read-only in most containers).
    Each kind is used where it really stops this process, and skipped where it does not.
    """
    from tunescale.contract.writable import dir_problem

    if request.param == "/sys":
        path = Path("/sys")
    else:
        path = tmp_path / "read-only"
        path.mkdir(mode=0o500)
        request.addfinalizer(lambda: path.chmod(0o700))  # so pytest can remove tmp_path
    if not path.is_dir():
        pytest.skip(f"no {path} on this system (not Linux)")
    if dir_problem(path) is None:
        root = " (running as root, which ignores directory modes)" if os.geteuid() == 0 else ""
        pytest.skip(f"this process can write into {path}{root}")
    return path
