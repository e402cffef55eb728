import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm

from tunescale.search.surrogates import GaussianProcess, OutputWarp, one_hot

outputs = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=60)


@given(outputs)
def test_warp_keeps_the_order_of_outputs_and_bounds_the_scores(y):
    y = np.array(y)
    warp = OutputWarp.fit(y)
    order = np.argsort(y, kind="stable")
    z = warp(y)
    assert np.all(np.diff(z[order]) >= -1e-12)  # up to rounding in the interpolation
    assert np.all(np.abs(z) <= -norm.ppf(0.5 / len(y)) + 1e-9) or len(np.unique(y)) == 1


@given(outputs)
def test_warp_inverts_at_its_knots(y):
    warp = OutputWarp.fit(np.array(y))
    knots = np.array(warp.knots)
    assert np.allclose(warp.inverse(warp(knots)), knots)


def test_warp_spreads_the_good_outputs_that_a_bad_tail_would_squash():
    # 20 runs near 2.3 and 5 diverged near 6: on the raw scale the good runs span 2% of
    # the range; in normal scores they span most of it.
    good = np.linspace(2.25, 2.35, 20)
    y = np.concatenate([good, np.linspace(5.5, 6.5, 5)])
    z = OutputWarp.fit(y)(y)
    assert (good.max() - good.min()) / np.ptp(y) < 0.03
    assert (z[:20].max() - z[:20].min()) / np.ptp(z) > 0.5


def _basin_optimum_beyond_the_data(trend: str) -> float:
    """A noisy learning-rate basin whose optimum moves with width, lr* = -0.8 * width,
    seen at widths 0..1; the model's optimum at width 3, far from the data."""
    w, lr = np.meshgrid(np.linspace(0.0, 1.0, 5), np.linspace(-2.5, 1.0, 8))
    X = np.column_stack([w.ravel(), lr.ravel()])
    y = (X[:, 1] + 0.8 * X[:, 0]) ** 2 - X[:, 0] + 0.05 * np.random.default_rng(0).normal(size=len(X))
    grid = np.linspace(-3.5, 1.0, 181)
    mean, _ = GaussianProcess.fit(X, y, trend=trend).predict(np.column_stack([np.full_like(grid, 3.0), grid]))
    return float(grid[np.argmin(mean)])


def test_quadratic_trend_carries_a_moving_optimum_beyond_the_data():
    assert _basin_optimum_beyond_the_data("quadratic") == pytest.approx(-2.4, abs=0.1)
    # the linear trend leaves the move to the Matern part, which lags 0.4-0.8 behind
    assert abs(_basin_optimum_beyond_the_data("linear") + 2.4) > 0.3


def test_unknown_trend_is_refused():
    with pytest.raises(ValueError, match="trend"):
        GaussianProcess.fit(np.zeros((2, 1)), np.zeros(2), trend="cubic")


def test_categories_enter_one_hot_so_their_indices_carry_no_order():
    """Category 1 is the good one; an index-as-number GP would put category 1 between 0 and 2
    and smear it, the one-hot GP keeps each category's level and its shared slope in x."""
    rng = np.random.default_rng(0)
    x, cat = rng.uniform(-1, 1, 60), rng.integers(0, 3, 60)
    level = np.array([1.0, -1.0, 1.0])
    y = level[cat] + 0.5 * x + 0.05 * rng.normal(size=60)
    X = np.column_stack([x, cat])
    gp = GaussianProcess.fit(X, y, trend="quadratic", categories=((1, 3),))
    mean, _ = gp.predict(np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 2.0], [0.5, 1.0]]))
    assert mean[:3] == pytest.approx(level, abs=0.15)
    assert mean[3] - mean[1] == pytest.approx(0.25, abs=0.1)
    again = GaussianProcess.with_hyperparameters(X, y, trend="quadratic", hyperparameters=gp.hyperparameters(),
                                                 categories=((1, 3),))
    assert again.predict(np.array([[0.0, 1.0]]))[0] == pytest.approx(mean[1:2])
    assert one_hot(np.array([[0.3, 2.0]]), ((1, 3),)).tolist() == [[0.3, 0.0, 0.0, 1.0]]
