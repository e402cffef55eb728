"""Optimal hyperparameter value at one scale: a parabola in log(HP), not a bare argmin.

Notations
---------
h        hyperparameter value (lr, batch_size, weight_decay), > 0; shape (n,)
x        log(h), natural log; the axis every fit here lives on
L        final loss of each run, shape (n,)
x*       vertex of the fitted parabola L ≈ c0 + c1·x + c2·x², x* = -c1 / (2·c2)
h*       exp(x*), the reported optimum
B        number of bootstrap resamples; resampled weights have shape (B, n)
band     near-optimal band: the h range of runs with L ≤ L_best·(1 + band_pct/100)
(x, y)   for the joint optimum: x = log(lr), y = log(batch_size); paraboloid
         L ≈ c0 + c1·x + c2·y + c3·x² + c4·x·y + c5·y², vertex solves H·v = -g

The grid is usually coarse (factors of 2 or √2 between values), so the vertex of a
parabola through the best runs and their neighbours locates the optimum between grid
points and is far less noisy than the argmin. When the best run sits on the edge of the
grid the minimum is not bracketed: the fit falls back to the best run, flags
`at_edge`, and reports an interval reaching one full grid span beyond the edge. It also falls
back when the fitted minimum is implausible (`plausible_minimum`: ≤ 0, or further below the
best run than the window's spread of losses), so no optimum loss is ever ≤ 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tunescale.contract.errors import InputError

DEFAULT_BOOTSTRAP = 200  # enough for a 95% percentile interval at this precision
DEFAULT_BAND_PCT = 0.25  # DeepSeek LLM and Step Law call runs within 0.25% of the best "near-optimal"
WINDOW_STEPS = 2  # fit the parabola on the best grid value and 2 grid values either side
JOINT_WINDOW_STEPS = 3  # a paraboloid has 6 coefficients: a wider window in each direction


def _as_positive(values, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=float).ravel()
    if a.size and (not np.all(np.isfinite(a)) or np.any(a <= 0)):
        bad = a[~(np.isfinite(a) & (a > 0))][0]
        raise InputError(f"{name}: value {float(bad)!r} cannot go on a log axis; expected finite values > 0.")
    return a


def _as_losses(values, n: int) -> np.ndarray:
    L = np.asarray(values, dtype=float).ravel()
    if L.size != n:
        raise InputError(f"losses: got {L.size} values for {n} hyperparameter values; give one loss per run.")
    if not np.all(np.isfinite(L)):
        raise InputError("losses: contains NaN or inf; drop diverged runs before fitting an optimum.")
    return L


def _band(h: np.ndarray, loss: np.ndarray, band_pct: float) -> tuple[float, float]:
    near = loss <= loss.min() * (1.0 + band_pct / 100.0)
    return float(h[near].min()), float(h[near].max())


def _normal_terms(design: np.ndarray, L: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-run terms (n, p(p+1)/2 + p) of the weighted normal equations: the upper triangle
    of w_i·d_i·d_iᵀ, then w_i·L_i·d_i. Summed with weights k_i (1 for the fit itself, the
    draw counts for a bootstrap resample) they give that fit's equations."""
    iu, ju = np.triu_indices(design.shape[1])
    return np.hstack([w[:, None] * design[:, iu] * design[:, ju], (w * L)[:, None] * design])


def _solve_normal(sums: np.ndarray, p: int) -> np.ndarray:
    """Coefficients (B, p) from summed `_normal_terms` (B, ·); a ridge of 1e-10 of the trace
    keeps resamples that drew too few distinct points solvable (their vertex is then
    clipped to the window like any other degenerate resample)."""
    iu, ju = np.triu_indices(p)
    G = np.empty((sums.shape[0], p, p))
    G[:, iu, ju] = sums[:, : iu.size]
    G[:, ju, iu] = sums[:, : iu.size]
    ridge = 1e-10 * np.trace(G, axis1=1, axis2=2)[:, None, None] * np.eye(p)
    return np.linalg.solve(G + ridge, sums[:, iu.size:, None])[..., 0]


# Point draws are counted in blocks of about this many (the counts then stay in L2 cache,
# ~4x faster than one pass) and summed into normal equations in batches of about this
# many counts (one large matrix product instead of many small ones; 32 MB of float64).
_DRAWS_PER_COUNT_BLOCK = 32_768
_COUNTS_PER_PRODUCT = 1 << 22


def _bootstrap_lstsq(terms: np.ndarray, p: int, rng: np.random.Generator, n_bootstrap: int) -> np.ndarray:
    """Weighted least squares refitted on `n_bootstrap` resamples of the n runs: shape (B, p).

    A resample that draws run i k_i times sums the per-run normal-equation terms (n, ·)
    with weights k_i, so a batch of resamples is one matrix product of their counts (b, n)
    with the terms: no per-draw gathers, and memory bounded by the batch, not by B·n.
    """
    n = terms.shape[0]
    sums = np.empty((n_bootstrap, terms.shape[1]))
    block = max(1, min(n_bootstrap, _DRAWS_PER_COUNT_BLOCK // n))
    batch = block * max(1, _COUNTS_PER_PRODUCT // (block * n))
    counts = np.empty((min(batch, n_bootstrap), n))
    offsets = (n * np.arange(block, dtype=np.intp))[:, None]
    for first in range(0, n_bootstrap, batch):
        rows = min(batch, n_bootstrap - first)
        for start in range(0, rows, block):
            b = min(block, rows - start)
            draws = rng.integers(0, n, size=(b, n), dtype=np.intp)
            draws += offsets[:b]  # resample j counts into bins j·n .. j·n + n - 1
            counts[start:start + b] = np.bincount(draws.ravel(), minlength=b * n).reshape(b, n)
        sums[first:first + rows] = counts[:rows] @ terms
    return _solve_normal(sums, p)


def plausible_minimum(value: float, losses: np.ndarray) -> bool:
    """A fitted minimum is kept only if it is > 0 and no further below the lowest loss of the
    runs it was fitted to than the spread of their losses: a parabola through a noisy or flat
    window can dip far below every run (even below 0), and that dip is not a loss anyone reached."""
    low = float(losses.min())
    return value > 0 and value >= low - (float(losses.max()) - low)


_EDGE_NOTE = "  [optimum at edge of grid: widen the sweep]"


@dataclass(frozen=True)
class OptimumResult:
    """The optimum of one hyperparameter at one scale.

    `value`, `low`, `high`, `band_low`, `band_high` are in hyperparameter units (not
    log). `coef` holds the parabola (c0, c1, c2) in x = log(h), or is None when the fit
    fell back to the best run (`method == "best point"`).
    """

    hp: str
    value: float
    low: float
    high: float
    at_edge: bool
    band_low: float
    band_high: float
    best_loss: float
    n_points: int
    method: str
    confidence: float
    band_pct: float
    n_bootstrap: int
    coef: tuple[float, float, float] | None

    def predict(self, hp_values) -> np.ndarray:
        """Loss the fitted parabola gives at `hp_values` (only meaningful near the optimum)."""
        if self.coef is None:
            raise InputError(f"{self.hp}: the optimum fell back to the best run; there is no parabola to evaluate.")
        x = np.log(_as_positive(hp_values, self.hp))
        c0, c1, c2 = self.coef
        return c0 + c1 * x + c2 * x * x

    def summary(self) -> dict:
        """Plain JSON-safe data."""
        return {
            "hp": self.hp,
            "value": self.value,
            "interval": [self.low, self.high],
            "confidence": self.confidence,
            "at_edge": self.at_edge,
            "band": [self.band_low, self.band_high],
            "band_pct": self.band_pct,
            "best_loss": self.best_loss,
            "n_points": self.n_points,
            "method": self.method,
            "n_bootstrap": self.n_bootstrap,
            "coef": list(self.coef) if self.coef is not None else None,
        }

    def report(self) -> str:
        edge = _EDGE_NOTE if self.at_edge else ""
        return (
            f"{self.hp}* = {self.value:.4g}  ({self.confidence:.0%} interval {self.low:.4g} .. {self.high:.4g}; "
            f"{self.band_pct:g}% band {self.band_low:.4g} .. {self.band_high:.4g}; {self.n_points} runs, "
            f"{self.method}){edge}"
        )


def fit_optimum(
    hp_values,
    losses,
    *,
    hp: str = "hp",
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int | None = 0,
    confidence: float = 0.95,
    band_pct: float = DEFAULT_BAND_PCT,
    window_steps: int = WINDOW_STEPS,
) -> OptimumResult:
    """Optimum of loss over one hyperparameter from runs at one scale.

    1) the window: the grid value with the lowest mean loss and `window_steps` grid
       values either side; 2) a parabola in log(h) fitted to every run in the window,
       weighted by a Gaussian kernel centred on the best grid value (bandwidth = the
       window's half-width) so that far points only shape the curvature; 3) a bootstrap
       over the runs in the window (all resamples solved at once)
       for a percentile interval. Falls back to the best run when the minimum is on the
       grid's edge or the parabola opens downwards.
    """
    h = _as_positive(hp_values, hp)
    L = _as_losses(losses, h.size)
    if h.size == 0:
        raise InputError(f"{hp}: no runs to fit an optimum from; give at least 3 distinct {hp} values.")
    x = np.log(h)
    grid, inverse = np.unique(x, return_inverse=True)
    mean_loss = np.bincount(inverse, weights=L) / np.bincount(inverse)
    best = int(np.argmin(mean_loss))
    band_low, band_high = _band(h, L, band_pct)
    common = dict(hp=hp, confidence=confidence, band_low=band_low, band_high=band_high,
                  band_pct=band_pct, n_points=int(h.size))

    lo_i, hi_i = max(0, best - window_steps), min(grid.size - 1, best + window_steps)
    in_window = (inverse >= lo_i) & (inverse <= hi_i)
    edge = best in (0, grid.size - 1)
    if grid.size < 3 or edge:
        return _fallback(grid, best, float(mean_loss[best]), **common)

    xw, Lw = x[in_window], L[in_window]
    half_width = max(grid[best] - grid[lo_i], grid[hi_i] - grid[best])
    kernel = np.exp(-0.5 * ((xw - grid[best]) / half_width) ** 2)
    u = (xw - grid[best]) / half_width  # centred and scaled: keeps the normal equations well conditioned
    design = np.stack([np.ones_like(u), u, u * u], axis=1)
    terms = _normal_terms(design, Lw, kernel)  # shared by the fit and its bootstrap
    coef_u = _solve_normal(terms.sum(axis=0)[None], design.shape[1])[0]
    if coef_u[2] <= 0:
        return _fallback(grid, best, float(mean_loss[best]), **common)
    coef = _unscale_parabola(coef_u, grid[best], half_width)
    x_star = float(np.clip(-coef[1] / (2 * coef[2]), grid[lo_i], grid[hi_i]))
    best_loss = float(coef[0] + coef[1] * x_star + coef[2] * x_star**2)
    if not plausible_minimum(best_loss, Lw):
        return _fallback(grid, best, float(mean_loss[best]), **common)

    rng = np.random.default_rng(seed)
    boot = _bootstrap_lstsq(terms, design.shape[1], rng, n_bootstrap)
    with np.errstate(divide="ignore", invalid="ignore"):
        vertices = np.where(boot[:, 2] > 0, grid[best] - half_width * boot[:, 1] / (2 * boot[:, 2]), grid[best])
    vertices = np.clip(vertices, grid[lo_i], grid[hi_i])
    tail = 50 * (1 - confidence)
    # no resamples, no interval: NaN says so (the CLI writes it as null)
    lo_x, hi_x = np.percentile(vertices, [tail, 100 - tail]) if n_bootstrap else (math.nan, math.nan)
    return OptimumResult(
        value=math.exp(x_star), low=math.exp(min(lo_x, x_star)), high=math.exp(max(hi_x, x_star)),
        at_edge=False, best_loss=best_loss, method="parabola",
        n_bootstrap=n_bootstrap, coef=(float(coef[0]), float(coef[1]), float(coef[2])), **common,
    )


def _unscale_parabola(c: np.ndarray, x0: float, s: float) -> np.ndarray:
    """(c0, c1, c2) of the parabola in x from its coefficients in u = (x - x0) / s."""
    a0, a1, a2 = c
    return np.array([a0 - a1 * x0 / s + a2 * x0**2 / s**2, a1 / s - 2 * a2 * x0 / s**2, a2 / s**2])


def _fallback(grid: np.ndarray, best: int, best_loss: float, **common) -> OptimumResult:
    """Best grid value with an interval one full grid span past the unbracketed side."""
    span = grid[-1] - grid[0] if grid.size > 1 else math.log(10.0)
    left = grid[best - 1] if best > 0 else grid[best] - span
    right = grid[best + 1] if best < grid.size - 1 else grid[best] + span
    return OptimumResult(
        value=math.exp(grid[best]), low=math.exp(left), high=math.exp(right),
        at_edge=best in (0, grid.size - 1), best_loss=best_loss, method="best point",
        n_bootstrap=0, coef=None, **common,
    )


@dataclass(frozen=True)
class JointOptimumResult:
    """The joint optimum of (lr, batch_size) at one scale, from a paraboloid in (log lr, log bs).

    Intervals are bootstrap percentiles of the vertex, one per coordinate. `coef` is
    (c0, c1, c2, c3, c4, c5) of the paraboloid, None on fallback to the best run.
    """

    lr: float
    lr_low: float
    lr_high: float
    batch_size: float
    batch_size_low: float
    batch_size_high: float
    at_edge: bool
    best_loss: float
    n_points: int
    method: str
    confidence: float
    n_bootstrap: int
    coef: tuple[float, ...] | None

    def predict(self, lr, batch_size) -> np.ndarray:
        """Loss of the fitted paraboloid at (lr, batch_size)."""
        if self.coef is None:
            raise InputError("joint optimum fell back to the best run; there is no paraboloid to evaluate.")
        x = np.log(_as_positive(lr, "lr"))
        y = np.log(_as_positive(batch_size, "batch_size"))
        c0, c1, c2, c3, c4, c5 = self.coef
        return c0 + c1 * x + c2 * y + c3 * x * x + c4 * x * y + c5 * y * y

    def summary(self) -> dict:
        return {
            "lr": self.lr, "lr_interval": [self.lr_low, self.lr_high],
            "batch_size": self.batch_size, "batch_size_interval": [self.batch_size_low, self.batch_size_high],
            "at_edge": self.at_edge, "best_loss": self.best_loss, "n_points": self.n_points,
            "method": self.method, "confidence": self.confidence, "n_bootstrap": self.n_bootstrap,
            "coef": list(self.coef) if self.coef is not None else None,
        }

    def report(self) -> str:
        edge = _EDGE_NOTE if self.at_edge else ""
        return (
            f"lr* = {self.lr:.4g} ({self.lr_low:.4g} .. {self.lr_high:.4g}), "
            f"batch_size* = {self.batch_size:.4g} ({self.batch_size_low:.4g} .. {self.batch_size_high:.4g}); "
            f"{self.n_points} runs, {self.method}{edge}"
        )


def _paraboloid_design(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)


def _vertices(coef: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertex (x, y) of each paraboloid row of coef (B, 6) and whether its Hessian is positive definite."""
    a, b, c = 2 * coef[:, 3], coef[:, 4], 2 * coef[:, 5]
    det = a * c - b * b
    ok = (a > 0) & (det > 0)
    safe = np.where(ok, det, 1.0)
    vx = (-c * coef[:, 1] + b * coef[:, 2]) / safe
    vy = (b * coef[:, 1] - a * coef[:, 2]) / safe
    return vx, vy, ok


def fit_joint_optimum(
    lr,
    batch_size,
    losses,
    *,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int | None = 0,
    confidence: float = 0.95,
    window_steps: int = JOINT_WINDOW_STEPS,
) -> JointOptimumResult:
    """Joint optimum of loss over (lr, batch_size) from a 2-D sweep at one scale.

    The window holds runs within `window_steps` grid values of the best run on both
    axes; the paraboloid is fitted with a Gaussian kernel on the distance (in grid
    half-widths) from the best run, and bootstrapped like `fit_optimum`. The best lr at
    each fixed batch size is another quantity (lr*(B)); this is the joint vertex.
    """
    h_lr = _as_positive(lr, "lr")
    h_bs = _as_positive(batch_size, "batch_size")
    if h_bs.size != h_lr.size:
        raise InputError(f"batch_size: got {h_bs.size} values for {h_lr.size} lr values; give one per run.")
    L = _as_losses(losses, h_lr.size)
    if L.size == 0:
        raise InputError("joint optimum: no runs; give a grid over lr and batch_size.")
    x, y = np.log(h_lr), np.log(h_bs)
    gx, ix = np.unique(x, return_inverse=True)
    gy, iy = np.unique(y, return_inverse=True)
    best = int(np.argmin(L))
    bx, by = ix[best], iy[best]
    edge = bx in (0, gx.size - 1) or by in (0, gy.size - 1)
    window = (np.abs(ix - bx) <= window_steps) & (np.abs(iy - by) <= window_steps)
    n_cells = np.unique(ix[window] * gy.size + iy[window]).size
    common = dict(confidence=confidence, n_points=int(L.size))
    if edge or gx.size < 3 or gy.size < 3 or n_cells < 6:
        return _joint_fallback(gx, gy, bx, by, float(L[best]), at_edge=edge, **common)

    xw, yw, Lw = x[window], y[window], L[window]
    sx = max(gx[min(bx + window_steps, gx.size - 1)] - gx[bx], gx[bx] - gx[max(bx - window_steps, 0)])
    sy = max(gy[min(by + window_steps, gy.size - 1)] - gy[by], gy[by] - gy[max(by - window_steps, 0)])
    kernel = np.exp(-0.5 * (((xw - gx[bx]) / sx) ** 2 + ((yw - gy[by]) / sy) ** 2))
    u, v = (xw - gx[bx]) / sx, (yw - gy[by]) / sy  # centred and scaled for conditioning
    design = _paraboloid_design(u, v)
    terms = _normal_terms(design, Lw, kernel)  # shared by the fit and its bootstrap
    coef_uv = _solve_normal(terms.sum(axis=0)[None], design.shape[1])
    vx, vy, ok = _vertices(coef_uv)
    vx, vy = gx[bx] + sx * vx, gy[by] + sy * vy
    if not ok[0]:
        return _joint_fallback(gx, gy, bx, by, float(L[best]), at_edge=False, **common)
    x_lo, x_hi = xw.min(), xw.max()
    y_lo, y_hi = yw.min(), yw.max()
    x_star, y_star = float(np.clip(vx[0], x_lo, x_hi)), float(np.clip(vy[0], y_lo, y_hi))

    rng = np.random.default_rng(seed)
    bvx, bvy, bok = _vertices(_bootstrap_lstsq(terms, design.shape[1], rng, n_bootstrap))
    bvx, bvy = gx[bx] + sx * bvx, gy[by] + sy * bvy
    bvx = np.clip(np.where(bok, bvx, gx[bx]), x_lo, x_hi)
    bvy = np.clip(np.where(bok, bvy, gy[by]), y_lo, y_hi)
    tail = 50 * (1 - confidence)
    if n_bootstrap:
        (lx, hx), (ly, hy) = np.percentile(bvx, [tail, 100 - tail]), np.percentile(bvy, [tail, 100 - tail])
    else:
        lx = hx = ly = hy = math.nan
    c = _unscale_paraboloid(coef_uv[0], gx[bx], gy[by], sx, sy)
    best_loss = float((_paraboloid_design(np.array([x_star]), np.array([y_star])) @ c)[0])
    if not plausible_minimum(best_loss, Lw):
        return _joint_fallback(gx, gy, bx, by, float(L[best]), at_edge=False, **common)
    return JointOptimumResult(
        lr=math.exp(x_star), lr_low=math.exp(min(lx, x_star)), lr_high=math.exp(max(hx, x_star)),
        batch_size=math.exp(y_star), batch_size_low=math.exp(min(ly, y_star)),
        batch_size_high=math.exp(max(hy, y_star)), at_edge=False, best_loss=best_loss,
        method="paraboloid", n_bootstrap=n_bootstrap, coef=tuple(float(v) for v in c), **common,
    )


def _unscale_paraboloid(c: np.ndarray, x0: float, y0: float, sx: float, sy: float) -> np.ndarray:
    """Paraboloid coefficients in (x, y) from those in u = (x - x0)/sx, v = (y - y0)/sy."""
    a0, a1, a2, a3, a4, a5 = c
    b3, b4, b5 = a3 / sx**2, a4 / (sx * sy), a5 / sy**2
    b1 = a1 / sx - 2 * b3 * x0 - b4 * y0
    b2 = a2 / sy - 2 * b5 * y0 - b4 * x0
    b0 = a0 - a1 * x0 / sx - a2 * y0 / sy + b3 * x0**2 + b4 * x0 * y0 + b5 * y0**2
    return np.array([b0, b1, b2, b3, b4, b5])


def _joint_fallback(gx, gy, bx, by, best_loss, *, at_edge, **common) -> JointOptimumResult:
    def around(g, i):
        span = g[-1] - g[0] if g.size > 1 else math.log(10.0)
        left = g[i - 1] if i > 0 else g[i] - span
        right = g[i + 1] if i < g.size - 1 else g[i] + span
        return math.exp(g[i]), math.exp(left), math.exp(right)

    lr, lr_lo, lr_hi = around(gx, bx)
    bs, bs_lo, bs_hi = around(gy, by)
    return JointOptimumResult(
        lr=lr, lr_low=lr_lo, lr_high=lr_hi, batch_size=bs, batch_size_low=bs_lo, batch_size_high=bs_hi,
        at_edge=at_edge, best_loss=best_loss, method="best point", n_bootstrap=0, coef=None, **common,
    )
