"""The standing code checks run with the tests, so CI enforces them: layers and lint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

BIN = Path(sys.executable).parent


def test_layers_only_import_downward():
    """import-linter's layers contract in pyproject.toml: no module imports a layer above its own."""
    proc = subprocess.run([BIN / "lint-imports"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_ruff_is_clean():
    proc = subprocess.run([BIN / "ruff", "check", "--quiet", "."], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
