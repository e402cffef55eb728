"""Laws of a hyperparameter each run learns itself: its final value is that run's estimate of the optimum.

Notations
---------
h_r        the learned column's value in run r (e.g. hp_resid_dropout): a Self-Tuning Network
           tunes it online, so h_r estimates the optimum at r's scale with no sweep of h
scale s    a (params, tokens) of the runs; h̄_s = mean of h_r over the runs at s (its seeds)
law        h̄_s = c · Π x^k: OLS in log space through the h̄_s, one point per scale (`scaling.hp_laws`)
bootstrap  over runs: draw the runs with replacement, recompute each h̄_s from the runs drawn
           (a scale none of them is at sits that resample out), refit; the spread holds the
           seeds' scatter within a scale as well as the scales' scatter about the law

Which columns: `--law 'hp_resid_dropout ~ params'` names one, and without --law every column
the store marks as tuned online on every run (hp_<name>_init set, `columns.tuned_online`) gets
its law, in params and tokens when both vary. A user who ran an STN sweep across scales wants
exactly these laws, while a column without the mark is a setting the run was given (a random
search's dropout), whose mean per scale means nothing; --law on such a column takes the user's
word for it and says so. A value at 0 (a dropout switched off) is the floor of the knob's range:
a censored estimate, the optimum is at or below it, and log 0 has no place on the law's axis.
The fit stops and names those runs; `--where 'COL>0'` fits the runs where the knob is in use,
counting the others as dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from tunescale.contract.errors import InputError
from tunescale.contract.schema import HP_PREFIX, TUNED_START_SUFFIX
from tunescale.scaling.columns import HP_COLUMNS, SCALE_COLUMNS, numeric, suggest, tuned_online
from tunescale.scaling.hp_laws import LawSpec, PowerLawResult, bootstrap_ols, fit_power_law
from tunescale.scaling.scale_optima import scale_columns

MAX_NAMED = 3  # runs named in a message


@dataclass(frozen=True)
class LearnedLaw:
    """A power law through the per-scale means of a column the runs learned themselves."""

    law: PowerLawResult
    points: pd.DataFrame  # one row per scale: scale columns, mean, _low/_high (min/max over runs), n_runs
    runs: pd.DataFrame  # one row per run: scale columns and its value
    marked: bool  # the store marks the column as tuned online (else --law asked for it)

    @property
    def target(self) -> str:
        return self.law.target

    @property
    def spec(self) -> LawSpec:
        return LawSpec(self.law.target, self.law.inputs)

    def summary(self) -> dict:
        cols = [c for c in (*SCALE_COLUMNS, "n_runs", self.target, f"{self.target}_low", f"{self.target}_high")
                if c in self.points.columns]
        return {**self.law.summary(), "points": self.points[cols].to_dict("records"), "n_runs": len(self.runs),
                "tuned_online": self.marked}

    def report(self) -> str:
        t = self.target
        source = "tuned online by each run" if self.marked else (
            f"no {t}{TUNED_START_SUFFIX} marks it as tuned online; --law takes each run's value as its estimate")
        lines = [f"{t} law ({source}; mean over the runs at each scale, bootstrap over {len(self.runs)} runs):"]
        table = self.points.assign(**{f"{t} [min, max]": [
            f"{v:.4g} [{lo:.3g}, {hi:.3g}]"
            for v, lo, hi in zip(self.points[t], self.points[f"{t}_low"], self.points[f"{t}_high"], strict=True)
        ]})
        keep = [c for c in (*SCALE_COLUMNS, "n_runs", f"{t} [min, max]") if c in table.columns]
        text = table[keep].to_string(index=False, float_format=lambda v: f"{v:.4g}")
        lines.append("    " + text.replace("\n", "\n    "))
        lines.append(self.law.report())
        return "\n".join(lines)


def marked_targets(frame: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """(columns every run tuned online, {column only some runs tuned: why it gets no law})."""
    full, partial = [], {}
    for col, mask in tuned_online(frame).items():
        if mask.all():
            full.append(col)
        else:
            partial[col] = _partial(col, mask)
    return full, partial


def _partial(col: str, mask: np.ndarray) -> str:
    return (f"{col}: tuned online in {int(mask.sum())} of {mask.size} runs ({col}{TUNED_START_SUFFIX} set), "
            f"a setting in the others; fit the tuned runs with --where '{col}{TUNED_START_SUFFIX}>=0'")


def _who(frame: pd.DataFrame, rows: np.ndarray, keys: list[str]) -> str:
    named = []
    for i in rows[:MAX_NAMED]:
        run = frame["trial_id"].iloc[i] if "trial_id" in frame.columns else f"row {i}"
        named.append(f"{run} ({', '.join(f'{k}={frame[k].iloc[i]:.4g}' for k in keys)})")
    return ", ".join(named) + (" ..." if rows.size > MAX_NAMED else "")


def _check(frame: pd.DataFrame, spec: LawSpec, keys: list[str]) -> tuple[np.ndarray, bool]:
    """The target's values, and whether the store marks them as tuned online; InputError when unusable."""
    t = spec.target
    if t not in frame.columns:
        raise InputError(f"--law {spec}: the table has no '{t}' column; {suggest(t, frame.columns)}")
    if t in SCALE_COLUMNS or t in ("status", "seed"):
        raise InputError(f"--law {spec}: '{t}' is not a hyperparameter; a law's target is an HP column or loss.")
    mask = tuned_online(frame).get(t)
    if mask is not None and not mask.all():
        raise InputError(f"--law {spec}: {_partial(t, mask)}.")
    y = numeric(frame[t], t, "--law " + str(spec), fix="name another column in --law").to_numpy()
    bad = ~(np.isfinite(y) & (y > 0))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InputError(
            f"--law {spec}: {rows.size} run(s) with {t} not > 0: {_who(frame, rows, keys)}; a knob at the floor of "
            f"its range is a censored estimate and cannot go on a log axis; fit the runs where it is in use with "
            f"--where '{t}>0' (the others are counted as dropped)."
        )
    pooled = _pooled_settings(frame, keys, t)
    if pooled:
        col, values = pooled[0]
        raise InputError(
            f"--law {spec}: runs at one scale differ in {col} ({', '.join(map(str, values[:4]))}), so the mean would "
            f"pool different settings; fit one at a time with --where {col}={values[0]}."
        )
    return y, mask is not None


def _pooled_settings(frame: pd.DataFrame, keys: list[str], target: str) -> list[tuple[str, list]]:
    """Settings that differ between the runs of one scale. A setting crossed with the scales (an STN
    sweep's stn_variant or hyper LR) takes its values again at other scales; a run's own results
    (its learned values, its test loss) never repeat, and the seeds are what a mean is over."""
    skip = {target, *tuned_online(frame)}
    out = []
    for col in frame.columns:
        if col in skip or not (col.startswith(HP_PREFIX) or col in HP_COLUMNS):
            continue
        sub = frame[[*keys, col]].astype({col: str})
        if sub.groupby(keys)[col].nunique().max() < 2:
            continue
        if sub.drop_duplicates().groupby(col).size().max() > 1:
            out.append((col, sorted(sub[col].unique())))
    return out


def fit_learned_law(
    frame: pd.DataFrame, spec: LawSpec, *, n_bootstrap: int, seed: int | None, confidence: float
) -> LearnedLaw:
    """The law of `spec.target` through its per-scale means over the runs of `frame`; see the module doc."""
    keys = scale_columns(frame)
    y, marked = _check(frame, spec, keys)
    runs = frame[list(dict.fromkeys([*keys, *spec.inputs]))].assign(**{spec.target: y}).reset_index(drop=True)
    scale_id = np.unique(runs[keys].to_numpy(float), axis=0, return_inverse=True)[1].ravel()
    points = runs.groupby(scale_id).agg(**{k: (k, "mean") for k in runs.columns if k != spec.target},
                         **{spec.target: (spec.target, "mean"), f"{spec.target}_low": (spec.target, "min"),
                            f"{spec.target}_high": (spec.target, "max"), "n_runs": (spec.target, "size")})
    law = fit_power_law(points[spec.target].to_numpy(), {k: points[k].to_numpy() for k in spec.inputs},
                        target=spec.target, n_bootstrap=0, confidence=confidence)
    if n_bootstrap > 0:
        law = replace(law, **_runs_bootstrap(y, scale_id, points, spec, n_bootstrap, seed, confidence))
    return LearnedLaw(law=law, points=points.reset_index(drop=True), runs=runs, marked=marked)


def _runs_bootstrap(y, scale_id, points, spec: LawSpec, n_bootstrap, seed, confidence) -> dict:
    """Percentile intervals of the coefficients over resamples of the runs (each scale present counts once)."""
    rng = np.random.default_rng(seed)
    n = y.size
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap).astype(float)  # (B, runs)
    onehot = np.zeros((n, len(points)))
    onehot[np.arange(n), scale_id] = 1.0
    drawn = counts @ onehot  # (B, scales): runs drawn at each scale
    present = drawn > 0
    means = np.where(present, (counts @ (onehot * y[:, None])) / np.where(present, drawn, 1.0), 1.0)
    logX = np.column_stack([np.ones(len(points)), *(np.log(points[k].to_numpy(float)) for k in spec.inputs)])
    boot = bootstrap_ols(logX, np.log(means), present.astype(float))
    tail = 50 * (1 - confidence)
    q = np.nanpercentile(boot, [tail, 100 - tail], axis=0)
    keys = ("const", *spec.inputs)
    return {"bootstrap_intervals": {k: (float(q[0, j]), float(q[1, j])) for j, k in enumerate(keys)},
            "n_bootstrap": n_bootstrap, "resampled": "runs"}
