"""Malformed sweep, study and STN specs: exit 2, one line, no traceback, nothing written outside the run dir.

A spoilt spec that happens to stay valid must not start work either: the sweep's store
is held by this test (a second driver is refused), the study's run dir holds work
(refused without --resume), and a valid STN spec is only parsed.
"""

import importlib.resources

from hypothesis import HealthCheck, given, settings

from tests.conftest import run_main
from tests.fuzz.mutations import assert_refused, files_under, spoiled
from tunescale.cli.main import main
from tunescale.contract.errors import TunescaleError
from tunescale.contract.store import TrialStore
from tunescale.sweep.storage import driver_lock

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,  # CI runs the same examples every time
               suppress_health_check=[HealthCheck.function_scoped_fixture])

SWEEP = (importlib.resources.files("tunescale.sweep") / "specs" / "tiny.toml").read_text()
STUDY = (importlib.resources.files("tunescale.study") / "specs" / "study_tiny.toml").read_text()
STN = """
name = "stn-fuzz"
out = "{out}"
data = "classification"
data_seed = 0
[train]
hidden = [16]
epochs = 1
hyper_lr = 0.03
[hyper.dropout_1]
low = 0.0
high = 0.9
init = 0.05
discrete = false
"""


def _run(tmp_path, data: bytes, run_dir, *argv):
    spec = tmp_path / "spec.toml"
    spec.write_bytes(data)
    before = files_under(tmp_path, skip=run_dir)
    r = run_main(main, *argv)
    after = files_under(tmp_path, skip=run_dir)
    assert after == before, sorted(set(after) ^ set(before))
    return r


@FUZZ
@given(data=spoiled(SWEEP))
def test_fuzz_sweep_spec(tmp_path, data):
    import ray

    run_dir = tmp_path / "run"
    TrialStore(run_dir)
    ray_before = ray.is_initialized()  # a session-wide local Ray of earlier tests may be up
    with driver_lock(str(run_dir)):
        r = _run(tmp_path, data, run_dir, "sweep", tmp_path / "spec.toml", "--storage", run_dir, "--quiet")
    assert_refused(r)
    assert ray.is_initialized() == ray_before
    assert not any((run_dir / "trials").glob("*.parquet"))


@FUZZ
@given(data=spoiled(STUDY))
def test_fuzz_study_spec(tmp_path, data):
    import ray

    run_dir = tmp_path / "study"
    run_dir.mkdir(exist_ok=True)
    (run_dir / "keep").write_text("a file the user owns: the study must not start here without --resume")
    ray_before = ray.is_initialized()
    r = _run(tmp_path, data, run_dir, "study", tmp_path / "spec.toml", "--out", run_dir)
    assert_refused(r)
    assert ray.is_initialized() == ray_before
    assert sorted(p.name for p in run_dir.iterdir()) == ["keep"]


@FUZZ
@given(data=spoiled(STN))
def test_fuzz_stn_spec(tmp_path, data):
    from tunescale.trials.stn.run import load_spec

    run_dir = tmp_path / "run"
    spec = tmp_path / "spec.toml"
    spec.write_bytes(data.replace(b"{out}", str(run_dir).encode()))
    try:
        load_spec(spec)
    except TunescaleError as exc:
        assert "\n" not in str(exc)
    else:
        return  # still a valid spec: it would train, which this suite does not
    r = _run(tmp_path, spec.read_bytes(), run_dir, "stn", spec)
    assert_refused(r)
    assert not run_dir.exists()
