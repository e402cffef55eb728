"""Unusable input through both entry points: exit 2, one line naming the problem, no traceback."""

import numpy as np
import pandas as pd
import pytest

from tests.scaling.conftest import run_cli


def _sweep(n_scales=4, bad=None):
    """A small valid lr sweep table (canonical columns), optionally spoiled by `bad(frame)`."""
    rows = []
    for i, N in enumerate(np.geomspace(1e7, 1e9, n_scales)):
        D = 20 * N
        for lr in np.geomspace(1e-4, 1e-1, 7):
            rows.append({"trial_id": f"s{i}-{lr:.2e}", "status": "completed", "params": N, "tokens": D,
                         "lr": lr, "loss": 2 + 1e3 / N**0.3 + 0.05 * (np.log(lr) + 6) ** 2})
    frame = pd.DataFrame(rows)
    return bad(frame) if bad else frame


def _assert_one_line(proc, *needles):
    assert proc.returncode == 2, proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "np.float64" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def _set(col, i, value):
    def spoil(frame):
        frame[col] = frame[col].astype(object)
        frame.loc[i, col] = value
        return frame
    return spoil


CASES = {
    "empty file": (lambda f: f.iloc[:0], [], ["no rows"]),
    "misspelled column": (None, ["--loss-col", "los"], ["'los' is not a column", "did you mean 'loss'"]),
    "non-numeric": (_set("lr", 3, "fast"), [], ["'lr'", "row 3", "'fast'", "not a number"]),
    "zero in log column": (_set("params", 2, 0.0), [], ["'params'", "log axis", "--drop-bad-rows"]),
    "negative lr": (_set("lr", 5, -1e-3), [], ["'lr'", "log axis"]),
    "nan loss": (_set("loss", 4, np.nan), [], ["NaN/inf loss", "diverged"]),
    "inf loss": (_set("loss", 4, np.inf), [], ["NaN/inf loss"]),
    "single scale": (lambda f: f[f["params"] == f["params"].min()], [], ["nothing to fit", "only at 1 scale(s)"]),
    "all failed": (lambda f: f.assign(status="failed"), [], ["no completed trials", "failed"]),
    "duplicated trials": (lambda f: pd.concat([f, f.iloc[:3]]), [], ["3 duplicated trial row(s)", "--drop-bad-rows"]),
    "bad law": (None, ["--law", "lr = params"], ["--law", "TARGET ~ X1 + X2"]),
    "bad predict": (None, ["--predict", "params=big"], ["--predict", "not a number"]),
}


# every case through `fit-scaling`; a few through `tunescale fit-scaling` (same handler, other funnel)
PAIRS = [(c, "fit-scaling") for c in CASES] + [
    (c, "tunescale fit-scaling") for c in ("misspelled column", "nan loss", "all failed", "duplicated trials")
]


@pytest.mark.parametrize(("case", "entry"), PAIRS)
def test_bad_input_exits_2_with_one_line(tmp_path, entry, case):
    spoil, extra, needles = CASES[case]
    path = tmp_path / "runs.csv"
    frame = _sweep(bad=spoil)
    if case == "empty file":
        path.write_text(",".join(frame.columns) + "\n")
    else:
        frame.to_csv(path, index=False)
    proc = run_cli([path, "--bootstrap", "20", *extra], entry=entry)
    _assert_one_line(proc, *needles)


def test_missing_file_and_unknown_where_column(tmp_path, entry):
    _assert_one_line(run_cli([tmp_path / "nope.csv"], entry=entry), "no such file")
    path = tmp_path / "runs.csv"
    _sweep().to_csv(path, index=False)
    _assert_one_line(run_cli([path, "--where", "sttus=completed"], entry=entry), "no column 'sttus'", "'status'")


def test_drop_bad_rows_counts_every_dropped_row(tmp_path):
    path = tmp_path / "runs.csv"
    frame = _sweep(n_scales=5, bad=_set("loss", 4, np.nan))
    frame = pd.concat([frame, frame.iloc[:2]], ignore_index=True)
    frame.loc[frame.index[-1], "status"] = "diverged"  # a retried trial that diverged the second time
    frame.to_csv(path, index=False)
    proc = run_cli([path, "--bootstrap", "20", "--drop-bad-rows"])
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert "37 rows" in first and "34 used" in first, first
    assert "1 status diverged" in first and "1 non-finite loss" in first and "1 duplicated trial" in first, first


def test_a_loss_flat_in_scale_fits_and_draws_without_an_allocation_and_says_so(tmp_path):
    """Runs whose loss does not fall with tokens (flat, or rising as when repeated data overfits) give a loss
    law with beta <= 0: it has no compute-optimal allocation. The fit, its report and its figures still
    come out, with a warning; asking for a prediction at a compute budget alone is one line naming --predict."""
    frame = _sweep()
    frame = pd.concat([frame.assign(tokens=frame["tokens"] * k, trial_id=frame["trial_id"] + f"-{k}")
                       for k in (1, 2, 4)])
    frame["loss"] = (2 + 1e3 / frame["params"] ** 0.3 + 0.01 * (frame["tokens"] / 1e8) ** 0.2
                     + 0.05 * (np.log(frame["lr"]) + 6) ** 2)
    path = tmp_path / "flat_in_tokens.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "fit"
    proc = run_cli([str(path), "--bootstrap", "20", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    assert "no compute-optimal allocation" in proc.stdout + proc.stderr
    assert (out / "loss_law.png").exists() and (out / "fit.json").exists()
    _assert_one_line(run_cli([str(path), "--bootstrap", "0", "--predict", "flops=1e21"]),
                     "--predict flops=1e+21", "no compute-optimal allocation")
