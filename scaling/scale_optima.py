"""Group runs by scale and find each hyperparameter's optimum there (DESIGN.md "Fitting", step 1).

Notations
---------
scale        one (params, tokens) pair — or the scale columns present (flops alone, ...)
swept HP     lr, batch_size or weight_decay with ≥ 3 distinct values at that scale
group        runs at one scale with every other swept HP and every varying hp_* column
             held fixed; an optimum is fitted per group and the group with the lowest
             fitted loss speaks for the scale (the optimum of h at the best setting of
             the others)
joint        when lr and batch_size are both swept, their optimum is the vertex of one
             paraboloid in (log lr, log batch_size): lr*(B) at a fixed B is another quantity
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tunescale.contract.schema import FLOPS_PER_PARAM_TOKEN
from tunescale.scaling.columns import HP_COLUMNS, SCALE_COLUMNS
from tunescale.scaling.optima import (
    JointOptimumResult,
    OptimumResult,
    fit_joint_optimum,
    fit_optimum,
)

MIN_DISTINCT = 3  # a parabola needs 3 distinct values of the hyperparameter


@dataclass(frozen=True)
class ScaleOptimum:
    """Optima found at one scale; `optima[h]` is in hyperparameter units, `loss` the best fitted loss."""

    scale: dict[str, float]
    n_runs: int
    optima: dict[str, OptimumResult]
    joint: JointOptimumResult | None
    loss: float

    def value(self, hp: str) -> float:
        if self.joint is not None and hp in ("lr", "batch_size"):
            return getattr(self.joint, hp)
        return self.optima[hp].value

    def interval(self, hp: str) -> tuple[float, float]:
        if self.joint is not None and hp in ("lr", "batch_size"):
            return getattr(self.joint, f"{hp}_low"), getattr(self.joint, f"{hp}_high")
        return self.optima[hp].low, self.optima[hp].high

    def at_edge(self, hp: str) -> bool:
        if self.joint is not None and hp in ("lr", "batch_size"):
            return self.joint.at_edge
        return self.optima[hp].at_edge

    def has(self, hp: str) -> bool:
        return hp in self.optima or (self.joint is not None and hp in ("lr", "batch_size"))

    def summary(self) -> dict:
        out = {"scale": dict(self.scale), "n_runs": self.n_runs, "loss": self.loss,
               "optima": {k: v.summary() for k, v in self.optima.items()}}
        if self.joint is not None:
            out["joint_lr_batch_size"] = self.joint.summary()
        return out


def scale_columns(frame: pd.DataFrame) -> list[str]:
    """The scale key: params and tokens when present (flops follows from them), else what there is."""
    cols = [c for c in ("params", "tokens") if c in frame.columns]
    return cols or [c for c in SCALE_COLUMNS if c in frame.columns]


def swept_hps(frame: pd.DataFrame) -> list[str]:
    """Hyperparameters with ≥ 3 distinct values at some scale."""
    keys = scale_columns(frame)
    out = []
    for hp in HP_COLUMNS:
        if hp in frame.columns and frame.groupby(keys)[hp].nunique().max() >= MIN_DISTINCT:
            out.append(hp)
    return out


def grid_swept(frame: pd.DataFrame, fixed_columns: tuple[str, ...] = ()) -> list[str]:
    """Hyperparameters with ≥ 3 distinct values at one scale while every other varying HP is fixed:
    the ones the grid method can fit an optimum of (lr and batch size swept together count)."""
    keys = scale_columns(frame)
    hps = swept_hps(frame)
    out = []
    for hp in hps:
        pair = ("lr", "batch_size") if hp in ("lr", "batch_size") and {"lr", "batch_size"} <= set(hps) else (hp,)
        others = [c for c in (*hps, *fixed_columns) if c not in pair]
        counts = frame.groupby(keys + others, dropna=False)[list(pair)].nunique()
        if (counts >= MIN_DISTINCT).all(axis=1).any():
            out.append(hp)
    return out


def grid_share(frame: pd.DataFrame, fixed_columns: tuple[str, ...] = ()) -> float:
    """The share of runs that lie on a grid line of some hyperparameter: 3+ distinct values of it at
    one scale with every other varying HP fixed, and values the design reuses (they recur with other
    settings of the others at that scale, as a grid's axis does, or nothing else varies there). A
    random or Bayesian search draws fresh values for every run, so by chance a (scale, choice) may
    hold three of them, yet none recurs: its runs lie on no grid line."""
    if frame.empty:
        return 0.0
    keys = scale_columns(frame)
    hps = swept_hps(frame)
    on = np.zeros(len(frame), dtype=bool)
    for hp in hps:
        others = [c for c in (*hps, *fixed_columns) if c != hp]
        group = frame.groupby(keys + others, dropna=False).ngroup().rename("group")
        with_group = frame[keys + [hp]].join(group)
        line = frame.groupby(keys + others, dropna=False)[hp].transform("nunique") >= MIN_DISTINCT
        recurs = with_group.groupby(keys + [hp], dropna=False)["group"].transform("nunique") > 1
        alone = with_group.groupby(keys, dropna=False)["group"].transform("nunique") == 1
        on |= (line & (recurs | alone)).to_numpy()
    return float(on.mean())


def _scale_dict(key, keys: list[str], rows: pd.DataFrame) -> dict[str, float]:
    values = key if isinstance(key, tuple) else (key,)
    scale = {k: float(v) for k, v in zip(keys, values, strict=True)}
    if "flops" in rows.columns and "flops" not in scale:
        scale["flops"] = float(rows["flops"].iloc[0])
    return scale


def optima_by_scale(
    frame: pd.DataFrame,
    fixed_columns: tuple[str, ...] = (),
    *,
    n_bootstrap: int,
    seed: int | None,
    band_pct: float,
    confidence: float = 0.95,
) -> list[ScaleOptimum]:
    """One ScaleOptimum per scale that sweeps at least one hyperparameter."""
    keys = scale_columns(frame)
    hps = swept_hps(frame)
    out = []
    for key, rows in frame.groupby(keys, sort=True):
        swept = [h for h in hps if rows[h].nunique() >= MIN_DISTINCT]
        if not swept:
            continue
        optima: dict[str, OptimumResult] = {}
        joint = None
        joint_pair = "lr" in swept and "batch_size" in swept
        if joint_pair:
            others = [c for c in (*swept, *fixed_columns) if c not in ("lr", "batch_size")]
            joint = _best_joint(rows, others, n_bootstrap, seed, confidence)
        for hp in swept:
            if joint_pair and hp in ("lr", "batch_size"):
                continue
            others = [c for c in (*swept, *fixed_columns) if c != hp]
            best = _best_1d(rows, hp, others, n_bootstrap, seed, band_pct, confidence)
            if best is not None:
                optima[hp] = best
        if joint is None and not optima:
            continue
        losses = [o.best_loss for o in optima.values()] + ([joint.best_loss] if joint else [])
        out.append(ScaleOptimum(scale=_scale_dict(key, keys, rows), n_runs=len(rows), optima=optima,
                                joint=joint, loss=float(min(losses))))
    return out


def _groups(rows: pd.DataFrame, others: list[str]):
    if not others:
        return [rows]
    return [g for _, g in rows.groupby(others, dropna=False, sort=True)]


def _best_1d(rows, hp, others, n_bootstrap, seed, band_pct, confidence) -> OptimumResult | None:
    best = None
    for g in _groups(rows, others):
        if g[hp].nunique() < MIN_DISTINCT:
            continue
        r = fit_optimum(g[hp].to_numpy(), g["loss"].to_numpy(), hp=hp, n_bootstrap=n_bootstrap,
                        seed=seed, band_pct=band_pct, confidence=confidence)
        if best is None or r.best_loss < best.best_loss:
            best = r
    return best


def _best_joint(rows, others, n_bootstrap, seed, confidence) -> JointOptimumResult | None:
    best = None
    for g in _groups(rows, others):
        if g["lr"].nunique() < MIN_DISTINCT or g["batch_size"].nunique() < MIN_DISTINCT:
            continue
        r = fit_joint_optimum(g["lr"].to_numpy(), g["batch_size"].to_numpy(), g["loss"].to_numpy(),
                              n_bootstrap=n_bootstrap, seed=seed, confidence=confidence)
        if best is None or r.best_loss < best.best_loss:
            best = r
    return best


def loss_points(frame: pd.DataFrame, optima: list[ScaleOptimum]) -> pd.DataFrame:
    """Points for the loss law: the optimum's loss at each swept scale, every run at the others."""
    keys = scale_columns(frame)
    rows = [{**o.scale, "loss": o.loss} for o in optima]
    plain = frame[[k for k in (*SCALE_COLUMNS, "loss") if k in frame.columns]]
    if rows:
        swept = pd.DataFrame([{k: o.scale[k] for k in keys} for o in optima]).assign(_swept=True)
        mask = frame[keys].astype(float).merge(swept, on=keys, how="left")["_swept"].isna().to_numpy()
        plain = plain[mask]
    points = pd.concat([pd.DataFrame(rows), plain], ignore_index=True) if rows else plain.reset_index(drop=True)
    if "flops" not in points.columns and {"params", "tokens"} <= set(points.columns):
        points["flops"] = FLOPS_PER_PARAM_TOKEN * points["params"] * points["tokens"]
    return points
