"""Loss law: known L(N, D) recovered within bootstrap intervals; coverage roughly nominal; batched L-BFGS."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunescale.contract.errors import InputError
from tunescale.scaling.lbfgs import minimize_batched
from tunescale.scaling.loss_law import fit_loss_law


def _draw(rng, E, A, B, alpha, beta, noise, n=60):
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), n))
    D = np.exp(rng.uniform(np.log(1e9), np.log(1e12), n))
    L = (E + A / N**alpha + B / D**beta) * np.exp(rng.normal(0, noise, n))
    return N, D, L


@settings(max_examples=6, deadline=None, derandomize=True)  # fixed noise seed: see test_hp_laws
@given(alpha=st.floats(0.25, 0.45), beta=st.floats(0.25, 0.45), noise=st.floats(0.002, 0.01))
def test_recovers_law_within_intervals(alpha, beta, noise):
    rng = np.random.default_rng(11)
    N, D, L = _draw(rng, 1.8, 480.0, 2000.0, alpha, beta, noise)
    # 99% intervals, allowed a quarter of their width of slack: the percentile bootstrap of
    # this non-linear fit on 60 points undercovers a little (measured in the coverage test)
    r = fit_loss_law(L, {"params": N, "tokens": D}, n_bootstrap=300, seed=1, n_starts=50, confidence=0.99)
    for k, true in (("E", 1.8), ("alpha", alpha), ("beta", beta)):
        lo, hi = r.intervals[k]
        slack = 0.25 * (hi - lo)
        assert lo - slack <= true <= hi + slack, (k, true, lo, hi)
    # the law itself, where the data are, is recovered to about the noise level
    truth = 1.8 + 480.0 / N**alpha + 2000.0 / D**beta
    assert np.sqrt(np.mean(np.log(r.predict(params=N, tokens=D) / truth) ** 2)) < 2 * noise


def test_coverage_of_exponent_intervals_is_roughly_nominal():
    rng = np.random.default_rng(2024)
    draws, hits = 30, np.zeros(3)
    for i in range(draws):
        N, D, L = _draw(rng, 1.8, 480.0, 2000.0, 0.34, 0.37, 0.01)
        r = fit_loss_law(L, {"params": N, "tokens": D}, n_bootstrap=100, seed=i, n_starts=30)
        for j, (k, true) in enumerate((("E", 1.8), ("alpha", 0.34), ("beta", 0.37))):
            hits[j] += r.intervals[k][0] <= true <= r.intervals[k][1]
    cover = hits / draws
    # 95% percentile-bootstrap intervals over 30 draws: a binomial band of about ±8 points,
    # and the percentile bootstrap of a non-linear fit undercovers a little
    assert np.all((cover >= 0.8) & (cover <= 1.0)), cover


def test_single_axis_law_and_compute_optimal_allocation():
    rng = np.random.default_rng(0)
    C = np.geomspace(1e18, 1e22, 30)
    L = (1.7 + 1600 * C**-0.16) * np.exp(rng.normal(0, 0.003, C.size))
    r = fit_loss_law(L, {"flops": C}, n_bootstrap=100, n_starts=30)
    assert r.coef["alpha"] == pytest.approx(0.16, abs=0.03)
    assert r.allocation() is None
    with pytest.raises(InputError, match="two variables"):
        r.compute_optimal(1e23)



def test_compute_optimal_allocation_minimises_loss_at_fixed_compute():
    rng = np.random.default_rng(4)
    N, D, L = _draw(rng, 1.8, 480.0, 2000.0, 0.34, 0.37, 0.003)
    r = fit_loss_law(L, {"params": N, "tokens": D}, n_bootstrap=50, n_starts=30)
    C = 1e23
    opt = r.compute_optimal(C)
    assert 6 * float(opt["params"]) * float(opt["tokens"]) == pytest.approx(C, rel=1e-9)
    Ns = float(opt["params"]) * np.array([0.5, 0.8, 1.25, 2.0])
    assert np.all(r.predict(params=Ns, tokens=C / (6 * Ns)) > float(opt["loss"]))
    a = r.allocation()
    assert a["a"] + a["b"] == pytest.approx(1.0)
    assert a["a_interval"][0] <= a["a"] <= a["a_interval"][1]


def test_batched_lbfgs_matches_scipy_on_independent_quadratics():
    from scipy.optimize import minimize

    rng = np.random.default_rng(0)
    Q = rng.normal(size=(5, 4, 4))
    H = Q @ Q.transpose(0, 2, 1) + 0.5 * np.eye(4)
    c = rng.normal(size=(5, 4))

    def fun_grad(x, rows):
        Hx = np.einsum("bij,bj->bi", H[rows], x)
        return 0.5 * np.einsum("bi,bi->b", x, Hx) - np.einsum("bi,bi->b", c[rows], x), Hx - c[rows]

    res = minimize_batched(fun_grad, np.zeros((5, 4)), gtol=1e-10, ftol=1e-15)
    exact = np.linalg.solve(H, c[..., None])[..., 0]
    assert res.converged.all()
    np.testing.assert_allclose(res.x, exact, rtol=1e-6, atol=1e-8)
    one = minimize(lambda x: tuple(v[0] for v in fun_grad(x[None], np.array([2]))), np.zeros(4), jac=True)
    np.testing.assert_allclose(res.x[2], one.x, atol=1e-5)


def test_bad_loss_law_input():
    with pytest.raises(InputError, match="finite and > 0"):
        fit_loss_law([2.0, np.nan, 2.1, 2.2, 2.3, 2.4, 2.5], {"flops": np.geomspace(1e18, 1e21, 7)})
    with pytest.raises(InputError, match="points for"):
        fit_loss_law([2.0, 2.1, 2.2], {"flops": [1e18, 1e19, 1e20]})
    with pytest.raises(InputError, match="same params"):
        fit_loss_law(np.linspace(2, 3, 8), {"params": np.full(8, 1e8), "tokens": np.geomspace(1e9, 1e11, 8)})


def test_poorly_determined_law_is_flagged_and_a_good_one_is_not():
    rng = np.random.default_rng(5)
    N, D, L = _draw(rng, 1.8, 480.0, 2000.0, 0.34, 0.37, 0.003)
    good = fit_loss_law(L, {"params": N, "tokens": D}, n_bootstrap=200, n_starts=30)
    assert good.poorly_determined() == []
    # eight points over half a decade of N and D at 3% noise cannot separate E from the terms
    N = np.exp(rng.uniform(np.log(1e8), np.log(3e8), 8))
    D = np.exp(rng.uniform(np.log(1e10), np.log(3e10), 8))
    L = (1.8 + 480.0 / N**0.34 + 2000.0 / D**0.37) * np.exp(rng.normal(0, 0.03, 8))
    loose = fit_loss_law(L, {"params": N, "tokens": D}, n_bootstrap=200, n_starts=30).poorly_determined()
    assert loose and all("wider than its value" in m for m in loose)
