"""The study's fit: the proxy store through scaling/ into a `StudyFit` (RUN_DIR/fit.json).

Pure data work (no torch, no Ray): `fit_study` runs `scaling.fit.fit_scaling` on the proxy
trial store (optima per scale, HP laws, loss law, leave-largest-out validation) and
`ScalingFit.predict` at the target, then evaluates the fitted result objects along the
width axis so the report draws exactly the laws and intervals the study predicted with.
The `StudyFit` keeps scaling's own `summary()` documents as `scaling` and `scaling_prediction`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from tunescale.contract.errors import InputError
from tunescale.contract.schema import FLOPS_PER_PARAM_TOKEN
from tunescale.contract.store import read_table
from tunescale.scaling.columns import HP_COLUMNS, Table, load
from tunescale.scaling.fit import ScalingFit, fit_scaling
from tunescale.study.results import (
    Curve,
    Estimate,
    HPPrediction,
    Law,
    LawPoint,
    Prediction,
    ScaleOptimum,
    StudyFit,
    Target,
    Validation,
)

CURVE_POINTS = 40
# Trainer columns that follow from the swept hyperparameters (steps = tokens / (batch_size·seq_len),
# τ = 1/(lr·λ·steps) overall and per parameter group, evaluation cadence): they vary with them, so
# they must not split the runs at one scale into groups the way a setting held fixed would.
DERIVED_COLUMNS = ("hp_steps", "hp_steps_done", "hp_eval_every", "hp_log_every")
DERIVED_PREFIX = "hp_tau"


def _width_of(proxies: pd.DataFrame) -> dict[float, int]:
    pairs = proxies.dropna(subset=["width"]).drop_duplicates(subset=["params"])
    return {float(p): int(w) for p, w in zip(pairs["params"], pairs["width"], strict=True)}


def _optima(fit: ScalingFit, widths: dict[float, int]) -> tuple[ScaleOptimum, ...]:
    """One record per (scale, hp): scaling's optimum (value, interval, parabola) plus the width it came from."""
    out = []
    for so in fit.optima:
        params, tokens = float(so.scale["params"]), float(so.scale["tokens"])
        flops = float(so.scale.get("flops", FLOPS_PER_PARAM_TOKEN * params * tokens))
        for hp in HP_COLUMNS:
            if not so.has(hp):
                continue
            one = so.optima.get(hp)
            low, high = so.interval(hp)
            coef = tuple(float(c) for c in one.coef) if one is not None and one.coef is not None else None
            out.append(ScaleOptimum(hp=hp, width=widths.get(params), params=params, tokens=tokens, flops=flops,
                                    value=float(so.value(hp)), low=float(low), high=float(high),
                                    at_edge=bool(so.at_edge(hp)), best_loss=float(so.loss), coef=coef))
    return tuple(out)


def _floats(a) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(a).ravel())


def _curves(law, fit_points: pd.DataFrame, target: Target) -> tuple[Curve, ...]:
    """The law along params, from the smallest proxy to the target, at each token budget it sees."""
    x = np.geomspace(fit_points["params"].min(), target.params, CURVE_POINTS)
    budgets = sorted(set(fit_points["tokens"]) | {target.tokens}) if "tokens" in law.inputs else [None]
    curves = []
    for tokens in budgets:
        kw = {"params": x} | ({"tokens": np.full_like(x, tokens)} if tokens is not None else {})
        if "flops" in law.inputs:
            kw = {"flops": FLOPS_PER_PARAM_TOKEN * x * (tokens or target.tokens)}
        low, high = law.predict_interval(**kw)
        curves.append(Curve(label=f"law at {tokens:.3g} tokens" if tokens is not None else "law", x=_floats(x),
                            value=_floats(law.predict(**kw)), low=_floats(low), high=_floats(high)))
    return tuple(curves)


def _optional(v) -> float | None:
    return float(v) if v is not None else None


def _validation(fit: ScalingFit) -> dict[str, Validation]:
    return {name: Validation(metric="log10 error" if v.error_kind == "log10" else "relative error",
                             predicted=float(np.mean(v.predicted)) if v.predicted else None,
                             observed=float(np.mean(v.observed)) if v.observed else None,
                             error=_optional(v.error), warning=v.warning)
            for name, v in fit.validation.items()}


def _prediction(values: dict[str, tuple[float, float, float]], fixed: Mapping,
                optima: tuple[ScaleOptimum, ...]) -> Prediction:
    """Each hyperparameter at the target: its law's prediction where one was fitted; else, if the
    proxies swept it, its optimum at the largest proxy scale; else the proxies' fixed value. The
    setting trained with rounds batch size to a whole number of sequences."""
    hps = {}
    for hp in HP_COLUMNS:
        law = Estimate(*(float(v) for v in values[hp])) if hp in values else None
        largest = max((o for o in optima if o.hp == hp), key=lambda o: (o.params, o.tokens), default=None)
        setting = law.value if law is not None else largest.value if largest is not None else fixed.get(hp)
        if setting is not None:
            setting = int(max(1, round(setting))) if hp == "batch_size" else float(setting)
        hps[hp] = HPPrediction(law=law, setting=setting)
    return Prediction(hps=hps, loss=Estimate(*(float(v) for v in values["loss"])))


def fit_study(proxies_dir: str | Path, target: Target, fixed: Mapping, *, n_bootstrap: int = 200) -> StudyFit:
    """The fit of the proxy store at `proxies_dir` and the prediction at `target`; hyperparameters
    without a law are taken from `fixed` (the trainer keys every proxy shared)."""
    columns = set(read_table(proxies_dir).column_names)
    table = load(proxies_dir, ignore=sorted(c for c in columns if c in DERIVED_COLUMNS or c.startswith(DERIVED_PREFIX)))
    fit = fit_scaling(table, n_bootstrap=n_bootstrap)
    widths = _width_of(table.frame)
    edge_bs: tuple[ScaleOptimum, ...] = ()
    if "lr" not in fit.hp_laws and table.frame["batch_size"].nunique() > 1:
        edge_bs = tuple(o for o in _optima(fit, widths) if o.hp == "batch_size")
        fit = _fit_at_best_batch_size(table, n_bootstrap)
    if "lr" not in fit.hp_laws:
        raise InputError(
            f"{proxies_dir}: no lr law could be fitted ({'; '.join(fit.warnings) or 'no lr optima'}); "
            f"widen the LR grid or add widths to the study spec."
        )
    if fit.loss_law is None:
        raise InputError(f"{proxies_dir}: no loss law could be fitted; the study needs at least 6 proxy scales.")
    pred = fit.predict(params=target.params, tokens=target.tokens)
    ofr = fit.optima_frame
    hp_laws = {}
    for hp, law in fit.hp_laws.items():
        usable = ofr[~ofr[f"{hp}_at_edge"].astype(bool) & ofr[hp].notna()]
        points = tuple(LawPoint(params=float(r["params"]), tokens=float(r["tokens"]), value=float(r[hp]),
                                low=float(r[f"{hp}_low"]), high=float(r[f"{hp}_high"])) for _, r in usable.iterrows())
        hp_laws[hp] = Law(form=f"{hp} ~ {' + '.join(law.inputs)}", axis="params", points=points,
                          curves=_curves(law, usable, target), r2=_optional(law.r2), n_scales=int(law.n))
    ll, pts = fit.loss_law, fit.loss_points
    loss_law = Law(form=ll.formula(), axis="params", curves=_curves(ll, pts, target),
                   points=tuple(LawPoint(params=float(r["params"]), tokens=float(r["tokens"]), value=float(r["loss"]))
                                for _, r in pts.iterrows()),
                   parameters={k: float(c) for k, c in ll.coef.items()})
    optima = _optima(fit, widths) + edge_bs
    return StudyFit(target=target, optima=optima, hp_laws=hp_laws, loss_law=loss_law,
                    validation=_validation(fit), prediction=_prediction(pred.values, fixed, optima),
                    warnings=tuple(fit.warnings), scaling=_json_safe(fit.summary()),
                    scaling_prediction=_json_safe(pred.summary()))


def _fit_at_best_batch_size(table: Table, n_bootstrap: int) -> ScalingFit:
    """The fit of the runs at each scale's best batch size only: where the joint (lr, batch size) optimum
    lies on the grid's edge (often the smallest batch: at small fixed token budgets more steps win),
    lr*(B) at that edge still gives an lr law, and weight decay keeps its own; batch size gets none."""
    frame = table.frame
    keys = [k for k in ("params", "tokens") if k in frame.columns]
    best = frame.loc[frame.groupby(keys)["loss"].idxmin(), [*keys, "batch_size"]]
    at_best = frame.merge(best, on=[*keys, "batch_size"])
    fit = fit_scaling(replace(table, frame=at_best), n_bootstrap=n_bootstrap)
    note = ("batch_size: the joint (lr, batch_size) optimum is at the edge of the batch-size grid, so lr and "
            "weight decay are fitted at each scale's best batch size (lr*(B) there) and batch size has no law; "
            "widen the batch-size grid")
    return replace(fit, warnings=(note, *fit.warnings))


def _json_safe(doc: dict) -> dict:
    """scaling's summary() as plain JSON types (numpy scalars become Python numbers)."""
    return json.loads(json.dumps(doc, default=float, allow_nan=True))
