"""Malformed tables for fit-scaling and trials show: a result or one line with exit 2, never a traceback,
and nothing written beside the table."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import run_main
from tests.fuzz.mutations import assert_refused, files_under
from tunescale.cli.main import main

FUZZ = settings(max_examples=40, deadline=None, derandomize=True,  # CI runs the same examples every time
               suppress_health_check=[HealthCheck.function_scoped_fixture])
COLUMNS = ["trial_id", "sweep", "status", "params", "tokens", "flops", "lr", "batch_size", "loss", "seed"]
CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**62), 2**62),
    st.sampled_from(["completed", "failed", "", "x", "1e3", None]),
)


def _good(n_scales=3) -> pd.DataFrame:
    rows = [{"trial_id": f"s{i}-{j}", "sweep": "s", "status": "completed", "params": int(n), "tokens": 20.0 * n,
             "lr": lr, "batch_size": 32, "loss": 2 + 1e3 / n**0.3 + 0.05 * (np.log(lr) + 6) ** 2, "seed": 0}
            for i, n in enumerate(np.geomspace(1e7, 1e9, n_scales)) for j, lr in enumerate(np.geomspace(1e-4, 1e-1, 5))]
    return pd.DataFrame(rows)


@st.composite
def tables(draw) -> pd.DataFrame:
    """A valid sweep table with cells, columns or rows spoilt."""
    frame = _good(draw(st.integers(1, 4))).astype(object)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["cell", "cell", "column", "drop_column", "rows"]))
        col = draw(st.sampled_from(COLUMNS))
        if kind == "cell" and col in frame and len(frame):
            frame.loc[draw(st.integers(0, len(frame) - 1)), col] = draw(CELLS)
        elif kind == "column" and col in frame:
            frame[col] = draw(CELLS)
            frame = frame.astype(object)
        elif kind == "drop_column" and col in frame:
            frame = frame.drop(columns=col)
        elif kind == "rows":
            frame = frame.iloc[: draw(st.integers(0, len(frame)))]
    return frame


def _check(tmp_path, argv) -> None:
    before = files_under(tmp_path)
    r = run_main(main, *argv)
    if r.returncode != 0:
        assert_refused(r)
    assert files_under(tmp_path) == before


@FUZZ
@given(frame=tables(), fmt=st.sampled_from(["csv", "parquet"]))
def test_fuzz_fit_scaling_table(tmp_path, frame, fmt):
    path = tmp_path / f"t.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        try:
            frame.to_parquet(path)
        except Exception:  # pyarrow cannot even write this mix of types: the CSV form covers it
            frame.to_csv(path := tmp_path / "t.csv", index=False)
    path.touch()
    _check(tmp_path, ["fit-scaling", path, "--bootstrap", "5", "--no-validate"])
    _check(tmp_path, ["trials", "show", path])
    path.unlink()


@FUZZ
@given(frame=tables())
def test_fuzz_sweep_directory_of_disagreeing_files(tmp_path, frame):
    trials = tmp_path / "run" / "trials"
    trials.mkdir(parents=True, exist_ok=True)
    for old in trials.glob("*.parquet"):
        old.unlink()
    _good().iloc[:3].to_parquet(trials / "a.parquet")
    try:
        frame.to_parquet(trials / "b.parquet")
    except Exception:
        (trials / "b.parquet").write_bytes(b"PAR1 cut short")
    _check(tmp_path, ["fit-scaling", tmp_path / "run", "--bootstrap", "5", "--no-validate"])
    _check(tmp_path, ["trials", "show", tmp_path / "run"])
