"""The command line as a whole: console scripts, `--help` examples, `--json`, light imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_main
from tunescale.cli import fit_scaling
from tunescale.cli.main import main

COMMANDS = [["trials"], ["trials", "show"], ["trials", "export"], ["sweep"], ["study"], ["report"],
            ["fit-scaling"], ["coord-check"], ["transfer-check"], ["stn"]]


def _script(name: str) -> str:
    """A console script `pip install -e .` put beside this interpreter."""
    path = Path(sys.executable).with_name(name)
    assert path.exists(), f"{path}: missing; reinstall with pip install -e ."
    return str(path)


def _assert_one_line_exit_2(proc, needle: str) -> None:
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_tunescale_console_script_reports_a_bad_path_in_one_line(tmp_path):
    proc = subprocess.run([_script("tunescale"), "trials", "show", str(tmp_path / "nope")],
                          capture_output=True, text=True, timeout=120)
    _assert_one_line_exit_2(proc, "no such file")


def test_fit_scaling_console_script_reports_a_bad_path_in_one_line(tmp_path):
    proc = subprocess.run([_script("fit-scaling"), str(tmp_path / "nope.csv")],
                          capture_output=True, text=True, timeout=120)
    _assert_one_line_exit_2(proc, "no such file")


def test_building_the_parser_imports_neither_torch_nor_ray():
    code = ("import sys\nfrom tunescale.cli.main import build_parser\nbuild_parser()\n"
            "bad = [m for m in ('torch', 'ray') if m in sys.modules]\nassert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_help_ends_with_examples(command):
    run = run_main(main, *command, "--help")
    assert run.returncode == 0 and run.stderr == ""
    lines = run.stdout.split("\nexamples:\n")[1].splitlines()
    examples = [line for line in lines if not line.startswith("   ")]  # deeper indents continue a line
    assert 1 <= len(examples) <= 3 and all(" ".join(command) in line for line in examples)


def test_fit_scaling_help_lists_the_same_examples():
    run = run_main(fit_scaling.main, "--help")
    assert run.returncode == 0 and all(example in run.stdout for example in fit_scaling.EXAMPLES)


def test_usage_errors_return_2_in_one_line():
    for entry, argv in ((main, ["sweep"]), (main, ["frobnicate"]), (fit_scaling.main, ["x.csv", "--band", "wide"])):
        _assert_one_line_exit_2(run_main(entry, *argv), "error:")


def test_json_prints_only_the_document_and_json_out_writes_it(tmp_path):
    table = tmp_path / "runs.csv"
    rows = [f"{n:g},{20 * n:g},{lr:g},{2 + 1e3 / n**0.3 + 0.05 * (np.log(lr) + 6) ** 2}"
            for n in np.geomspace(1e7, 1e9, 4) for lr in np.geomspace(1e-4, 1e-1, 7)]
    table.write_text("params,tokens,lr,loss\n" + "\n".join(rows) + "\n")
    argv = ["fit-scaling", table, "--bootstrap", "0", "--no-validate"]
    as_json = run_main(main, *argv, "--json")
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert len(document["optima"]) == 4
    out = tmp_path / "fit.json"
    as_text = run_main(main, *argv, "--json-out", out)
    assert as_text.returncode == 0 and "28 rows" in as_text.stdout and f"wrote {out}" in as_text.stdout
    assert json.loads(out.read_text()) == document
    _assert_one_line_exit_2(run_main(main, *argv, "--json-out", tmp_path / "no" / "fit.json"), "--json-out")
