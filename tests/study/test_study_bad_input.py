"""A study spec is checked whole before Ray starts or RUN_DIR is written; a RUN_DIR with no
stored trial can be used again."""

import importlib.resources

import pytest

from tests.conftest import run_main, valid_row
from tunescale.cli.main import main
from tunescale.contract.store import TrialStore
from tunescale.study.results import ELAPSED_JSON
from tunescale.study.run import PROXIES, _check_run_dir

TINY = (importlib.resources.files("tunescale.study") / "specs" / "study_tiny.toml").read_text()


@pytest.mark.parametrize("change, expect", [
    (("low = 0.007", "low = 0.5"), "'space.lr': needs low < high"),
    (('schedule = "cosine"', 'schedule = "cosine"\nfoo = 1'), "'fixed.foo': the trainer has no key 'foo'"),
    (('schedule = "cosine"', 'schedule = "exp"'), "'fixed.schedule': expected one of"),
    (("widths = [16, 32, 48]", "widths = [16, 24, 48]"), "width 24 is not a multiple of head_dim 16"),
])
def test_bad_study_spec_is_refused_before_anything_is_written(tmp_path, change, expect):
    assert change[0] in TINY, "the shipped tiny spec changed: update this case"
    spec = tmp_path / "s.toml"
    spec.write_text(TINY.replace(*change))
    run_dir = tmp_path / "study"
    r = run_main(main, "study", spec, "--out", run_dir, "--resume")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and expect in r.stderr, r.stderr
    assert not run_dir.exists()


RANDOM = (importlib.resources.files("tunescale.study") / "specs" / "study_tiny_random.toml").read_text()


@pytest.mark.parametrize("changes, expect", [
    ([('search = "random"', 'search = "optuna"')], ["'proxies.search': expected one of grid, random, carbs"]),
    ([("trials = 14", "trials = 0")], ["'proxies.trials': search = \"random\" needs the number of configurations"]),
    ([("trials = 14", 'trials = "many"')], ["'proxies.trials'", "got 'many'"]),
    ([('search = "random"', 'search = "grid"')], ["'proxies.trials': search = \"grid\" runs every grid point"]),
    # too few runs for the joint model, and CARBS batched: both reported in the one line
    ([('search = "random"', 'search = "carbs"'), ("trials = 14", "trials = 10"),
      ("concurrency = 2", "concurrency = 2\ntrials_per_task = 4")],
     ["2 problem(s)", "'proxies.trials': the joint model", "give 40; set trials >= 13",
      "'trials_per_task': CARBS picks each configuration"]),
])
def test_bad_proxy_search_is_refused_in_one_line_before_anything_is_written(tmp_path, changes, expect):
    text = RANDOM
    for old, new in changes:
        assert old in text, "the shipped random spec changed: update this case"
        text = text.replace(old, new)
    spec = tmp_path / "s.toml"
    spec.write_text(text)
    run_dir = tmp_path / "study"
    r = run_main(main, "study", spec, "--out", run_dir)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert all(e in r.stderr for e in expect), r.stderr
    assert not run_dir.exists()


def test_run_dir_without_stored_trials_is_reused_with_another_spec(tmp_path):
    run_dir = tmp_path / "study"
    TrialStore(run_dir / PROXIES)  # what a study that died before its first trial leaves
    (run_dir / "spec.toml").write_text("old spec")
    (run_dir / ELAPSED_JSON).write_text('{"wall_s": 3.0}')  # its first sweep timed itself as it ended
    _check_run_dir(run_dir, "new spec", resume=False)
    TrialStore(run_dir / PROXIES).write(valid_row())
    with pytest.raises(Exception, match="holds a study with a different spec"):
        _check_run_dir(run_dir, "new spec", resume=True)


def test_out_that_is_a_file(tmp_path):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    spec = tmp_path / "s.toml"
    spec.write_text(TINY)
    r = run_main(main, "study", spec, "--out", blocker)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "is a file; give a directory for --out" in r.stderr


@pytest.mark.parametrize("under", ["", "study"])
def test_out_that_cannot_be_written(tmp_path, unwritable_dir, under):
    spec = tmp_path / "s.toml"
    spec.write_text(TINY)
    r = run_main(main, "study", spec, "--out", unwritable_dir / under, "--resume")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"{unwritable_dir} cannot be written" in r.stderr


@pytest.mark.parametrize("text", ["{", "[]", '{"wall_s": -1}', '{"wall_s": "long"}', '{"wall": 3}'])
def test_broken_elapsed_time_file_is_one_line_naming_it(tmp_path, text):
    spec = tmp_path / "s.toml"
    spec.write_text(TINY)
    run_dir = tmp_path / "study"
    run_dir.mkdir()
    (run_dir / "spec.toml").write_text(TINY)
    (run_dir / ELAPSED_JSON).write_text(text)
    r = run_main(main, "study", spec, "--out", run_dir, "--resume")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert str(run_dir / ELAPSED_JSON) in r.stderr and "delete it" in r.stderr
