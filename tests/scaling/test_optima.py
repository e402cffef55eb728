"""Per-scale optima: the parabola vertex recovers a known optimum; edges are flagged."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunescale.contract.errors import InputError
from tunescale.scaling.optima import fit_joint_optimum, fit_optimum


@settings(max_examples=25, deadline=None, derandomize=True)  # fixed noise seed: see test_hp_laws
@given(x_star=st.floats(-7.0, -4.0), curvature=st.floats(0.02, 0.2), noise=st.floats(0.0005, 0.004))
def test_parabola_interval_contains_true_optimum(x_star, curvature, noise):
    seed = 3
    rng = np.random.default_rng(seed)
    x = np.repeat(np.linspace(-9.0, -2.0, 15), 3)  # a grid with 3 seeds per value
    loss = 2.0 + curvature * (x - x_star) ** 2 + rng.normal(0, noise, x.size)
    r = fit_optimum(np.exp(x), loss, hp="lr", n_bootstrap=300, seed=seed)
    assert not r.at_edge and r.method == "parabola"
    assert r.low <= r.value <= r.high
    # the interval is a 95% bootstrap interval; allow half a grid step of slack for the
    # percentile bootstrap's small-sample undercoverage
    assert math.log(r.low) - 0.25 <= x_star <= math.log(r.high) + 0.25
    assert abs(math.log(r.value) - x_star) < 0.5


def test_edge_of_grid_is_flagged_with_wide_interval():
    x = np.linspace(-8.0, -4.0, 9)
    loss = 2.0 + 0.1 * (x + 3.0) ** 2  # true optimum above the grid
    r = fit_optimum(np.exp(x), loss, hp="lr")
    assert r.at_edge and r.method == "best point"
    assert r.value == pytest.approx(math.exp(-4.0))
    assert r.high >= math.exp(-4.0 + 4.0) * 0.999  # one full grid span past the edge
    assert "edge of grid" in r.report()


def test_band_covers_runs_within_band_pct():
    h = np.array([1e-4, 2e-4, 4e-4, 8e-4, 1.6e-3])
    loss = np.array([2.10, 2.004, 2.000, 2.003, 2.2])
    r = fit_optimum(h, loss, band_pct=0.25)
    assert (r.band_low, r.band_high) == (2e-4, 8e-4)
    assert r.summary()["band"] == [2e-4, 8e-4]


def test_bad_values_raise_one_line_errors():
    with pytest.raises(InputError, match="log axis"):
        fit_optimum([1e-3, 0.0, 2e-3], [2.0, 2.1, 2.2])
    with pytest.raises(InputError, match="NaN"):
        fit_optimum([1e-3, 2e-3, 4e-3], [2.0, float("nan"), 2.2])


def test_joint_optimum_recovers_tilted_paraboloid():
    rng = np.random.default_rng(0)
    gx, gy = np.linspace(-9, -3, 13), np.linspace(10, 16, 13)
    x, y = (a.ravel() for a in np.meshgrid(gx, gy))
    x0, y0 = -6.2, 13.3
    dx, dy = x - x0, y - y0
    loss = 2.0 + 0.08 * dx**2 + 0.06 * dx * dy + 0.05 * dy**2 + rng.normal(0, 0.001, x.size)
    r = fit_joint_optimum(np.exp(x), np.exp(y), loss, n_bootstrap=200)
    assert r.method == "paraboloid"
    assert abs(math.log(r.lr) - x0) < 0.15 and abs(math.log(r.batch_size) - y0) < 0.15
    assert r.lr_low <= math.exp(x0) <= r.lr_high
    assert r.batch_size_low <= math.exp(y0) <= r.batch_size_high
    # the best lr at a fixed batch size away from y0 differs from the joint optimum
    assert float(r.predict(r.lr, r.batch_size)[0]) <= loss.min() + 0.005
