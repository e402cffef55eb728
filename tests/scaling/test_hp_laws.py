"""Hyperparameter power laws: known laws are recovered within their intervals."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunescale.contract.errors import InputError
from tunescale.scaling.hp_laws import fit_power_law, parse_law


def _draw(rng, a, b, c, noise, n=12):
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), n))
    D = np.exp(rng.uniform(np.log(1e9), np.log(1e12), n))
    lr = c * N**a * D**b * np.exp(rng.normal(0, noise, n))
    return N, D, lr


# The noise is random, so an interval misses now and then by design: hypothesis must not go
# hunting through seeds for that miss. The seed is fixed and the examples derandomized; the
# coverage test below checks the miss rate itself.
@settings(max_examples=30, deadline=None, derandomize=True)
@given(a=st.floats(-1.0, -0.1), b=st.floats(0.0, 0.6), noise=st.floats(0.01, 0.3))
def test_recovers_exponents_within_intervals(a, b, noise):
    seed = 7
    rng = np.random.default_rng(seed)
    N, D, lr = _draw(rng, a, b, 1.8, noise)
    r = fit_power_law(lr, {"params": N, "tokens": D}, target="lr", n_bootstrap=200, seed=seed)
    # 99.9% t-intervals: a failure here is a real bias, not a 1-in-20 draw
    r999 = fit_power_law(lr, {"params": N, "tokens": D}, target="lr", n_bootstrap=0, confidence=0.999)
    assert r999.intervals["params"][0] <= a <= r999.intervals["params"][1]
    assert r999.intervals["tokens"][0] <= b <= r999.intervals["tokens"][1]
    assert r.predict(params=1e9, tokens=1e11).shape == (1,)


def test_interval_coverage_is_roughly_nominal():
    rng = np.random.default_rng(123)
    hits = np.zeros((2, 2))
    draws = 300
    for _ in range(draws):
        N, D, lr = _draw(rng, -0.7, 0.3, 1.8, 0.2)
        r = fit_power_law(lr, {"params": N, "tokens": D}, target="lr", n_bootstrap=200,
                          seed=int(rng.integers(1 << 30)))
        for j, (k, true) in enumerate((("params", -0.7), ("tokens", 0.3))):
            hits[0, j] += r.intervals[k][0] <= true <= r.intervals[k][1]
            hits[1, j] += r.bootstrap_intervals[k][0] <= true <= r.bootstrap_intervals[k][1]
    cover = hits / draws
    assert np.all(np.abs(cover[0] - 0.95) < 0.04), cover  # t-intervals: exact under Gaussian noise
    assert np.all((cover[1] > 0.80) & (cover[1] < 0.99)), cover  # bootstrap over 12 scales undercovers a little


def test_prediction_interval_contains_truth():
    rng = np.random.default_rng(5)
    N, D, lr = _draw(rng, -0.7, 0.3, 1.8, 0.05, n=20)
    r = fit_power_law(lr, {"params": N, "tokens": D}, target="lr")
    lo, hi = r.predict_interval(params=7e9, tokens=2e12)
    assert lo[0] <= 1.8 * 7e9**-0.7 * 2e12**0.3 <= hi[0]


def test_parse_law_and_errors():
    spec = parse_law("lr ~ params + tokens")
    assert spec.target == "lr" and spec.inputs == ("params", "tokens")
    for bad in ("lr params", "lr ~ params + params", "lr ~ lr"):
        with pytest.raises(InputError):
            parse_law(bad)
    with pytest.raises(InputError, match="scale"):
        fit_power_law([1e-3, 2e-3], {"params": [1e6, 1e7]}, target="lr")
    with pytest.raises(InputError, match="collinear"):
        N = np.array([1e6, 1e7, 1e8, 1e9])
        fit_power_law([1e-3, 2e-3, 3e-3, 4e-3], {"params": N, "tokens": 20 * N}, target="lr")
