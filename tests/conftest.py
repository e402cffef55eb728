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
