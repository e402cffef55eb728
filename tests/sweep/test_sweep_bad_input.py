"""Bad sweep inputs: one line on stderr, exit 2, before Ray starts or any file is written."""

import os
from pathlib import Path

import pytest

from tests.conftest import run_main
from tunescale.cli.main import main

BASE = """
name = "b"
algorithm = "grid"
storage = "{storage}"
{top}
[model]
widths = {widths}
[budget]
steps = 5
[space.lr]
{lr}
[fixed]
{fixed}
"""
LR = 'type = "log"\nlow = 1e-3\nhigh = 1e-2\nnum = 2'


def _write(tmp_path, *, top="", widths="32", lr=LR, fixed="batch_size = 4", storage=None) -> str:
    path = tmp_path / "b.toml"
    path.write_text(BASE.format(storage=storage or tmp_path / "run", top=top, widths=widths, lr=lr, fixed=fixed))
    return str(path)


def _ray_sessions() -> set[Path]:
    """Every local Ray start leaves a session directory (the shared test instance's included)."""
    return set(Path("/tmp/ray").glob("session_2*"))


def _refused(tmp_path, *args, expect: str) -> None:
    before = _ray_sessions()
    r = run_main(main, "sweep", *args, "--quiet")
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert expect in r.stderr, r.stderr
    assert _ray_sessions() == before, "refused after starting Ray"
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run" / "trials").glob("*.parquet"))


@pytest.mark.parametrize("fixed, expect", [
    ("foo = 1", "'fixed.foo': the trainer has no key 'foo'"),
    ('seq_len = "long"', "'fixed.seq_len': expected a positive integer, got 'long'"),
    ("batch_size = -8", "'fixed.batch_size': expected a positive integer, got -8"),
    ('schedule = "exp"', "'fixed.schedule': expected one of cosine, wsd, constant, got 'exp'"),
    ("warmup_frac = 1.5", "'fixed.warmup_frac': expected a number in [0, 1)"),
    ("betas = [0.9]", "'fixed.betas': expected two numbers"),
    ("compile = 1", "'fixed.compile': expected true or false"),
])
def test_fixed_keys_are_checked_against_the_trainer(tmp_path, fixed, expect):
    _refused(tmp_path, _write(tmp_path, fixed=fixed), expect=expect)


def test_width_not_a_multiple_of_head_dim(tmp_path):
    _refused(tmp_path, _write(tmp_path, widths="40"), expect="width 40 is not a multiple of head_dim 16")


def test_choice_of_strings_for_lr(tmp_path):
    _refused(tmp_path, _write(tmp_path, lr='type = "choice"\nvalues = ["a", "b"]'),
             expect="'space.lr': expected a positive number, got 'a'")
    custom = 'trainable = "tunescale.trials.synthetic:quadratic_trial"'
    _refused(tmp_path, _write(tmp_path, top=custom, lr='type = "choice"\nvalues = ["a", "b"]'),
             expect="the trial column 'lr' holds numbers, got 'a'")


def test_trainable_that_does_not_import(tmp_path):
    _refused(tmp_path, _write(tmp_path, top='trainable = "nosuchmod:f"'), "--allow-any-trainable",
             expect="trainable 'nosuchmod:f': cannot import it (No module named 'nosuchmod')")
    _refused(tmp_path, _write(tmp_path, top='trainable = "tunescale.trials.defaults:DEFAULTS"'),
             "--allow-any-trainable", expect="DEFAULTS is a dict, not a function")


@pytest.mark.parametrize("trainable", ["os:system", "nosuchmod:f", "tests.sweep.sweep_faults:dying_trial"])
def test_unregistered_trainable_needs_allow_any_trainable(tmp_path, trainable):
    _refused(tmp_path, _write(tmp_path, top=f'trainable = "{trainable}"'),
             expect=f"trainable {trainable!r}: not a registered trainable")


def test_non_utf8_spec(tmp_path):
    path = tmp_path / "b.toml"
    path.write_bytes(b'name = "\xff\xfe"\n')
    _refused(tmp_path, path, expect="not UTF-8 text")


def test_storage_that_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _refused(tmp_path, _write(tmp_path, storage=blocker), expect="cannot create the trial store there")
    _refused(tmp_path, _write(tmp_path), "--storage", blocker / "under", expect="cannot create the trial store")


def test_storage_that_cannot_be_written(tmp_path, unwritable_dir):
    _refused(tmp_path, _write(tmp_path, storage=unwritable_dir), expect="cannot create the trial store there")
    _refused(tmp_path, _write(tmp_path), "--storage", unwritable_dir / "run", expect="cannot create the trial store")


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_num_cpus_below_one(tmp_path, value):
    _refused(tmp_path, _write(tmp_path), f"--num-cpus={value}", expect="--num-cpus: expected an integer >= 1")


def test_trial_larger_than_the_local_ray(tmp_path):
    spec = _write(tmp_path, top="", fixed="batch_size = 4\n[resources]\ncpus = 1000")
    _refused(tmp_path, spec, "--num-cpus", "2", expect="resources.cpus = 1000 per trial, but the local Ray")


@pytest.mark.parametrize("where", ["missing/out.json", "."])
def test_json_out_that_cannot_be_written(tmp_path, where):
    target = tmp_path / where
    _refused(tmp_path, _write(tmp_path), "--json-out", target,
             expect="does not exist" if "missing" in where else "is a directory")


def test_sweep_refuses_before_writing_anything_outside(tmp_path):
    spec = _write(tmp_path, fixed="foo = 1")
    before = set(os.listdir(tmp_path))
    _refused(tmp_path, spec, expect="fixed.foo")
    assert set(os.listdir(tmp_path)) == before


def test_trial_needing_resources_the_cluster_lacks(tmp_path, local_ray):
    # The session's Ray has 2 CPUs and no GPU: such a trial would wait forever.
    for resources, expect in (("gpus = 1", "resources.gpus = 1 per trial, but the Ray cluster has 0 GPUs"),
                              ("cpus = 3", "resources.cpus = 3 per trial, but the Ray cluster has 2 CPUs")):
        spec = _write(tmp_path, fixed=f"batch_size = 4\n[resources]\n{resources}")
        r = run_main(main, "sweep", spec, "--quiet")
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and expect in r.stderr, r.stderr
        assert not any((tmp_path / "run" / "trials").glob("*.parquet"))
