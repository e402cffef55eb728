"""What a user's environment gets from `pip install tunescale`: installed names and the light core.

The core wheel (no extra) must fit a table of runs with `fit-scaling` without torch, Ray,
BoTorch or Optuna; every package must import as `tunescale.<layer>` and nothing as a
generic top-level name. These tests build and install the real wheel into a fresh venv.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import REPO

LAYERS = ("contract", "scaling", "search", "trials", "sweep", "study", "analyses", "cli")
HEAVY = ("torch", "ray", "botorch", "optuna")


def _run(*args, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory) -> Path:
    """A fresh venv holding the core wheel and its dependencies only."""
    root = tmp_path_factory.mktemp("core")
    source = root / "source"  # setuptools builds in the source tree: keep the checkout clean
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".venv", ".git", "runs", "build", "*.egg-info"))
    built = _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", root / "dist", source, cwd=root)
    assert built.returncode == 0, built.stderr
    (wheel,) = (root / "dist").glob("tunescale-*.whl")
    venv.create(root / "venv", with_pip=True)
    bin_dir = root / "venv" / "bin"
    installed = _run(bin_dir / "python", "-m", "pip", "install", "-q", wheel, cwd=root)
    assert installed.returncode == 0, installed.stderr
    return bin_dir


def test_core_wheel_fits_chinchilla_without_torch(core_venv, tmp_path):
    table = REPO / "tests" / "data" / "chinchilla_svg_extracted.csv"
    fit = _run(core_venv / "fit-scaling", table, "--params-col", "Model Size", "--flops-col", "Training FLOP",
               "--exclude-top-loss", "5", "--json-out", tmp_path / "fit.json", cwd=tmp_path)
    assert fit.returncode == 0, fit.stderr
    assert "loss" in fit.stdout and (tmp_path / "fit.json").is_file()
    for module in HEAVY:
        missing = _run(core_venv / "python", "-c", f"import {module}", cwd=tmp_path)
        assert missing.returncode != 0, f"the core install pulled in {module}"


def test_core_wheel_names_the_extra_a_training_command_needs(core_venv, tmp_path):
    spec = REPO / "sweep" / "specs" / "tiny.toml"
    proc = _run(core_venv / "tunescale", "sweep", spec, "--storage", tmp_path / "store", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "pip install 'tunescale[all]'" in errors[0] and "Traceback" not in proc.stderr
    shown = _run(core_venv / "tunescale", "trials", "show", tmp_path / "missing", cwd=tmp_path)
    assert shown.returncode == 2 and "Traceback" not in shown.stderr


def test_core_wheel_installs_only_tunescale_names(core_venv, tmp_path):
    imported = _run(core_venv / "python", "-c", "; ".join(f"import tunescale.{layer}" for layer in LAYERS),
                    cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    for bare in LAYERS:
        assert _run(core_venv / "python", "-c", f"import {bare}", cwd=tmp_path).returncode != 0, bare


def test_full_install_has_no_bare_top_level_names(tmp_path):
    """The editable install the tests run under: `import scaling` fails outside the checkout."""
    for bare in ("scaling", "search", "trials", "analyses"):
        proc = _run(sys.executable, "-c", f"import {bare}", cwd=tmp_path)
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, bare
    assert _run(sys.executable, "-c", "import tunescale.scaling", cwd=tmp_path).returncode == 0
