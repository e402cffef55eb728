"""The README's two set-up commands stay true: CI runs command 2 verbatim."""

from __future__ import annotations

from tests.conftest import REPO


def _ci_command() -> str:
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    return lines[lines.index("# README command 2:") + 1]


def test_ci_runs_the_readme_test_command_verbatim():
    assert _ci_command() in (REPO / "README.md").read_text()


def test_readme_installs_cpu_torch_before_the_package():
    command = _ci_command()
    assert command.index("torch==2.13.0") < command.index("pip install -q -e")
