import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm

from search.surrogates import OutputWarp

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
