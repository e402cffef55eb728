"""One joint model across scales for runs without a per-scale grid (random, Bayesian, CARBS searches).

Notations
---------
N, D         params, tokens of each run (> 0); one row per run (its final evaluation)
h_j          the basin hyperparameters: lr, batch_size, weight_decay when they vary, are > 0
             and vary at fixed scale; other HP columns enter as nuisance terms
model        L(N, D, h) = (E + A/N^α + B/D^β) · exp(basin + nuisance), see `scaling.joint_model`
h*_j(N, D)   = c_j · N^{a_j} · D^{b_j}, the centre of the basin: the HP laws
tuned loss   L*(N, D) = (E + A/N^α + B/D^β) · exp(min nuisance over its observed range): the
             loss law of a tuned model, > 0 by construction
σ            robust scatter of the log residuals (1.4826 · median absolute deviation)
B            bootstrap resamples over runs (multinomial counts, shape (B, n))

Recipe: 1) starting points from the data (a quadratic trend of ln L in ln N, ln D gives the
runs that are good for their scale; their log HPs regressed on ln N, ln D give the starting
centres), crossed with a small grid of E, α, β and basin curvatures, run as one batch of
L-BFGS on the Huber objective (ranked on at most `START_RUNS` runs); 2) the best end point
refined on all runs; 3) a bootstrap over runs.
With up to `REFIT_MAX_RUNS` runs, every resample is refitted as one batch from the optimum;
above it, each resample takes one Newton step from the optimum with its own gradient and
Gauss-Newton Hessian (the one-step bootstrap of Davison, Hinkley & Schechtman 1986, first-order
equivalent to a full refit as n grows), which costs two matrix products instead of B·n work
per L-BFGS iteration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tunescale.contract.errors import InputError
from tunescale.scaling.joint_model import (
    ABSENT,
    OPTIONAL_TERMS,
    Design,
    Layout,
    jacobian,
    log_law,
    log_predictions,
    log_residuals,
    objective,
)
from tunescale.scaling.lbfgs import minimize_batched
from tunescale.scaling.loss_law import two_level_inputs

BASIN_HPS = ("lr", "batch_size", "weight_decay")
# δ on log residuals: ten times the Chinchilla fit's, because here the residuals also carry the
# basin's misfit far from the optimum and seed noise of ~0.5-1%; at 1e-3 nearly every run sits in
# the linear part and the fit turns into a median regression whose kinks L-BFGS crawls over
HUBER_DELTA = 1e-2
# with more runs than this, the bootstrap takes one Newton step per resample (see above): on 900
# synthetic runs its exponent intervals matched those of 200 full refits to 0.002, in 1/10 of the time;
# with fewer, the model's curvature over one resample's spread matters and every resample is refitted
REFIT_MAX_RUNS = 300
# the starting points are ranked on a random subset of this many runs; only the winner sees them all
START_RUNS = 1000
# (starts kept, L-BFGS iterations before the cut): all 32 starts run 50 iterations, the best 8 run 150
# more, the best 2 go on to convergence. Run to convergence, the 32 starts took 730 iterations on the
# 5,000-row checkpointed benchmark; halved, the fit reached the same optimum (to 1e-9 of the objective)
# on 15 of 15 tables (10 Step Law 5% draws, 4 synthetic, the benchmark's), 1.3-3.4x faster
START_ROUNDS = ((8, 50), (2, 150))
CONFOUNDED_R2 = 0.95  # an HP whose log is this well explained by ln N, ln D is tied to scale
# the basin's optional shape terms (asymmetry, then cross terms, then curvature scaling with N) are
# fitted only while there are this many runs per fitted coefficient: with fewer, each extra shape
# term trades its bias for more variance in the centres than it removes
RUNS_PER_COEF = 5
MIN_RUNS_PER_COEF = 3  # below this, even the leanest model is refused
# a basin HP whose fitted optimum lies this many decades outside the values searched, at the median run's
# scale, has no optimum the data can show: its loss is flat there, or the search box missed the optimum
OUTSIDE_DECADES = 0.5
UNRESOLVED = "its fitted optimum lies far outside the values searched (a flat loss, or a box that misses the optimum)"


@dataclass(frozen=True)
class Column:
    """How a nuisance column enters: z = (f(value) - mean) / sd, f = ln or identity."""

    name: str
    log: bool
    mean: float
    sd: float
    low: float
    high: float

    def transform(self, values) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        return ((np.log(v) if self.log else v) - self.mean) / self.sd


def _quantiles(draws: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    tail = 50 * (1 - confidence)
    with np.errstate(invalid="ignore"):
        lo, hi = np.nanpercentile(draws, [tail, 100 - tail], axis=0)
    return lo, hi


@dataclass(frozen=True)
class JointFit:
    """A fitted joint model. `theta` is the optimum, `bootstrap` the refitted θ per resample
    (rows of NaN where a resample failed); `log_residuals` are per fitted run."""

    hps: tuple[str, ...]
    nuisance: tuple[Column, ...]
    axes: tuple[str, ...]  # the scale columns that vary: params, tokens or both
    law_axes: tuple[tuple[str, ...], ...]  # per basin HP, the scale columns its optimum moves with
    terms: tuple[str, ...]  # the optional basin shape terms fitted
    unresolved: tuple[str, ...]  # basin HPs whose optimum lies outside the searched range (see `_unresolved`)
    n0: float
    d0: float
    theta: np.ndarray = field(repr=False)
    bootstrap: np.ndarray = field(repr=False)
    bootstrap_method: str
    delta: float
    huber_loss: float
    n_runs: int
    sigma: float
    rmse_log: float
    converged: bool
    confidence: float
    scale_range: dict[str, tuple[float, float]]
    log_residuals: np.ndarray = field(repr=False)
    notes: tuple[str, ...] = ()

    @property
    def layout(self) -> Layout:
        return Layout(len(self.hps), len(self.nuisance))

    @property
    def n_bootstrap(self) -> int:
        return int(self.bootstrap.shape[0])

    # --- read-offs, for θ of shape (p,) or (B, p) ------------------------------------------------
    def _nuisance_offset(self, theta: np.ndarray) -> np.ndarray:
        """min over each nuisance column's observed range of γ1·z + γ2·z², summed over columns."""
        theta = np.atleast_2d(theta)
        gam = theta[:, self.layout.nuisance].reshape(theta.shape[0], len(self.nuisance), 2)
        out = np.zeros(theta.shape[0])
        for t, col in enumerate(self.nuisance):
            g1, g2 = gam[:, t, 0], gam[:, t, 1]
            lo, hi = col.transform(col.low), col.transform(col.high)
            with np.errstate(divide="ignore", invalid="ignore"):
                vertex = np.clip(np.where(g2 > 0, -g1 / (2 * g2), lo), lo, hi)
            cand = np.stack([g1 * z + g2 * z * z for z in (np.full_like(g1, lo), np.full_like(g1, hi), vertex)])
            out += cand.min(axis=0)
        return out

    def _centre(self, theta: np.ndarray, params, tokens) -> np.ndarray:
        """ln h*_j at (params, tokens): shape (B, m, k) for θ (B, p) and k targets."""
        theta = np.atleast_2d(theta)
        n = np.log(np.asarray(params, dtype=float)) - self.n0
        d = np.log(np.asarray(tokens, dtype=float)) - self.d0
        cen = self.layout.centres(theta)
        return cen[:, :, 0, None] + cen[:, :, 1, None] * n + cen[:, :, 2, None] * d

    def _tuned_log_loss(self, theta: np.ndarray, params, tokens) -> np.ndarray:
        theta = np.atleast_2d(theta)
        n = np.atleast_1d(np.log(np.asarray(params, dtype=float)) - self.n0)
        d = np.atleast_1d(np.log(np.asarray(tokens, dtype=float)) - self.d0)
        n, d = np.broadcast_arrays(n, d)
        return log_law(theta, n.astype(float), d.astype(float))[0] + self._nuisance_offset(theta)[:, None]

    def _check_scale(self, params, tokens) -> tuple[np.ndarray, np.ndarray]:
        p = np.atleast_1d(np.asarray(params, dtype=float))
        t = np.atleast_1d(np.asarray(tokens, dtype=float))
        for name, v in (("params", p), ("tokens", t)):
            if not np.all(np.isfinite(v) & (v > 0)):
                bad = v[~(np.isfinite(v) & (v > 0))][0]
                raise InputError(f"joint model: {name} must be finite and > 0, got {bad:g}.")
        return np.broadcast_arrays(p, t)

    def optimum(self, params, tokens) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Optimal HPs and tuned loss at each (params, tokens): name -> (value, low, high), arrays."""
        p, t = self._check_scale(params, tokens)
        out = {}
        c = self._centre(self.theta, p, t)[0]
        cb = self._centre(self.bootstrap, p, t) if self.n_bootstrap else None
        for j, hp in enumerate(self.hps):
            if hp in self.unresolved:
                out[hp] = (np.nan * c[j],) * 3
                continue
            with np.errstate(over="ignore"):
                lo, hi = _quantiles(np.exp(cb[:, j]), self.confidence) if cb is not None else (np.nan * c[j],) * 2
            out[hp] = (np.exp(c[j]), lo, hi)
        loss = np.exp(self._tuned_log_loss(self.theta, p, t)[0])
        if self.n_bootstrap:
            lo, hi = _quantiles(np.exp(self._tuned_log_loss(self.bootstrap, p, t)), self.confidence)
        else:
            lo = hi = np.nan * loss
        out["loss"] = (loss, lo, hi)
        return out

    def predict_loss(self, frame: pd.DataFrame) -> np.ndarray:
        """Expected loss of each row of `frame` at its own scale, HPs and nuisance values."""
        design = self.design(frame)
        return np.exp(log_residuals(self.layout, design, self.theta, self.delta) + design.log_loss)

    def basin_slice(self, hp: str, values, params: float, tokens: float) -> np.ndarray:
        """The tuned model's loss at (params, tokens) as `hp` takes `values` and every other basin HP sits at
        its optimum (nuisance columns at their best): one slice through the basin."""
        p, t = self._check_scale(params, tokens)
        v = np.asarray(values, dtype=float)
        x = np.repeat(self._centre(self.theta, p, t)[0].T, v.size, axis=0)
        x[:, self.hps.index(hp)] = np.log(v)
        design = Design(
            np.full(v.size, math.log(p[0]) - self.n0),
            np.full(v.size, math.log(t[0]) - self.d0),
            x,
            np.zeros((v.size, len(self.nuisance))),
            np.zeros(v.size),
        )
        log_loss = log_predictions(self.layout, design, self.theta[None, :])[0] + self._nuisance_offset(self.theta)
        return np.exp(log_loss)

    def predict_loss_interval(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Bootstrap interval of the expected loss of each row (its mean, not one new run's noise)."""
        if not self.n_bootstrap:
            nan = np.full(len(frame), np.nan)
            return nan, nan
        draws = np.exp(log_predictions(self.layout, self.design(frame), self.bootstrap))
        return _quantiles(draws, self.confidence)

    def design(self, frame: pd.DataFrame, loss: np.ndarray | None = None) -> Design:
        """The model's inputs from a frame with params, tokens, the basin HPs and nuisance columns."""
        need = ["params", "tokens", *self.hps, *(c.name for c in self.nuisance)]
        missing = [k for k in need if k not in frame.columns]
        if missing:
            raise InputError(
                f"joint model: rows lack {', '.join(missing)}; the model was fitted with {', '.join(need)}."
            )
        p, t = self._check_scale(frame["params"].to_numpy(float), frame["tokens"].to_numpy(float))
        x = (
            np.column_stack([np.log(frame[h].to_numpy(float)) for h in self.hps])
            if self.hps
            else np.zeros((len(frame), 0))
        )
        z = (
            np.column_stack([c.transform(frame[c.name].to_numpy(float)) for c in self.nuisance])
            if self.nuisance
            else np.zeros((len(frame), 0))
        )
        log_loss = np.log(loss) if loss is not None else np.zeros(len(frame))
        return Design(np.log(p) - self.n0, np.log(t) - self.d0, x, z, log_loss)

    def hp_laws(self) -> dict[str, dict]:
        """h*_j = c · N^a · D^b per basin HP: values and bootstrap intervals of c, a (params), b (tokens)."""
        out = {}
        cen = self.layout.centres(self.theta)
        bcen = self.layout.centres(self.bootstrap) if self.n_bootstrap else None
        for j, hp in enumerate(self.hps):
            if hp in self.unresolved:
                out[hp] = {"formula": f"no {hp} law: {UNRESOLVED}", "unresolved": True,
                           "inputs": list(self.law_axes[j])}
                continue
            c0, a, b = cen[j]
            own = self.law_axes[j]
            value = {"c": math.exp(c0 - a * self.n0 - b * self.d0), "params": float(a), "tokens": float(b)}
            powers = "".join(f" · {axis}^{value[axis]:.3f}" for axis in own)
            law = {"formula": f"{hp}* = {value['c']:.4g}{powers}", "coef": value, "inputs": list(own)}
            if bcen is not None:
                with np.errstate(over="ignore"):
                    bc = np.exp(bcen[:, j, 0] - bcen[:, j, 1] * self.n0 - bcen[:, j, 2] * self.d0)
                lo, hi = _quantiles(np.column_stack([bc, bcen[:, j, 1], bcen[:, j, 2]]), self.confidence)
                law["intervals"] = {k: [float(lo[i]), float(hi[i])] for i, k in enumerate(("c", "params", "tokens"))}
            out[hp] = law
        return out

    def _law_coef(self, theta: np.ndarray) -> np.ndarray:
        """(E, A, B, α, β) of the tuned loss law in original units, rows of θ (B, p)."""
        theta = np.atleast_2d(theta)
        off = self._nuisance_offset(theta)
        with np.errstate(over="ignore"):
            E = np.exp(theta[:, 0] + off)
            A = np.exp(theta[:, 1] + theta[:, 3] * self.n0 + off)
            B = np.exp(theta[:, 2] + theta[:, 4] * self.d0 + off)
        return np.column_stack([E, A, B, theta[:, 3], theta[:, 4]])

    def loss_law(self) -> dict:
        """The tuned loss law L* = E + A/N^α + B/D^β with bootstrap intervals."""
        names = ("E", "A", "B", "alpha", "beta")
        coef = dict(zip(names, (float(v) for v in self._law_coef(self.theta)[0]), strict=True))
        terms = [
            f"{coef[c]:.4g}/{axis}^{coef[e]:.4f}"
            for axis, c, e in (("params", "A", "alpha"), ("tokens", "B", "beta"))
            if axis in self.axes
        ]
        out = {"formula": " + ".join([f"loss* = {coef['E']:.4g}", *terms]), "coef": coef}
        if self.n_bootstrap:
            lo, hi = _quantiles(self._law_coef(self.bootstrap), self.confidence)
            out["intervals"] = {k: [float(lo[i]), float(hi[i])] for i, k in enumerate(names)}
        return out

    def curvature(self) -> dict:
        """The basin's Hessian in ln h at the data's mean scale (per unit of ln loss), and its scale exponent k."""
        lay = self.layout
        R = np.zeros((lay.m, lay.m))
        R[np.diag_indices(lay.m)] = np.exp(self.theta[lay.diag])
        for j, (k, col) in enumerate(lay.pairs()):
            R[k, col] = self.theta[lay.off][j]
        H = R.T @ R
        return {"hps": list(self.hps), "matrix": H.tolist(), "scale_exponent_params": float(self.theta[lay.k])}

    def summary(self) -> dict:
        return {
            "method": "joint",
            "model": "loss = (E + A/params^alpha + B/tokens^beta) * exp(basin + nuisance)",
            "basin_hps": list(self.hps),
            "scale_axes": list(self.axes),
            "basin_terms": list(self.terms),
            "nuisance": [{"name": c.name, "log": c.log} for c in self.nuisance],
            "curvature": self.curvature(),
            "hp_laws": self.hp_laws(),
            "loss_law": self.loss_law(),
            "huber_delta": self.delta,
            "huber_loss": self.huber_loss,
            "rmse_log": self.rmse_log,
            "sigma_log": self.sigma,
            "n_runs": self.n_runs,
            "converged": self.converged,
            "confidence": self.confidence,
            "n_bootstrap": self.n_bootstrap,
            "bootstrap_method": self.bootstrap_method,
            "notes": list(self.notes),
        }

    def report(self) -> str:
        lines = [
            f"joint model over {self.n_runs} runs: loss = (E + A/N^α + B/D^β) · exp(basin in "
            f"{', '.join('ln ' + h for h in self.hps) or 'no HP'}"
            + (f" + nuisance in {', '.join(c.name for c in self.nuisance)}" if self.nuisance else "")
            + f"); rms log residual {self.rmse_log:.4f}, robust σ {self.sigma:.4f}",
            f"  {self.n_bootstrap} bootstrap resamples over runs ({self.bootstrap_method}), "
            f"{self.confidence:.0%} intervals",
        ]
        for law in self.hp_laws().values():
            lines.append(f"  {law['formula']}")
            iv = law.get("intervals")
            if iv:
                lines.append(
                    "; ".join(
                        [
                            f"      c {iv['c'][0]:.4g} .. {iv['c'][1]:.4g}",
                            *(f"exponent of {a} {iv[a][0]:.3f} .. {iv[a][1]:.3f}" for a in law["inputs"]),
                        ]
                    )
                )
        law = self.loss_law()
        lines.append(f"  tuned {law['formula']}")
        absent = {"params": ("A", "alpha"), "tokens": ("B", "beta")}
        for k, v in law["coef"].items():
            if any(k in absent[a] for a in absent if a not in self.axes):
                continue
            iv = law.get("intervals", {}).get(k)
            lines.append(f"      {k:<6} {v:.4g}" + (f"  ({iv[0]:.4g} .. {iv[1]:.4g})" if iv else ""))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


DIVERGED_FACTOR = 1.5  # a run this many times above an achievable loss at its scale blew up


def diverged_by_rule(frame: pd.DataFrame, factor: float = DIVERGED_FACTOR) -> np.ndarray:
    """Runs whose loss is above `factor` × the lowest loss among runs with no more params and no
    more tokens (the run itself included): that loss is reachable at the run's own scale, so a run
    far above it diverged, whatever its HPs. Used when the table has no status column."""
    N = frame["params"].to_numpy(float)
    D = frame["tokens"].to_numpy(float)
    L = frame["loss"].to_numpy(float)
    ref = np.empty(L.size)
    step = max(1, 4_000_000 // max(L.size, 1))
    for s in range(0, L.size, step):
        dominated = (N[None, :] <= N[s : s + step, None]) & (D[None, :] <= D[s : s + step, None])
        ref[s : s + step] = np.where(dominated, L[None, :], np.inf).min(axis=1)
    return ~(factor * ref >= L)


# --- fitting ------------------------------------------------------------------------------------


def _columns(frame: pd.DataFrame, hp_cols: tuple[str, ...]) -> tuple[list[str], list[Column], list[str], list[str]]:
    """Basin HPs, nuisance columns, notes and warnings, each HP's role stated with its reason."""
    n = np.log(frame["params"].to_numpy(float))
    d = np.log(frame["tokens"].to_numpy(float))
    scale = np.column_stack([np.ones(len(frame)), n, d])
    basin, nuisance, notes, warnings = [], [], [], []
    for hp in (*BASIN_HPS, *hp_cols):
        if hp not in frame.columns:
            if hp in hp_cols:
                raise InputError(f"--hp-col {hp}: the table has no column '{hp}'.")
            continue
        v = frame[hp].to_numpy(float)
        if not np.all(np.isfinite(v)):
            warnings.append(f"{hp}: has missing values; column not used (fill it or --ignore-col {hp})")
            continue
        distinct = np.unique(v).size
        if distinct < 2:
            notes.append(f"{hp} is fixed at {v[0]:g}: not a term of the model")
            continue
        positive = bool(np.all(v > 0))
        if hp in BASIN_HPS and positive and distinct >= 3:
            x = np.log(v)
            resid = x - scale @ np.linalg.lstsq(scale, x, rcond=None)[0]
            r2 = 1.0 - resid.var() / x.var()
            if resid.std() < 1e-6 * max(1.0, np.abs(x).max()):
                warnings.append(
                    f"{hp}: could not be used — it only changes with scale (a function of params and "
                    f"tokens), so its optimum cannot be told from the scale terms"
                )
                continue
            if r2 > CONFOUNDED_R2:
                warnings.append(
                    f"{hp} is confounded with scale (ln {hp} explained by ln params, ln tokens with "
                    f"R² {r2:.2f}): its law and the loss-law exponents cannot be separated well"
                )
            basin.append(hp)
            continue
        if hp in BASIN_HPS:
            why = "has values <= 0 (no log axis)" if not positive else f"has only {distinct} distinct values"
            notes.append(f"{hp} {why}: entered as a nuisance term (linear + quadratic), no {hp} law")
        log = positive and v.max() / v.min() >= 10
        f = np.log(v) if log else v
        sd = float(f.std()) or 1.0
        nuisance.append(Column(hp, log, float(f.mean()), sd, float(v.min()), float(v.max())))
    return basin, nuisance, notes, warnings


def _starts(design: Design, layout: Layout, axes: tuple[str, ...], law_axes) -> np.ndarray:
    """Starting θs: data-driven centres crossed with a small grid of E, α, β and curvature; the law
    term of a scale column that does not vary starts (and stays) at `ABSENT`, as an HP's exponent in
    a column outside its `law_axes` starts (and stays) at 0."""
    n, d, y = design.n, design.d, design.log_loss
    # runs good for their scale: lowest quarter of the residuals of a quadratic trend in (n, d)
    trend = np.column_stack([np.ones_like(n), n, d, n * n, d * d, n * d])
    resid = y - trend @ np.linalg.lstsq(trend, y, rcond=None)[0]
    good = resid <= np.quantile(resid, 0.25)
    m = layout.m
    lin = np.column_stack([np.ones_like(n), n, d])
    centres = [np.zeros((m, 3)), np.zeros((m, 3))]
    sds = np.ones(m)
    for j in range(m):
        cols = [0, *(1 + i for i, axis in enumerate(("params", "tokens")) if axis in law_axes[j])]
        centres[0][j, cols] = np.linalg.lstsq(lin[good][:, cols], design.x[good, j], rcond=None)[0]
        centres[1][j, 0] = np.median(design.x[good, j])
        sds[j] = max(design.x[:, j].std(), 1e-3)
    L = np.exp(y)
    low, mid = np.quantile(L, 0.02), np.median(L)
    rows = []
    alphas = (0.3, 0.7) if "params" in axes else (0.0,)
    betas = (0.3, 0.7) if "tokens" in axes else (0.0,)
    for fE in (0.5, 0.85):
        E = fE * low
        term = max((mid - E) / 2, 0.05 * E)
        for alpha in alphas:
            for beta in betas:
                for kappa in (0.01, 0.1):
                    for cen in centres:
                        th = np.zeros(layout.p)
                        th[:5] = [math.log(E), math.log(term), math.log(term), alpha, beta]
                        for i, axis in enumerate(("params", "tokens")):
                            if axis not in axes:
                                th[[1 + i, 3 + i]] = ABSENT, 0.0
                        th[layout.centre] = cen.ravel()
                        th[layout.diag] = 0.5 * np.log(kappa / sds**2)
                        rows.append(th)
    return np.array(rows)


def _unresolved(layout: Layout, design: Design, theta: np.ndarray, hps: list[str]) -> tuple[str, ...]:
    """Basin HPs whose optimum at the median run's own scale is `OUTSIDE_DECADES` beyond the values searched."""
    cen = layout.centres(theta)
    out = []
    for j, hp in enumerate(hps):
        mu = cen[j, 0] + cen[j, 1] * design.n + cen[j, 2] * design.d
        x = design.x[:, j]
        outside = np.maximum(x.min() - mu, mu - x.max()) / math.log(10)
        if np.median(outside) > OUTSIDE_DECADES:
            out.append(hp)
    return tuple(out)


def _terms(layout: Layout, axes: tuple[str, ...], law_axes, n_runs: int) -> tuple[str, ...]:
    """The longest prefix of `OPTIONAL_TERMS` whose model has `RUNS_PER_COEF` runs per free coefficient."""
    for k in range(len(OPTIONAL_TERMS), 0, -1):
        if n_runs >= RUNS_PER_COEF * int(layout.free(OPTIONAL_TERMS[:k], axes, law_axes).sum()):
            return OPTIONAL_TERMS[:k]
    return ()


def _point_fit(
    layout: Layout,
    design: Design,
    free: np.ndarray,
    axes: tuple[str, ...],
    law_axes,
    delta: float,
    max_iter: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float, bool]:
    """The optimum θ over the free coefficients: 1) the starts as one batch, ranked on at most
    `START_RUNS` runs, halved in `START_ROUNDS` (each round's best go on, the last runs to convergence);
    2) the best end point refined on all runs to tight tolerances."""
    n = design.n.size
    subset = design.take(np.sort(rng.choice(n, START_RUNS, replace=False))) if n > START_RUNS else design
    fun_grad = objective(layout, subset, np.ones((1, subset.n.size)), delta, free)
    x = _starts(subset, layout, axes, law_axes)
    for keep, iters in (*START_ROUNDS, (1, max_iter)):
        run = minimize_batched(fun_grad, x, max_iter=iters, ftol=2.2e-9, gtol=1e-5)
        order = np.argsort(np.where(np.isfinite(run.fun), run.fun, np.inf), kind="stable")
        x = run.x[order[:keep]]
    final = minimize_batched(objective(layout, design, np.ones((1, n)), delta, free), x[:1], max_iter=max_iter)
    return final.x[0], float(final.fun[0]), bool(final.converged[0])


def _counts(n: int, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """Multinomial draw counts (B, n) of a bootstrap over n runs."""
    draws = rng.integers(0, n, size=(n_bootstrap, n))
    draws += (n * np.arange(n_bootstrap))[:, None]
    return np.bincount(draws.ravel(), minlength=n_bootstrap * n).reshape(n_bootstrap, n).astype(float)


def _hessian(fun_grad, theta: np.ndarray) -> np.ndarray:
    """Hessian of the full-data objective at θ by central differences of its gradient."""
    p = theta.size
    eps = 1e-5 * np.maximum(1.0, np.abs(theta))
    pts = np.repeat(theta[None, :], 2 * p, axis=0)
    pts[np.arange(p), np.arange(p)] += eps
    pts[p + np.arange(p), np.arange(p)] -= eps
    _, g = fun_grad(pts, np.zeros(2 * p, int))
    H = (g[:p] - g[p:]) / (2 * eps[:, None])
    return 0.5 * (H + H.T)


def _one_step(
    layout: Layout, design: Design, theta: np.ndarray, counts: np.ndarray, delta: float, fun_grad, free: np.ndarray
) -> np.ndarray:
    """θ_b = θ̂ - H_b⁻¹ g_b per resample: g_b = Σ_i k_bi ψ_i J_i, H_b = H + Σ_i (k_bi - 1) ψ'_i J_i J_iᵀ,
    over the free coefficients only (the others stay at θ̂)."""
    J = jacobian(layout, design, theta, delta)[:, free]
    r = log_residuals(layout, design, theta, delta)
    psi = np.clip(r, -delta, delta) / delta
    inside = (np.abs(r) <= delta) / delta
    p = int(free.sum())
    iu, ju = np.triu_indices(p)
    grads = counts @ (psi[:, None] * J)
    gn_terms = inside[:, None] * J[:, iu] * J[:, ju]
    extra = (counts - 1.0) @ gn_terms
    H = _hessian(fun_grad, theta)[np.ix_(free, free)]
    Hb = np.repeat(H[None], counts.shape[0], axis=0)
    Hb[:, iu, ju] += extra
    Hb[:, ju, iu] = Hb[:, iu, ju]
    out = np.tile(theta, (counts.shape[0], 1))
    try:
        eig = np.linalg.eigvalsh(Hb)
    except np.linalg.LinAlgError:
        return np.full_like(out, np.nan)
    ok = eig[:, 0] > 1e-10 * np.maximum(eig[:, -1], 1e-300)
    out[~ok] = np.nan
    if ok.any():
        out[np.ix_(ok, free)] -= np.linalg.solve(Hb[ok], grads[ok][..., None])[..., 0]
    return out


def fit_joint(
    frame: pd.DataFrame,
    *,
    hp_cols: tuple[str, ...] = (),
    n_bootstrap: int = 1000,
    seed: int | None = 0,
    confidence: float = 0.95,
    delta: float = HUBER_DELTA,
    max_iter: int = 2000,
    terms: tuple[str, ...] | None = None,
    law_inputs: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[JointFit, list[str]]:
    """Fit the joint model to one row per run (params, tokens, loss, HP columns); returns the fit and warnings.

    `terms`: the optional basin shape terms to fit (see `OPTIONAL_TERMS`); default: as many, in that
    order, as leave `RUNS_PER_COEF` runs per fitted coefficient.
    `law_inputs`: per basin HP, the scale columns its optimum moves with (default: params and tokens);
    when none of them varies, the ones that do."""
    for col in ("params", "tokens", "loss"):
        if col not in frame.columns:
            raise InputError(
                f"joint model: needs a '{col}' column (map it with --{col}-col); the joint model "
                f"is a law in params and tokens."
            )
    L = frame["loss"].to_numpy(float)
    if not np.all(np.isfinite(L) & (L > 0)):
        raise InputError("joint model: losses must be finite and > 0; drop diverged runs first.")
    basin, nuisance, notes, warnings = _columns(frame, tuple(hp_cols))
    n_log = np.log(frame["params"].to_numpy(float))
    d_log = np.log(frame["tokens"].to_numpy(float))
    axes = tuple(name for name, v in (("params", n_log), ("tokens", d_log)) if np.ptp(v) > 0)
    if not axes:
        raise InputError("joint model: every run has the same params and tokens; a law needs runs at several scales.")
    warnings += two_level_inputs({name: frame[name].to_numpy() for name in axes})
    for name in {"params", "tokens"} - set(axes):
        value = float(frame[name].iloc[0])
        notes.append(
            f"{name} is {value:g} in every run: no {name} term in the loss law and no {name} exponent "
            f"in the HP laws (predictions hold at {name} = {value:g})"
        )
    layout = Layout(len(basin), len(nuisance))
    law_axes = tuple(
        tuple(a for a in axes if a in (law_inputs or {}).get(hp, axes)) or axes for hp in basin
    )
    terms = _terms(layout, axes, law_axes, len(L)) if terms is None else tuple(terms)
    n_coef = int(layout.free(terms, axes, law_axes).sum())
    if len(L) < MIN_RUNS_PER_COEF * n_coef:
        raise InputError(
            f"joint model: {len(L)} runs for {n_coef} coefficients; give at least "
            f"{MIN_RUNS_PER_COEF * n_coef} runs (or fewer --hp-col terms)."
        )
    dropped = [
        t
        for t in OPTIONAL_TERMS
        if t not in terms
        and not np.array_equal(layout.free(terms, axes, law_axes), layout.free((*terms, t), axes, law_axes))
    ]
    if dropped:
        notes.append(
            f"lean basin for {len(L)} runs: no {', '.join(t.replace('_', ' ') for t in dropped)} "
            f"(shape terms are fitted only with {RUNS_PER_COEF}+ runs per coefficient)"
        )
    n0, d0 = float(n_log.mean()), float(d_log.mean())
    x = np.column_stack([np.log(frame[h].to_numpy(float)) for h in basin]) if basin else np.zeros((len(L), 0))
    z = (
        np.column_stack([c.transform(frame[c.name].to_numpy(float)) for c in nuisance])
        if nuisance
        else np.zeros((len(L), 0))
    )
    design = Design(n_log - n0, d_log - d0, x, z, np.log(L))

    rng = np.random.default_rng(seed)
    free = layout.free(terms, axes, law_axes)
    theta, f_best, converged = _point_fit(layout, design, free, axes, law_axes, delta, max_iter, rng)
    one = objective(layout, design, np.ones((1, len(L))), delta, free)

    # 3) bootstrap over runs
    boot = np.empty((0, layout.p))
    method = "none"
    if n_bootstrap > 0:
        counts = _counts(len(L), n_bootstrap, rng)
        if len(L) <= REFIT_MAX_RUNS:
            # A refit started at the point fit stays where it starts along a flat basin, whose optimum the
            # runs leave undetermined. So each resample is also refitted from its basin centres drawn across
            # the values searched, and keeps the better of its two fits: a flat basin then shows as a wide
            # interval, while a curved one keeps its optimum (a far start that ends worse is dropped).
            jittered = np.tile(theta, (n_bootstrap, 1))
            jittered[:, layout.centres_at_reference] += rng.normal(size=(n_bootstrap, layout.m)) * x.std(axis=0)
            refit = minimize_batched(
                objective(layout, design, np.concatenate([counts, counts]), delta, free),
                np.concatenate([np.tile(theta, (n_bootstrap, 1)), jittered]), max_iter=max_iter,
            )
            fun = np.where(np.isfinite(refit.fun), refit.fun, np.inf).reshape(2, n_bootstrap)
            best = np.argmin(fun, axis=0)
            boot = refit.x.reshape(2, n_bootstrap, -1)[best, np.arange(n_bootstrap)]
            boot = np.where(np.isfinite(fun.min(axis=0))[:, None], boot, np.nan)
            method = "every resample refitted"
        else:
            boot = _one_step(layout, design, theta, counts, delta, one, free)
            method = "one Newton step per resample from the optimum"
        failed = int(np.isnan(boot).any(axis=1).sum())
        if failed:
            notes.append(f"{failed} of {n_bootstrap} bootstrap resamples gave no solution and are left out")
    unresolved = _unresolved(layout, design, theta, basin)
    warnings += [
        f"{hp}: {UNRESOLVED}; no {hp} law or optimum (widen its range, or --ignore-col {hp})" for hp in unresolved
    ]
    r = log_residuals(layout, design, theta, delta)
    sigma = float(1.4826 * np.median(np.abs(r - np.median(r))))
    fit = JointFit(
        hps=tuple(basin),
        nuisance=tuple(nuisance),
        axes=axes,
        law_axes=law_axes,
        terms=tuple(terms),
        unresolved=unresolved,
        n0=n0,
        d0=d0,
        theta=theta,
        bootstrap=boot,
        bootstrap_method=method,
        delta=delta,
        huber_loss=f_best * delta,
        n_runs=len(L),
        sigma=sigma,
        rmse_log=float(np.sqrt(np.mean(r * r))),
        converged=converged,
        confidence=confidence,
        scale_range={
            "params": (float(np.exp(n_log.min())), float(np.exp(n_log.max()))),
            "tokens": (float(np.exp(d_log.min())), float(np.exp(d_log.max()))),
        },
        log_residuals=r,
        notes=tuple(notes),
    )
    return fit, warnings
