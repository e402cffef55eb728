"""Shared test helpers: the repository root and a valid trial row to start from."""

from __future__ import annotations

import sys
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


@pytest.fixture
def python() -> str:
    return sys.executable


@pytest.fixture(scope="session")
def local_ray():
    """One loopback Ray instance shared by every Ray test of the session (a start costs ~4 s)."""
    import ray

    ray.init(_node_ip_address="127.0.0.1", num_cpus=2, include_dashboard=False,
             configure_logging=False, log_to_driver=False)
    yield
    ray.shutdown()
