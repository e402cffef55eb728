"""Predict the large run's settings: optimal lr, batch size, weight decay, learned HPs and loss at a target scale.

Notations
---------
target      params=N, tokens=D (then C = 6·N·D), or flops=C alone (then N, D come from the
            loss law's compute-optimal allocation when it has one)
interval    for a hyperparameter: where the optimum of one new scale should fall (the law's
            mean interval widened by the residual scatter of the optima about the law);
            for the loss: the bootstrap interval of the loss law at the target
table       `predict_table`: the same read-offs at every row of a table of runs, and (joint model)
            each run's own expected loss at its HPs
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tunescale.contract.errors import InputError
from tunescale.contract.schema import FLOPS_PER_PARAM_TOKEN


@dataclass(frozen=True)
class Prediction:
    """Predicted optimum of each fitted quantity at one target scale: name -> (value, low, high)."""

    target: dict[str, float]
    derived: str | None
    values: dict[str, tuple[float, float, float]]
    confidence: float
    extrapolation: dict[str, float]

    def summary(self) -> dict:
        return {"target": dict(self.target), "derived": self.derived, "confidence": self.confidence,
                "predictions": {k: {"value": v, "interval": [lo, hi]} for k, (v, lo, hi) in self.values.items()},
                "extrapolation_factor": dict(self.extrapolation)}

    def report(self) -> str:
        tgt = ", ".join(f"{k} = {v:.4g}" for k, v in self.target.items())
        lines = [f"prediction at {tgt}" + (f" ({self.derived})" if self.derived else "") + ":"]
        for k, (v, lo, hi) in self.values.items():
            lines.append(f"    {k:<13} {v:.4g}   ({self.confidence:.0%} interval {lo:.4g} .. {hi:.4g})")
        far = {k: f for k, f in self.extrapolation.items() if f > 10}
        if far:
            lines.append(
                "    note: extrapolating " + ", ".join(f"{k} {f:.0f}× past the largest fitted" for k, f in far.items())
            )
        return "\n".join(lines)


def parse_target(text: str) -> dict[str, float]:
    """'params=7e9,tokens=2e12' -> {'params': 7e9, 'tokens': 2e12}; one-line InputError otherwise."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in ("params", "tokens", "flops"):
            raise InputError(f"--predict {text!r}: expected params=N,tokens=D or flops=C, got {part!r}.")
        try:
            v = float(value)
        except ValueError:
            raise InputError(f"--predict {text!r}: {key}={value!r} is not a number.") from None
        if not (math.isfinite(v) and v > 0):
            raise InputError(f"--predict {text!r}: {key} must be finite and > 0.")
        out[key] = v
    if not out:
        raise InputError("--predict: give params=N,tokens=D or flops=C.")
    return out


def _complete_target(fit, target: dict[str, float]) -> tuple[dict[str, float], str | None]:
    t = dict(target)
    derived = None
    if "params" in t and "tokens" in t and "flops" not in t:
        t["flops"] = FLOPS_PER_PARAM_TOKEN * t["params"] * t["tokens"]
    elif set(t) == {"flops"} and fit.loss_law is not None and fit.loss_law.inputs == ("params", "tokens"):
        problem = fit.loss_law.allocation_problem()
        if problem:
            raise InputError(f"--predict flops={t['flops']:g}: {problem}; give params=N,tokens=D instead.")
        opt = fit.loss_law.compute_optimal(t["flops"])
        t["params"], t["tokens"] = float(opt["params"]), float(opt["tokens"])
        derived = "params and tokens from the loss law's compute-optimal allocation"
    elif "flops" in t and len(t) == 2:
        known = "params" if "params" in t else "tokens"
        other = "tokens" if known == "params" else "params"
        t[other] = t["flops"] / (FLOPS_PER_PARAM_TOKEN * t[known])
        derived = f"{other} = flops / (6 · {known})"
    return t, derived


def predict(fit, **target) -> Prediction:
    """Every fitted law evaluated at `target`, each with its interval."""
    t, derived = _complete_target(fit, target)
    values: dict[str, tuple[float, float, float]] = {}
    confidence = 0.95
    if fit.joint is not None:
        if "params" not in t or "tokens" not in t:
            raise InputError(
                "--predict: the joint model needs params and tokens (or flops with one of them), "
                "e.g. --predict params=7e9,tokens=2e12."
            )
        opt = fit.joint.optimum(t["params"], t["tokens"])
        values = {
            k: (float(v[0]), float(lo[0]), float(hi[0]))
            for k, (v, lo, hi) in opt.items()
            if (k != "loss" or fit.show_loss_law) and k not in fit.joint.unresolved
        }
        confidence = fit.joint.confidence
    laws = {**fit.hp_laws, **{target: learned.law for target, learned in fit.learned.items()}}
    for hp, law in laws.items():
        missing = [k for k in law.inputs if k not in t]
        if missing:
            raise InputError(
                f"--predict: the {hp} law needs {', '.join(law.inputs)}; give {', '.join(missing)} "
                f"(e.g. --predict params=7e9,tokens=2e12)."
            )
        x = {k: t[k] for k in law.inputs}
        lo, hi = law.predict_interval(observation=True, **x)
        values[hp] = (float(law.predict(**x)[0]), float(lo[0]), float(hi[0]))
        confidence = law.confidence
    if fit.loss_law is not None:
        law = fit.loss_law
        missing = [k for k in law.inputs if k not in t]
        if missing:
            raise InputError(f"--predict: the loss law needs {', '.join(law.inputs)}; give {', '.join(missing)}.")
        x = {k: t[k] for k in law.inputs}
        value = float(law.predict(**x)[0])
        if law.n_bootstrap:
            lo, hi = law.predict_interval(**x)
            values["loss"] = (value, float(lo[0]), float(hi[0]))
        else:
            values["loss"] = (value, math.nan, math.nan)
        confidence = law.confidence
    extrapolation = {}
    for k in ("params", "tokens", "flops"):
        if k in t and k in fit.loss_points.columns:
            extrapolation[k] = float(t[k] / fit.loss_points[k].max())
    return Prediction(target=t, derived=derived, values=values, confidence=confidence, extrapolation=extrapolation)


PREDICTED = ("lr", "batch_size", "weight_decay")


def predict_table(fit, frame: pd.DataFrame) -> pd.DataFrame:
    """Per row of `frame` (canonical columns): `predicted_loss` at its own scale and HPs (joint model only),
    `optimal_<hp>` and `predicted_optimal_loss` at its scale, each with `_low`/`_high` bounds; NaN where the
    fit has no such law."""
    if "params" not in frame.columns or "tokens" not in frame.columns:
        raise InputError(
            "--predict-table: needs params and tokens columns (or flops with one of them), "
            "mapped as for the fitted table."
        )
    n = len(frame)
    nan = np.full(n, np.nan)
    out = {}
    if fit.joint is not None:
        joint = fit.joint
        loss = joint.predict_loss(frame)
        lo, hi = joint.predict_loss_interval(frame)
        out["predicted_loss"] = (loss, lo, hi)
        opt = joint.optimum(frame["params"].to_numpy(float), frame["tokens"].to_numpy(float))
        for hp in PREDICTED:
            out[f"optimal_{hp}"] = opt.get(hp, (nan, nan, nan))
        out["predicted_optimal_loss"] = opt["loss"] if fit.show_loss_law else (nan, nan, nan)
    else:
        out["predicted_loss"] = (nan, nan, nan)
        scale = {k: frame[k].to_numpy(float) for k in ("params", "tokens")}
        scale["flops"] = FLOPS_PER_PARAM_TOKEN * scale["params"] * scale["tokens"]
        for hp in PREDICTED:
            law = fit.hp_laws.get(hp)
            if law is None:
                out[f"optimal_{hp}"] = (nan, nan, nan)
                continue
            x = {k: scale[k] for k in law.inputs}
            out[f"optimal_{hp}"] = (law.predict(**x), *law.predict_interval(observation=True, **x))
        law = fit.loss_law
        if law is None:
            out["predicted_optimal_loss"] = (nan, nan, nan)
        else:
            x = {k: scale[k] for k in law.inputs}
            out["predicted_optimal_loss"] = (
                law.predict(**x),
                *(law.predict_interval(**x) if law.n_bootstrap else (nan, nan)),
            )
    cols = {}
    for name, (v, lo, hi) in out.items():
        cols[name], cols[f"{name}_low"], cols[f"{name}_high"] = v, lo, hi
    return pd.DataFrame(cols, index=frame.index)
