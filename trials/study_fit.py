"""The study's fit: proxy trials -> optimum per scale -> laws -> prediction for the target (fit.json).

Pure data work on top of scaling/ (no torch, no Ray): `fit_study` groups the completed
proxy trials by scale (width, tokens), finds each swept hyperparameter's optimum there with
`scaling.optima`, fits `hp* = c · N^a · D^b` and the loss law with `scaling.hp_laws`,
checks each law by leaving the largest proxy width out, and predicts the target. The
returned dict is fit.json, the one file the report reads besides the two trial stores;
curves and intervals in it are evaluated from scaling/'s result objects, so the report
draws exactly what the study predicted with.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scaling.hp_laws import fit_power_law
from scaling.optima import fit_joint_optimum, fit_optimum
from trials.errors import InputError

SCALE = ("width", "tokens")  # a proxy scale: one width trained on one token budget
CURVE_POINTS = 40


def _scales(done: pd.DataFrame) -> list[tuple[tuple, pd.DataFrame]]:
    return [(key, grp) for key, grp in done.groupby(list(SCALE), sort=True)]


def _at_best(grp: pd.DataFrame, free: tuple[str, ...], swept: tuple[str, ...]) -> tuple[pd.DataFrame, dict]:
    """Rows of `grp` whose non-free swept HPs equal those of the scale's best run."""
    best = grp.loc[grp["loss"].idxmin()]
    fixed = {h: float(best[h]) for h in swept if h not in free}
    mask = np.ones(len(grp), dtype=bool)
    for h, v in fixed.items():
        mask &= np.isclose(grp[h].astype(float).to_numpy(), v, rtol=1e-9)
    return grp[mask], fixed


def scale_optima(done: pd.DataFrame, swept: tuple[str, ...], *, n_bootstrap: int) -> list[dict]:
    """Optimum of every swept HP at every scale; lr and batch_size jointly when both are swept (DESIGN.md)."""
    out = []
    for (width, tokens), grp in _scales(done):
        base = {"width": int(width), "tokens": float(tokens), "params": int(grp["params"].iloc[0]),
                "flops": float(grp["flops"].iloc[0])}
        joint = "lr" in swept and "batch_size" in swept
        if joint:
            rows, fixed = _at_best(grp, ("lr", "batch_size"), swept)
            j = fit_joint_optimum(rows["lr"], rows["batch_size"], rows["loss"], n_bootstrap=n_bootstrap)
            for hp in ("lr", "batch_size"):
                out.append({**base, "hp": hp, "fixed": fixed, "value": getattr(j, hp),
                            "interval": [getattr(j, f"{hp}_low"), getattr(j, f"{hp}_high")],
                            "at_edge": j.at_edge, "best_loss": j.best_loss, "method": j.method, "coef": None})
        for hp in swept:
            if joint and hp in ("lr", "batch_size"):
                continue
            rows, fixed = _at_best(grp, (hp,), swept)
            o = fit_optimum(rows[hp], rows["loss"], hp=hp, n_bootstrap=n_bootstrap)
            out.append({**base, **o.summary(), "fixed": fixed})
    return out


def _law_inputs(points: pd.DataFrame) -> tuple[str, ...]:
    """params alone, or params + tokens when the token budgets vary independently of width."""
    X = np.column_stack([np.ones(len(points)), np.log(points["params"]), np.log(points["tokens"])])
    if points["tokens"].nunique() > 1 and np.linalg.matrix_rank(X) == 3 and len(points) > 4:
        return ("params", "tokens")
    return ("params",)


def _curves(law, points: pd.DataFrame, target: dict, inputs: tuple[str, ...]) -> list[dict]:
    """The law along params (proxies' smallest to the target) at each token budget it was fitted on."""
    x = np.geomspace(points["params"].min(), target["params"], CURVE_POINTS)
    budgets = sorted(set(points["tokens"]) | {target["tokens"]}) if "tokens" in inputs else [None]
    curves = []
    for tokens in budgets:
        kw = {"params": x} | ({"tokens": np.full_like(x, tokens)} if tokens is not None else {})
        low, high = law.predict_interval(**kw)
        label = f"law at {tokens:.3g} tokens" if tokens is not None else "law"
        curves.append({"label": label, "x": x.tolist(), "value": law.predict(**kw).tolist(),
                       "low": low.tolist(), "high": high.tolist()})
    return curves


def _fit_law(y: np.ndarray, points: pd.DataFrame, name: str, inputs, n_bootstrap: int):
    return fit_power_law(y, {k: points[k].to_numpy(float) for k in inputs}, target=name, n_bootstrap=n_bootstrap)


def _law_entry(name: str, y: np.ndarray, points: pd.DataFrame, target: dict, n_bootstrap: int) -> tuple[dict, dict]:
    """Fit one law, evaluate it for the report, and validate it by leaving the largest width out."""
    inputs = _law_inputs(points)
    law = _fit_law(y, points, name, inputs, n_bootstrap)
    at = {k: target[k] for k in inputs}
    low, high = law.predict_interval(observation=True, **at)
    entry = {
        "form": f"{name} ~ {' + '.join(inputs)}", "axis": "params", "r2": law.r2, "n_scales": law.n,
        "summary": law.summary(), "curves": _curves(law, points, target, inputs),
        "prediction": {"value": float(law.predict(**at)[0]), "low": float(low[0]), "high": float(high[0])},
    }
    held = points["params"] == points["params"].max()
    train = points[~held]
    validation = {"metric": "log10 error" if name != "loss" else "relative error",
                  "predicted": None, "observed": None, "error": None}
    if len(train) > len(inputs) + 1 and train["params"].nunique() > 1:
        sub = _fit_law(y[~held.to_numpy()], train, name, _law_inputs(train), n_bootstrap)
        pred = sub.predict(**{k: points.loc[held, k].to_numpy(float) for k in sub.inputs})
        obs = y[held.to_numpy()]
        validation["predicted"], validation["observed"] = float(np.mean(pred)), float(np.mean(obs))
        if name == "loss":
            validation["error"] = float(np.mean(pred / obs - 1.0))
        else:
            validation["error"] = float(np.mean(np.log10(pred / obs)))
    return entry, validation


def fit_study(proxies: pd.DataFrame, target: dict, swept: tuple[str, ...], *, n_bootstrap: int = 200) -> dict:
    """fit.json for the proxies: per-scale optima, HP and loss laws, validation, prediction at `target`.

    `target` holds width, params, tokens (and flops, else 6·N·D); `swept` names the HP
    columns the proxies varied (lr first).
    """
    done = proxies[proxies["status"] == "completed"]
    if done.empty:
        raise InputError("proxy sweep: no completed trial to fit; check the proxies' status counts and the LR grid.")
    target = {**target, "flops": float(target.get("flops") or 6.0 * target["params"] * target["tokens"])}
    optima = scale_optima(done, swept, n_bootstrap=n_bootstrap)
    laws, validation = {}, {}
    for hp in swept:
        pts = pd.DataFrame([o for o in optima if o["hp"] == hp])
        if pts["params"].nunique() < 3:
            raise InputError(
                f"proxy sweep: {hp} optima at {pts['params'].nunique()} width(s); a law needs at least 3 widths."
            )
        laws[hp], validation[hp] = _law_entry(hp, pts["value"].to_numpy(float), pts, target, n_bootstrap)
        laws[hp]["points"] = [{"params": o["params"], "tokens": o["tokens"], "value": o["value"],
                               "low": o["interval"][0], "high": o["interval"][1]} for o in optima if o["hp"] == hp]
    best = done.loc[done.groupby(list(SCALE))["loss"].idxmin()]
    loss_law, validation["loss"] = _law_entry("loss", best["loss"].to_numpy(float), best, target, n_bootstrap)
    loss_law["points"] = [{"params": int(r.params), "tokens": float(r.tokens), "loss": float(r.loss)}
                          for r in best.itertuples()]
    coef = loss_law["summary"]["coef"]
    loss_law["parameters"] = {"prefactor": loss_law["summary"]["prefactor"]} | {
        f"exponent of {k}": v for k, v in coef.items() if k != "const"
    }
    prediction = {}
    for hp in swept:
        p = laws[hp]["prediction"]
        prediction |= {hp: p["value"], f"{hp}_low": p["low"], f"{hp}_high": p["high"]}
    p = loss_law["prediction"]
    prediction |= {"loss": p["value"], "loss_low": p["low"], "loss_high": p["high"]}
    return {"target": target, "swept": list(swept), "optima": optima, "laws": laws, "loss_law": loss_law,
            "validation": validation, "prediction": prediction}


def settings_at(prediction: dict, fixed: dict) -> dict:
    """Hyperparameters to train the target with: the prediction, batch size rounded to a whole sequence count."""
    s = {"lr": prediction["lr"]}
    bs = prediction.get("batch_size", fixed.get("batch_size"))
    s["batch_size"] = int(max(1, round(bs))) if bs is not None else None
    s["weight_decay"] = prediction.get("weight_decay", fixed.get("weight_decay"))
    return s


def lr_drift_by_tokens(optima: list[dict]) -> dict[float, float]:
    """Spread of the LR optimum across widths at each token budget, in decades (log10 max/min)."""
    by_tokens: dict[float, list[float]] = {}
    for o in optima:
        if o["hp"] == "lr":
            by_tokens.setdefault(o["tokens"], []).append(o["value"])
    return {t: math.log10(max(v) / min(v)) for t, v in sorted(by_tokens.items()) if len(v) > 1}
