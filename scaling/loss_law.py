"""Loss laws: L(N, D) = E + A/N^α + B/D^β (or L(C) = E + A/C^α), fitted as the Chinchilla replication does.

Notations
---------
N, D, C    parameters, training tokens, training compute C ≈ 6·N·D; all > 0
X_k        ln of the k-th scale variable (k = 1..K; K = 2 for (N, D), K = 1 for C), shape (n,)
L          observed final loss per scale point, shape (n,)
θ          (e, a_1..a_K, α_1..α_K) with E = exp(e), A_k = exp(a_k): the law is
           ln L̂ = LSE(e, a_1 - α_1·X_1, ..., a_K - α_K·X_K)   (log-sum-exp, always finite)
r          ln L̂ - ln L, the log residual; objective Σ_i w_i · Huber_δ(r_i), δ = 1e-3
B          bootstrap resamples: multinomial weights w of shape (B, n), all refitted at once
G, a, b    compute-optimal allocation for K = 2: N_opt = G·(C/6)^a, D_opt = (C/6)^b / G,
           a = β/(α+β), b = α/(α+β), G = (α·A / (β·B))^(1/(α+β))

Recipe (Hoffmann et al. 2022, App. D.2; Besiroglu et al. 2024): Huber loss with
δ = 1e-3 on log residuals through log-sum-exp, L-BFGS from a grid of starting points,
the best end point kept. Here the grid is run as one batch (`scaling.lbfgs`), the
winner is polished with scipy's L-BFGS-B, and the bootstrap refits every resample as
one batch started from the full-data optimum.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from tunescale.contract.errors import InputError
from tunescale.scaling.lbfgs import minimize_batched

HUBER_DELTA = 1e-3  # the Chinchilla replication's δ on log residuals
DEFAULT_BOOTSTRAP = 1000
TERM_LETTERS = ("A", "B", "C")
EXPONENT_NAMES = ("alpha", "beta", "gamma")
# Besiroglu et al. (2024) start grid: e ∈ {-1, -.5, .., 1}, a, b ∈ {0, 5, .., 25}, α, β ∈ {0, .5, .., 2}.
GRID_E = (-1.0, -0.5, 0.0, 0.5, 1.0)
GRID_LOG_COEF = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
GRID_EXPONENT = (0.0, 0.5, 1.0, 1.5, 2.0)
# Running L-BFGS from all 4,500 grid points costs ~20 s; on the Chinchilla data the best
# 50 by initial objective already reach the same optimum to 8 digits, 200 leaves margin.
N_STARTS = 200


def two_level_inputs(values: dict[str, np.ndarray]) -> list[str]:
    """A warning per scale input that takes only two values. E is shared by every term, so at two
    levels of an input its term adds two equations for three unknowns (E, its coefficient, its
    exponent): the fit lands somewhere along a ridge the data cannot tell apart, and the loss it
    predicts at any other value of that input is not set by the runs."""
    out = []
    for name, v in values.items():
        levels = np.unique(np.asarray(v, float))
        if levels.size == 2:
            out.append(
                f"loss law: {name} takes only 2 values ({levels[0]:.4g} and {levels[1]:.4g}), which cannot fix E, "
                f"the {name} term's coefficient and its exponent together; its loss at other {name} values is "
                f"not set by the data (run a third {name} value)"
            )
    return out


class _Workspace:
    """Reusable (rows, n) arrays for the objective's temporaries.

    The batched fits evaluate the objective thousands of times on arrays of about
    1,000 x 100; fresh temporaries of that size go through mmap/trim in glibc's
    allocator and page-fault on every use, which made each evaluation ~5x slower
    than the arithmetic. Buffers grow to the largest batch seen and are sliced.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        buf = self._arrays.get(name)
        if (
            buf is None
            or buf.ndim != len(shape)
            or any(have < want for have, want in zip(buf.shape, shape, strict=True))
        ):
            buf = self._arrays[name] = np.empty(shape)
        return buf[tuple(slice(0, size) for size in shape)]


def _log_model(theta: np.ndarray, X: np.ndarray, work: _Workspace | None = None) -> tuple[np.ndarray, np.ndarray]:
    """ln L̂ (b, n) and the softmax shares (K+1, b, n) of E and of each term, for θ (b, 2K+1).

    Laid out term-major: a max or sum over a trailing axis of length K+1 runs numpy's
    reduction loop once per (b, n) element and was 10x slower.
    """
    work = work or _Workspace()
    b, n, K = theta.shape[0], X.shape[0], X.shape[1]
    shares = work.get("shares", (K + 1, b, n))
    shares[0] = theta[:, :1]
    for k in range(K):
        np.multiply(theta[:, K + 1 + k, None], X[None, :, k], out=shares[1 + k])
        np.subtract(theta[:, 1 + k, None], shares[1 + k], out=shares[1 + k])
    top = work.get("top", (b, n))
    np.maximum(shares[0], shares[1], out=top)  # K >= 1: fit_loss_law takes one or two scale variables
    for k in range(2, K + 1):
        np.maximum(top, shares[k], out=top)
    np.subtract(shares, top, out=shares)
    np.exp(shares, out=shares)
    total = np.sum(shares, axis=0, out=work.get("total", (b, n)))
    np.divide(shares, total, out=shares)
    log_model = np.log(total, out=total)
    log_model += top
    return log_model, shares


def _objective(X: np.ndarray, logL: np.ndarray, weights: np.ndarray, delta: float):
    """fun_grad(θ, rows) for `minimize_batched`: weights (B, n) or (1, n) shared by all rows.

    Σ_i w_i·Huber_δ(r_i) / δ with r = ln L̂ - ln L; Huber written as ρ = ψ·(r - ψ/2),
    ψ = clip(r, -δ, δ), which is ½r² inside the band and δ(|r| - δ/2) outside.
    """
    shared = weights.shape[0] == 1
    K = X.shape[1]
    work = _Workspace()

    def fun_grad(theta: np.ndarray, rows: np.ndarray):
        b, n = theta.shape[0], X.shape[0]
        w = weights[0] if shared else np.take(weights, rows, axis=0, out=work.get("w", (b, n)))
        r, shares = _log_model(theta, X, work)
        r -= logL
        psi = np.clip(r, -delta, delta, out=work.get("psi", (b, n)))
        ws = work.get("ws", (b, n))
        np.multiply(psi, 0.5, out=ws)
        rho = np.subtract(r, ws, out=r)
        rho *= psi
        f = (rho @ w if shared else np.einsum("bn,bn->b", w, rho)) / delta
        psi *= w
        psi /= delta
        g = np.empty(theta.shape)
        g[:, 0] = np.einsum("bn,bn->b", psi, shares[0])  # ∂/∂e
        for k in range(K):
            np.multiply(psi, shares[1 + k], out=ws)
            g[:, 1 + k] = ws.sum(axis=1)  # ∂/∂a_k
            g[:, K + 1 + k] = -(ws @ X[:, k])  # ∂/∂α_k
        return f, g

    return fun_grad


def _start_grid(K: int) -> np.ndarray:
    axes = [GRID_E] + [GRID_LOG_COEF] * K + [GRID_EXPONENT] * K
    return np.array(list(itertools.product(*axes)), dtype=float)


def _names(inputs: tuple[str, ...]) -> list[str]:
    K = len(inputs)
    return ["E", *TERM_LETTERS[:K], *EXPONENT_NAMES[:K]]


def _theta_to_coef(theta: np.ndarray, K: int) -> np.ndarray:
    """(E, A_k.., α_k..) from θ, row-wise."""
    out = np.array(theta, dtype=float, copy=True)
    with np.errstate(over="ignore"):  # a degenerate bootstrap refit may run A off to inf; its interval says so
        out[..., : K + 1] = np.exp(out[..., : K + 1])
    return out


@dataclass(frozen=True)
class LossLawResult:
    """A fitted L = E + Σ_k A_k / x_k^{α_k}.

    `coef` maps E, A, B (term coefficients) and alpha, beta (exponents) to values;
    `intervals` are bootstrap percentile intervals at `confidence`. `bootstrap`
    holds the refitted (E, A_k.., α_k..) per resample, shape (n_bootstrap, 2K+1).
    """

    inputs: tuple[str, ...]
    coef: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    huber_loss: float
    n: int
    confidence: float
    n_bootstrap: int
    n_starts: int
    converged: bool
    rmse_log: float
    bootstrap: np.ndarray = field(repr=False)

    @property
    def theta(self) -> np.ndarray:
        K = len(self.inputs)
        c = np.array([self.coef[k] for k in _names(self.inputs)])
        with np.errstate(divide="ignore"):  # E = 0 is a valid fit: log E = -inf, exp gives it back
            c[: K + 1] = np.log(c[: K + 1])
        return c

    def _X(self, x: dict) -> np.ndarray:
        missing = [k for k in self.inputs if k not in x]
        if missing:
            raise InputError(f"predict loss: missing {', '.join(missing)}; this law needs {', '.join(self.inputs)}.")
        cols = []
        for k in self.inputs:
            v = np.atleast_1d(np.asarray(x[k], dtype=float))
            if not np.all(np.isfinite(v) & (v > 0)):
                raise InputError(
                    f"predict loss: {k} must be finite and > 0, got {float(v[~(np.isfinite(v) & (v > 0))][0])!r}."
                )
            cols.append(np.log(v))
        return np.column_stack(np.broadcast_arrays(*cols))

    def predict(self, **x) -> np.ndarray:
        """Expected loss at the given scale values (keyword per input)."""
        return np.exp(_log_model(self.theta[None, :], self._X(x))[0][0])

    def predict_interval(self, **x) -> tuple[np.ndarray, np.ndarray]:
        """Bootstrap percentile interval of the expected loss at `x`."""
        if self.n_bootstrap == 0:
            raise InputError("loss law was fitted with --bootstrap 0; refit with resamples to get intervals.")
        K = len(self.inputs)
        theta = self.bootstrap.copy()
        with np.errstate(divide="ignore"):  # a resample's zero coefficient: log 0 = -inf, its term exp(-inf) = 0
            theta[:, : K + 1] = np.log(theta[:, : K + 1])
        preds = np.exp(_log_model(theta, self._X(x))[0])
        tail = 50 * (1 - self.confidence)
        lo, hi = np.nanpercentile(preds, [tail, 100 - tail], axis=0)
        return lo, hi

    # compute-optimal allocation (K = 2, inputs (params, tokens))
    def _allocation_terms(self, coef: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        A, B, alpha, beta = coef[..., 1], coef[..., 2], coef[..., 3], coef[..., 4]
        a = beta / (alpha + beta)
        b = alpha / (alpha + beta)
        with np.errstate(invalid="ignore", divide="ignore"):  # degenerate resamples give NaN, dropped by nanpercentile
            G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
        return a, b, G

    def allocation_problem(self) -> str | None:
        """Why the law has no compute-optimal allocation, or None: it needs two variables, and a loss that
        falls with both (α, β > 0); over runs whose loss barely moves with one of them it does not."""
        if len(self.inputs) != 2:
            return "compute-optimal allocation needs a law in two variables, e.g. 'loss ~ params + tokens'"
        alpha, beta = self.coef["alpha"], self.coef["beta"]
        _, _, G = self._allocation_terms(np.array([self.coef[k] for k in _names(self.inputs)]))
        if alpha > 0 and beta > 0 and np.isfinite(G) and G > 0:
            return None
        return (f"loss law: the loss does not fall with both {self.inputs[0]} and "
                f"{self.inputs[1]} over these runs (alpha {alpha:.3g}, beta {beta:.3g}), so it has no "
                f"compute-optimal allocation; give params and tokens at which the loss moves")

    def compute_optimal(self, flops) -> dict:
        """N_opt, D_opt, tokens per parameter and loss at compute C = 6·N·D (needs a (params, tokens) law)."""
        problem = self.allocation_problem()
        if problem:
            raise InputError(f"{problem}.")
        C = np.asarray(flops, dtype=float)
        coef = np.array([self.coef[k] for k in _names(self.inputs)])
        a, b, G = self._allocation_terms(coef)
        n_opt = G * (C / 6.0) ** a
        d_opt = (C / 6.0) ** b / G
        return {
            "params": n_opt,
            "tokens": d_opt,
            "tokens_per_param": d_opt / n_opt,
            "loss": self.predict(**{self.inputs[0]: n_opt, self.inputs[1]: d_opt}).reshape(np.shape(C)),
        }

    def allocation(self) -> dict | None:
        """Exponents a, b of N_opt ∝ C^a, D_opt ∝ C^b with bootstrap intervals (None without one, see
        `allocation_problem`)."""
        if self.allocation_problem():
            return None
        coef = np.array([self.coef[k] for k in _names(self.inputs)])
        a, b, G = self._allocation_terms(coef)
        out = {"a": float(a), "b": float(b), "G": float(G)}
        if self.n_bootstrap:
            ba, bb, _ = self._allocation_terms(self.bootstrap)
            tail = 50 * (1 - self.confidence)
            out["a_interval"] = [float(v) for v in np.nanpercentile(ba, [tail, 100 - tail])]
            out["b_interval"] = [float(v) for v in np.nanpercentile(bb, [tail, 100 - tail])]
        return out

    def poorly_determined(self) -> list[str]:
        """E and exponents whose interval is wider than their value: the data do not pin them down."""
        out = []
        for k in ("E", *EXPONENT_NAMES[: len(self.inputs)]):
            if k in self.intervals:
                lo, hi = self.intervals[k]
                if hi - lo > abs(self.coef[k]):
                    out.append(
                        f"{k} = {self.coef[k]:.4g} has a {self.confidence:.0%} interval {lo:.4g} .. {hi:.4g}, "
                        f"wider than its value"
                    )
        return out

    def formula(self) -> str:
        K = len(self.inputs)
        terms = " + ".join(
            f"{self.coef[TERM_LETTERS[k]]:.4g}/{self.inputs[k]}^{self.coef[EXPONENT_NAMES[k]]:.4f}" for k in range(K)
        )
        return f"loss = {self.coef['E']:.4g} + {terms}"

    def summary(self) -> dict:
        """Plain JSON-safe data."""
        out = {
            "law": f"loss ~ {' + '.join(self.inputs)}",
            "formula": self.formula(),
            "coef": dict(self.coef),
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "huber_delta": HUBER_DELTA,
            "huber_loss": self.huber_loss,
            "rmse_log": self.rmse_log,
            "n_points": self.n,
            "n_starts": self.n_starts,
            "converged": self.converged,
            "confidence": self.confidence,
            "n_bootstrap": self.n_bootstrap,
        }
        alloc = self.allocation()
        if alloc is not None:
            out["compute_optimal"] = alloc
        return out

    def report(self) -> str:
        lines = [f"{self.formula()}   ({self.n} points, rms log residual {self.rmse_log:.4f})"]
        for k, v in self.coef.items():
            iv = self.intervals.get(k)
            band = f"  ({self.confidence:.0%}: {iv[0]:.4g} .. {iv[1]:.4g})" if iv else ""
            lines.append(f"    {k:<6} {v:.4g}{band}")
        alloc = self.allocation()
        if alloc is not None:
            ai = alloc.get("a_interval"), alloc.get("b_interval")
            iv = (
                f" ({ai[0][0]:.3f} .. {ai[0][1]:.3f}), D_opt ∝ C^{alloc['b']:.3f} ({ai[1][0]:.3f} .. {ai[1][1]:.3f})"
                if ai[0]
                else f", D_opt ∝ C^{alloc['b']:.3f}"
            )
            lines.append(f"    compute-optimal: N_opt ∝ C^{alloc['a']:.3f}{iv}")
            for C in (1e21, 1e23, 1e25):
                opt = self.compute_optimal(C)
                lines.append(
                    f"      C = {C:.0e}: N = {float(opt['params']):.3g}, D = {float(opt['tokens']):.3g}, "
                    f"{float(opt['tokens_per_param']):.1f} tokens/param, loss {float(opt['loss']):.4f}"
                )
        return "\n".join(lines)


def fit_loss_law(
    loss,
    x: dict[str, object],
    *,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int | None = 0,
    confidence: float = 0.95,
    delta: float = HUBER_DELTA,
    max_iter: int = 1000,
    n_starts: int = N_STARTS,
) -> LossLawResult:
    """Fit L = E + Σ_k A_k / x_k^{α_k} (K = 1 or 2 scale variables) by Huber-on-log-residuals.

    1) L-BFGS from the `n_starts` points of the Besiroglu et al. start grid (4,500
       points for K = 2) with the lowest initial objective, run as one batch;
    2) the lowest end point polished with scipy's L-BFGS-B; 3) `n_bootstrap` resamples
    of the points (multinomial weights) refitted as one batch from that optimum.
    """
    from scipy.optimize import minimize

    inputs = tuple(x)
    K = len(inputs)
    if K not in (1, 2):
        raise InputError(
            f"loss law: got {K} scale variables ({', '.join(inputs)}); use 'loss ~ params + tokens' or 'loss ~ flops'."
        )
    L = np.asarray(loss, dtype=float).ravel()
    if not np.all(np.isfinite(L) & (L > 0)):
        raise InputError("loss law: losses must be finite and > 0; drop diverged runs first.")
    X = np.column_stack([np.log(np.asarray(x[k], dtype=float).ravel()) for k in inputs])
    if X.shape[0] != L.size or not np.all(np.isfinite(X)):
        raise InputError(f"loss law: {', '.join(inputs)} need one finite value > 0 per loss.")
    n_coef = 2 * K + 1
    if L.size <= n_coef:
        raise InputError(f"loss law: {L.size} points for {n_coef} coefficients; give at least {n_coef + 1} scales.")
    for k, name in enumerate(inputs):
        if np.ptp(X[:, k]) == 0:
            raise InputError(f"loss law: every point has the same {name}; a law in {name} needs several values.")
    logL = np.log(L)

    # 1) the start grid: score every point, run one batch of L-BFGS from the n_starts best
    one = _objective(X, logL, np.ones((1, L.size)), delta)
    grid = _start_grid(K)
    f0, _ = one(grid, np.zeros(grid.shape[0], int))
    starts = grid[np.argsort(np.where(np.isfinite(f0), f0, np.inf))[:n_starts]]
    # scipy's default stopping rule is enough to rank the starts; the winner is polished below
    fit_grid = minimize_batched(one, starts, max_iter=max_iter, ftol=2.2e-9, gtol=1e-5)
    best = fit_grid.x[int(np.nanargmin(fit_grid.fun))]

    # 2) polish with scipy

    def scalar(theta):
        f, g = one(theta[None, :], np.zeros(1, int))
        return float(f[0]), g[0]

    polished = minimize(
        scalar, best, jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-12}
    )
    theta = polished.x if polished.fun <= scalar(best)[0] else best
    f_best, _ = scalar(theta)

    # 3) bootstrap as one batch
    boot = np.empty((0, n_coef))
    if n_bootstrap > 0:
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(L.size, np.full(L.size, 1.0 / L.size), size=n_bootstrap).astype(float)
        refit = minimize_batched(
            _objective(X, logL, counts, delta), np.tile(theta, (n_bootstrap, 1)), max_iter=max_iter
        )
        boot = _theta_to_coef(refit.x, K)
    names = _names(inputs)
    coef_v = _theta_to_coef(theta, K)
    intervals = {}
    if n_bootstrap > 0:
        tail = 50 * (1 - confidence)
        q = np.nanpercentile(boot, [tail, 100 - tail], axis=0)
        intervals = {k: (float(q[0, j]), float(q[1, j])) for j, k in enumerate(names)}
    m, _ = _log_model(theta[None, :], X)
    return LossLawResult(
        inputs=inputs,
        coef={k: float(v) for k, v in zip(names, coef_v, strict=True)},
        intervals=intervals,
        huber_loss=float(f_best * delta),
        n=int(L.size),
        confidence=confidence,
        n_bootstrap=n_bootstrap,
        n_starts=int(starts.shape[0]),
        converged=bool(polished.success or fit_grid.converged.any()),
        rmse_log=float(math.sqrt(np.mean((m[0] - logL) ** 2))),
        bootstrap=boot,
    )
