"""Hyperparameter laws: power laws in the scale variables, fitted in log space.

Notations
---------
y        the optimal hyperparameter at each scale (lr*, batch_size*, weight_decay*), > 0
x_j      scale variables (params N, tokens D, or flops C), > 0; shape (n,) each
law      y = c · Π_j x_j^{k_j}   ⇔   log y = log c + Σ_j k_j · log x_j  (OLS, natural log)
n        number of scales (one optimum per scale); p = 1 + number of x_j
B        bootstrap resamples; weights have shape (B, n)

Coefficient intervals are t-intervals from statsmodels OLS (exact under Gaussian noise
on log y); the bootstrap over scales (multinomial weights, all B weighted least-squares
solves batched) is reported beside them, as Step Law and DeepSeek LLM do. A law of a
hyperparameter each run learns itself resamples its runs instead (`scaling.learned_laws`). Prediction
intervals at a new scale use the OLS covariance: the interval of the mean log y, widened
by the residual scatter when `observation=True`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tunescale.contract.errors import InputError

DEFAULT_BOOTSTRAP = 1000  # Step Law averages 1,000 bootstrap refits
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_LAW = re.compile(rf"^\s*({_NAME})\s*~\s*({_NAME}(?:\s*\+\s*{_NAME})*)\s*$")


@dataclass(frozen=True)
class LawSpec:
    """One requested law: `target ~ x1 + x2` (target and x_j are column names)."""

    target: str
    inputs: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.target} ~ {' + '.join(self.inputs)}"


def parse_law(text: str) -> LawSpec:
    """Parse `"lr ~ params + tokens"` into a LawSpec; one-line InputError otherwise."""
    m = _LAW.match(text)
    if not m:
        raise InputError(
            f"--law {text!r}: expected 'TARGET ~ X1 + X2' with column names, e.g. 'lr ~ params + tokens'."
        )
    inputs = tuple(s.strip() for s in m.group(2).split("+"))
    if len(set(inputs)) != len(inputs):
        raise InputError(f"--law {text!r}: a scale variable appears twice; list each once.")
    if m.group(1) in inputs:
        raise InputError(f"--law {text!r}: the target also appears on the right-hand side.")
    return LawSpec(m.group(1), inputs)


def _positive_log(values, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=float).ravel()
    bad = ~(np.isfinite(a) & (a > 0))
    if bad.any():
        raise InputError(f"{name}: value {float(a[bad][0])!r} cannot go on a log axis; expected finite values > 0.")
    return np.log(a)


@dataclass(frozen=True)
class PowerLawResult:
    """A fitted law y = c · Π x_j^{k_j}.

    `coef` and `stderr` are in log space: coef["const"] = log c, coef[x_j] = k_j.
    `intervals` are t-intervals and `bootstrap_intervals` percentile intervals over
    scales, both at `confidence`; `residuals` are log y - fitted log y per scale.
    """

    target: str
    inputs: tuple[str, ...]
    coef: dict[str, float]
    stderr: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    bootstrap_intervals: dict[str, tuple[float, float]] | None
    cov: tuple[tuple[float, ...], ...]
    r2: float
    residual_std: float
    residuals: tuple[float, ...]
    n: int
    df_resid: int
    confidence: float
    n_bootstrap: int
    resampled: str = "scales"  # what the bootstrap draws with replacement

    @property
    def prefactor(self) -> float:
        """c in y = c · Π x_j^{k_j} (inf where a degenerate fit's constant overflows)."""
        with np.errstate(over="ignore"):
            return float(np.exp(self.coef["const"]))

    def _design(self, x: Mapping) -> np.ndarray:
        missing = [k for k in self.inputs if k not in x]
        if missing:
            raise InputError(
                f"predict {self.target}: missing {', '.join(missing)}; this law needs {', '.join(self.inputs)}."
            )
        cols = [_positive_log(x[k], k) for k in self.inputs]
        n = max(c.size for c in cols)
        return np.column_stack([np.ones(n)] + [np.broadcast_to(c, (n,)) for c in cols])

    def predict(self, **x) -> np.ndarray:
        """y at the given scale values (keyword per input, scalars or arrays)."""
        beta = np.array([self.coef["const"]] + [self.coef[k] for k in self.inputs])
        return np.exp(self._design(x) @ beta)

    def predict_interval(self, *, observation: bool = False, **x) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) of y at `x` at `confidence`: of the law's mean, or of one new scale's optimum."""
        from scipy import stats

        A = self._design(x)
        beta = np.array([self.coef["const"]] + [self.coef[k] for k in self.inputs])
        mean = A @ beta
        var = np.einsum("ij,jk,ik->i", A, np.asarray(self.cov), A)
        if observation:
            var = var + self.residual_std**2
        t = stats.t.ppf(0.5 + self.confidence / 2, max(self.df_resid, 1))
        half = t * np.sqrt(var)
        return np.exp(mean - half), np.exp(mean + half)

    def formula(self) -> str:
        terms = " · ".join(f"{k}^{self.coef[k]:.3f}" for k in self.inputs)
        return f"{self.target}* = {self.prefactor:.4g} · {terms}"

    def summary(self) -> dict:
        """Plain JSON-safe data."""
        return {
            "law": f"{self.target} ~ {' + '.join(self.inputs)}",
            "formula": self.formula(),
            "prefactor": self.prefactor,
            "coef": dict(self.coef),
            "stderr": dict(self.stderr),
            "intervals": {k: list(v) for k, v in self.intervals.items()},
            "bootstrap_intervals": (
                {k: list(v) for k, v in self.bootstrap_intervals.items()} if self.bootstrap_intervals else None
            ),
            "r2": self.r2,
            "residual_std_log": self.residual_std,
            "n_scales": self.n,
            "confidence": self.confidence,
            "n_bootstrap": self.n_bootstrap,
            "bootstrap_over": self.resampled,
        }

    def report(self) -> str:
        lines = [f"{self.formula()}   (R² = {self.r2:.3f}, {self.n} scales, residual sd {self.residual_std:.3f} in ln)"]
        for k in ("const", *self.inputs):
            lo, hi = self.intervals[k]
            name = "ln c" if k == "const" else f"exponent of {k}"
            boot = ""
            if self.bootstrap_intervals:
                blo, bhi = self.bootstrap_intervals[k]
                boot = f", bootstrap over {self.resampled} {blo:.3f} .. {bhi:.3f}"
            lines.append(
                f"    {name:<24} {self.coef[k]: .4f} ± {self.stderr[k]:.4f}"
                f"  ({self.confidence:.0%}: {lo:.3f} .. {hi:.3f}{boot})"
            )
        return "\n".join(lines)


def bootstrap_ols(logX: np.ndarray, logy: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Weighted OLS coefficients for every row of weights `counts` (B, n): shape (B, p).

    `logy` is (n,), or (B, n) when each resample has its own responses. Resamples that
    drew too few distinct scales to identify the law give NaN rows.
    """
    n, p = logX.shape
    G = (counts @ (logX[:, :, None] * logX[:, None, :]).reshape(n, p * p)).reshape(-1, p, p)
    r = (counts * logy) @ logX
    ok = np.linalg.matrix_rank(G) == logX.shape[1]
    out = np.full(r.shape, np.nan)
    if ok.any():
        out[ok] = np.linalg.solve(G[ok], r[ok][..., None])[..., 0]
    return out


def refit_power_law(spec: LawSpec):
    """`refit(points) -> PowerLawResult` of `spec` without a bootstrap: what leave-largest-out refits."""

    def refit(points):
        return fit_power_law(points[spec.target].to_numpy(), {k: points[k].to_numpy() for k in spec.inputs},
                             target=spec.target, n_bootstrap=0)

    return refit


def fit_power_law(
    y,
    x: Mapping[str, object],
    *,
    target: str = "y",
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> PowerLawResult:
    """Fit y = c · Π x_j^{k_j} by OLS of log y on log x_j (statsmodels), plus a bootstrap over rows.

    `x` maps each scale variable's name to its values (one per row of y). Needs more
    rows than coefficients; with exactly p+1 the fit runs but the interval is wide.
    """
    import statsmodels.api as sm

    names = tuple(x)
    if not names:
        raise InputError(f"{target}: a power law needs at least one scale variable, e.g. '{target} ~ params'.")
    logy = _positive_log(y, target)
    cols = [_positive_log(x[k], k) for k in names]
    for k, c in zip(names, cols, strict=True):
        if c.size != logy.size:
            raise InputError(f"{k}: got {c.size} values for {logy.size} values of {target}; give one per scale.")
    p = len(names) + 1
    if logy.size <= p:
        raise InputError(
            f"{target} ~ {' + '.join(names)}: {logy.size} scale(s) for {p} coefficients; "
            f"sweep at least {p + 1} scales (3 or more recommended per variable)."
        )
    logX = np.column_stack([np.ones(logy.size), *cols])
    for j, k in enumerate(names, start=1):
        if np.ptp(logX[:, j]) == 0:
            raise InputError(f"{target} ~ {k}: every row has the same {k}; a law in {k} needs several values.")
    if np.linalg.matrix_rank(logX) < p:
        raise InputError(
            f"{target} ~ {' + '.join(names)}: the scale variables are collinear (e.g. tokens ∝ params); "
            f"drop one of them from the law."
        )
    model = sm.OLS(logy, logX).fit()
    keys = ("const", *names)
    ci = model.conf_int(alpha=1 - confidence)
    boot_iv = None
    if n_bootstrap > 0:
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(logy.size, np.full(logy.size, 1.0 / logy.size), size=n_bootstrap)
        boot = bootstrap_ols(logX, logy, counts.astype(float))
        tail = 50 * (1 - confidence)
        q = np.nanpercentile(boot, [tail, 100 - tail], axis=0)
        boot_iv = {k: (float(q[0, j]), float(q[1, j])) for j, k in enumerate(keys)}
    resid = model.resid
    return PowerLawResult(
        target=target,
        inputs=names,
        coef={k: float(v) for k, v in zip(keys, model.params, strict=True)},
        stderr={k: float(v) for k, v in zip(keys, model.bse, strict=True)},
        intervals={k: (float(ci[j, 0]), float(ci[j, 1])) for j, k in enumerate(keys)},
        bootstrap_intervals=boot_iv,
        cov=tuple(tuple(float(v) for v in row) for row in model.cov_params()),
        r2=float(model.rsquared),
        residual_std=float(math.sqrt(model.scale)),
        residuals=tuple(float(v) for v in resid),
        n=int(logy.size),
        df_resid=int(model.df_resid),
        confidence=confidence,
        n_bootstrap=n_bootstrap,
    )
