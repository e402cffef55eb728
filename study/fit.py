"""The study's fit: the proxy store through scaling/ into fit.json, the file the report draws from.

Pure data work (no torch, no Ray): `fit_study` runs `scaling.fit.fit_scaling` on the proxy
trial store (optima per scale, HP laws, loss law, leave-largest-out validation) and
`ScalingFit.predict` at the target, then evaluates the fitted result objects along the
width axis so the report draws exactly the laws and intervals the study predicted with.
fit.json keeps scaling's own `summary()` documents under "scaling" and "scaling_prediction".
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from tunescale.contract.errors import InputError
from tunescale.contract.schema import FLOPS_PER_PARAM_TOKEN
from tunescale.scaling.columns import load
from tunescale.scaling.fit import ScalingFit, fit_scaling

CURVE_POINTS = 40


def _width_of(proxies: pd.DataFrame) -> dict[float, int]:
    pairs = proxies.dropna(subset=["width"]).drop_duplicates(subset=["params"])
    return {float(p): int(w) for p, w in zip(pairs["params"], pairs["width"], strict=True)}


def _optima(fit: ScalingFit, widths: dict[float, int]) -> list[dict]:
    """One entry per (scale, hp): scaling's optimum (value, interval, parabola) plus the width it came from."""
    out = []
    for so in fit.optima:
        base = {"width": widths.get(so.scale["params"]), "params": so.scale["params"], "tokens": so.scale["tokens"],
                "flops": so.scale.get("flops", FLOPS_PER_PARAM_TOKEN * so.scale["params"] * so.scale["tokens"])}
        for hp in ("lr", "batch_size", "weight_decay"):
            if not so.has(hp):
                continue
            one = so.optima.get(hp)
            out.append({**base, "hp": hp, "value": so.value(hp), "interval": list(so.interval(hp)),
                        "at_edge": so.at_edge(hp), "best_loss": so.loss,
                        "coef": list(one.coef) if one is not None and one.coef is not None else None})
    return out


def _curves(law, fit_points: pd.DataFrame, target: dict) -> list[dict]:
    """The law along params, from the smallest proxy to the target, at each token budget it sees."""
    x = np.geomspace(fit_points["params"].min(), target["params"], CURVE_POINTS)
    budgets = sorted(set(fit_points["tokens"]) | {target["tokens"]}) if "tokens" in law.inputs else [None]
    curves = []
    for tokens in budgets:
        kw = {"params": x} | ({"tokens": np.full_like(x, tokens)} if tokens is not None else {})
        if "flops" in law.inputs:
            kw = {"flops": FLOPS_PER_PARAM_TOKEN * x * (tokens or target["tokens"])}
        low, high = law.predict_interval(**kw)
        curves.append({"label": f"law at {tokens:.3g} tokens" if tokens is not None else "law", "x": x.tolist(),
                       "value": np.asarray(law.predict(**kw)).tolist(), "low": low.tolist(), "high": high.tolist()})
    return curves


def _validation(fit: ScalingFit) -> dict:
    out = {}
    for name, v in fit.validation.items():
        out[name] = {"metric": "log10 error" if v.error_kind == "log10" else "relative error",
                     "predicted": float(np.mean(v.predicted)) if v.predicted else None,
                     "observed": float(np.mean(v.observed)) if v.observed else None,
                     "error": v.error, "warning": v.warning}
    return out


def fit_study(proxies_dir: str | Path, target: dict, *, n_bootstrap: int = 200) -> dict:
    """fit.json for the proxy store at `proxies_dir` and a target {width, params, tokens}."""
    table = load(proxies_dir)
    fit = fit_scaling(table, n_bootstrap=n_bootstrap)
    if "lr" not in fit.hp_laws:
        raise InputError(
            f"{proxies_dir}: no lr law could be fitted ({'; '.join(fit.warnings) or 'no lr optima'}); "
            f"widen the LR grid or add widths to the study spec."
        )
    if fit.loss_law is None:
        raise InputError(f"{proxies_dir}: no loss law could be fitted; the study needs at least 6 proxy scales.")
    target = {**target, "flops": float(target.get("flops") or FLOPS_PER_PARAM_TOKEN * target["params"] * target["tokens"])}
    pred = fit.predict(params=target["params"], tokens=target["tokens"])
    widths = _width_of(table.frame)
    ofr = fit.optima_frame
    laws = {}
    for hp, law in fit.hp_laws.items():
        usable = ofr[~ofr[f"{hp}_at_edge"].astype(bool) & ofr[hp].notna()]
        v, lo, hi = pred.values[hp]
        laws[hp] = {"form": f"{hp} ~ {' + '.join(law.inputs)}", "axis": "params", "r2": law.r2, "n_scales": law.n,
                    "curves": _curves(law, usable, target),
                    "points": [{"params": r["params"], "tokens": r["tokens"], "value": r[hp], "low": r[f"{hp}_low"],
                                "high": r[f"{hp}_high"]} for _, r in usable.iterrows()],
                    "prediction": {"value": v, "low": lo, "high": hi}}
    ll = fit.loss_law
    v, lo, hi = pred.values["loss"]
    pts = fit.loss_points
    loss_law = {"form": ll.formula(), "axis": "params", "curves": _curves(ll, pts, target),
                "points": [{"params": float(r["params"]), "tokens": float(r["tokens"]), "loss": float(r["loss"])}
                           for _, r in pts.iterrows()],
                "prediction": {"value": v, "low": lo, "high": hi},
                "parameters": {k: float(c) for k, c in ll.coef.items()}}
    prediction = {}
    for name, (v, lo, hi) in pred.values.items():
        prediction |= {name: v, f"{name}_low": lo, f"{name}_high": hi}
    return {"target": target, "optima": _optima(fit, widths), "laws": laws, "loss_law": loss_law,
            "validation": _validation(fit), "prediction": prediction, "warnings": list(fit.warnings),
            "scaling": fit.summary(), "scaling_prediction": pred.summary()}


def settings_at(prediction: dict, fixed: dict) -> dict:
    """Hyperparameters to train the target with: the prediction, else the proxies' fixed value;
    batch size rounded to a whole number of sequences."""
    bs = prediction.get("batch_size", fixed.get("batch_size"))
    return {"lr": prediction["lr"], "batch_size": int(max(1, round(bs))) if bs is not None else None,
            "weight_decay": prediction.get("weight_decay", fixed.get("weight_decay"))}


def lr_drift_by_tokens(optima: list[dict]) -> dict[float, float]:
    """Spread of the LR optimum across widths at each token budget, in decades (log10 max/min).

    Optima at the edge of the grid are left out: they are the grid's bound, not a fitted
    optimum (scaling/ also leaves them out of the LR law).
    """
    by_tokens: dict[float, list[float]] = {}
    for o in optima:
        if o["hp"] == "lr" and not o["at_edge"]:
            by_tokens.setdefault(o["tokens"], []).append(o["value"])
    return {t: math.log10(max(v) / min(v)) for t, v in sorted(by_tokens.items()) if len(v) > 1}
