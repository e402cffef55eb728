"""The study's fit: the proxy store through scaling/ into a `StudyFit` (RUN_DIR/fit.json).

Pure data work (no torch, no Ray): `fit_study` runs `scaling.fit.fit_scaling` on the proxy
trial store (optima per scale, HP laws, loss law, leave-largest-out validation; for proxies
searched at random or by CARBS, one joint model that `study.joint_fit` reads the same records
off) and `ScalingFit.predict` at the target, then evaluates the fitted result objects along the
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
from tunescale.contract.store import read_table, read_trials
from tunescale.scaling.columns import HP_COLUMNS, Table, load
from tunescale.scaling.fit import ScalingFit, fit_scaling
from tunescale.scaling.hp_laws import PowerLawResult, fit_power_law
from tunescale.scaling.validation import leave_largest_out
from tunescale.study import joint_fit
from tunescale.study.joint_fit import JointLaw
from tunescale.study.results import (
    TAU,
    TOKEN_BUDGET_TAG,
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
# τ = 1/(lr·λ·steps) overall and per parameter group, evaluation cadence) or from the token budget (its
# tag on a CARBS search's trials): they vary with them, so they must not split the runs at one scale into
# groups the way a setting held fixed would, nor enter the joint model as settings of their own.
DERIVED_COLUMNS = ("hp_steps", "hp_steps_done", "hp_eval_every", "hp_log_every", TOKEN_BUDGET_TAG)
DERIVED_PREFIX = "hp_tau"
# why fit.json names the method it does, for the two a study asks for
STUDY_METHOD_REASON = {
    "grid": "the study swept its proxies on a grid, so optima are fitted per scale",
    "joint": "the study searched its proxies at random or by CARBS, so one joint model is fitted across scales",
}
WIDTH_TRANSFERRED = ("lr", "batch_size")  # under muP: optimization hyperparameters, not regularization


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


def _validation_of(v) -> Validation:
    return Validation(metric="log10 error" if v.error_kind == "log10" else "relative error",
                      predicted=float(np.mean(v.predicted)) if v.predicted else None,
                      observed=float(np.mean(v.observed)) if v.observed else None,
                      error=_optional(v.error), warning=v.warning)


def _validation(validation: Mapping) -> dict[str, Validation]:
    return {name: _validation_of(v) for name, v in validation.items()}


def _law_points(usable: pd.DataFrame, hp: str) -> tuple[LawPoint, ...]:
    return tuple(LawPoint(params=float(r["params"]), tokens=float(r["tokens"]), value=float(r[hp]),
                          low=float(r[f"{hp}_low"]), high=float(r[f"{hp}_high"])) for _, r in usable.iterrows())


def _loss_law(law, pts: pd.DataFrame, target: Target) -> Law:
    """The loss law as the report draws it, against the best loss at each proxy scale (`pts`)."""
    return Law(form=law.formula(), axis="params", curves=_curves(law, pts, target),
               points=tuple(LawPoint(params=float(r["params"]), tokens=float(r["tokens"]), value=float(r["loss"]))
                            for _, r in pts.iterrows()),
               parameters={k: float(c) for k, c in law.coef.items()})


def _through_timescale(prediction: Prediction, law: PowerLawResult, points: pd.DataFrame, target: Target,
                       fixed: Mapping) -> Prediction:
    """The prediction with τ at the target, and as its weight decay the λ that gives that τ at the lr and
    batch size the target is trained with (its steps: tokens over batch size · seq_len)."""
    from tunescale.trials.defaults import DEFAULTS
    from tunescale.trials.timescale import weight_decay_for

    x = {k: np.array([getattr(target, k)]) for k in law.inputs}
    value = float(np.ravel(law.predict(**x))[0])
    low, high = (float(np.ravel(b)[0]) for b in law.predict_interval(**x))
    settings = prediction.settings
    batch = settings.get("batch_size") or fixed.get("batch_size", DEFAULTS["batch_size"])
    steps = max(1, round(target.tokens / (batch * int(points["seq_len"].iloc[0]))))
    lam = [weight_decay_for(t, settings["lr"], steps, str(points["wd_mode"].iloc[0])) for t in (value, high, low)]
    return replace(prediction, hps={
        **prediction.hps,
        "weight_decay": HPPrediction(law=Estimate(*lam), setting=lam[0]),
        TAU: HPPrediction(law=Estimate(value, low, high), setting=None),  # not a trainer key: λ is
    })


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


def fit_study(
    proxies_dir: str | Path, target: Target, fixed: Mapping, *, n_bootstrap: int = 200, width_transfer: bool = False,
    method: str = "auto",
) -> StudyFit:
    """The fit of the proxy store at `proxies_dir` and the prediction at `target`; hyperparameters
    without a law are taken from `fixed` (the trainer keys every proxy shared). `method` is
    scaling's: "joint" for proxies searched at random or by CARBS (`study.joint_fit`). With
    `width_transfer` (muP-type proxies, either method) the lr and batch-size laws are in tokens only,
    every width a replicate: muP transfers the optimization hyperparameters across width by
    construction, so the target takes the proxies' optima at its token budget instead of a power
    law in params through their finite-width drift. Regularization is not muTransferable (Tensor
    Programs V, Table 1), so weight decay keeps its law in params and tokens."""
    columns = set(read_table(proxies_dir).column_names)
    table = load(proxies_dir, ignore=sorted(c for c in columns if c in DERIVED_COLUMNS or c.startswith(DERIVED_PREFIX)))
    transfer = width_transfer and table.frame["tokens"].nunique() > 1
    inputs = {hp: ("tokens",) for hp in WIDTH_TRANSFERRED} if transfer else None
    fit = fit_scaling(table, n_bootstrap=n_bootstrap, method=method, hp_law_inputs=inputs)
    if method != "auto":
        fit = replace(fit, method_reason=STUDY_METHOD_REASON[method])
    widths = _width_of(table.frame)
    if fit.joint is not None:
        return _from_joint(proxies_dir, table, fit, target, fixed, widths)
    edge_bs: tuple[ScaleOptimum, ...] = ()
    if "lr" not in fit.hp_laws and table.frame["batch_size"].nunique() > 1:
        edge_bs = tuple(o for o in _optima(fit, widths) if o.hp == "batch_size")
        fit = _fit_at_best_batch_size(table, n_bootstrap, inputs)
    if "lr" not in fit.hp_laws:
        raise InputError(
            f"{proxies_dir}: no lr law could be fitted ({'; '.join(fit.warnings) or 'no lr optima'}); "
            f"widen the LR grid or add widths to the study spec."
        )
    if fit.loss_law is None:
        raise InputError(f"{proxies_dir}: no loss law could be fitted; the study needs at least 6 proxy scales.")
    pred = fit.predict(params=target.params, tokens=target.tokens)
    ofr = fit.optima_frame
    hp_laws, validation = {}, _validation(fit.validation)
    tau = _timescale_law(fit, proxies_dir, n_bootstrap) if "weight_decay" in fit.hp_laws else None
    if tau is not None:
        law, points, check = tau
        hp_laws[TAU] = Law(form=law.formula(), axis="params", curves=_curves(law, points, target),
                           points=_law_points(points, TAU), r2=_optional(law.r2), n_scales=int(law.n))
        validation[TAU] = _validation_of(check)
        validation.pop("weight_decay", None)
    for hp, law in fit.hp_laws.items():
        if hp == "weight_decay" and tau is not None:
            continue
        usable = ofr[~ofr[f"{hp}_at_edge"].astype(bool) & ofr[hp].notna()]
        hp_laws[hp] = Law(form=f"{hp} ~ {' + '.join(law.inputs)}", axis="params", points=_law_points(usable, hp),
                          curves=_curves(law, usable, target), r2=_optional(law.r2), n_scales=int(law.n))
    optima = _optima(fit, widths) + edge_bs
    loss_law = _loss_law(fit.loss_law, fit.loss_points, target)
    prediction = _prediction(pred.values, fixed, optima)
    if tau is not None:
        prediction = _through_timescale(prediction, tau[0], tau[1], target, fixed)
    return StudyFit(target=target, optima=optima, hp_laws=hp_laws, loss_law=loss_law,
                    validation=validation, prediction=prediction,
                    warnings=tuple(fit.warnings), scaling=_json_safe(fit.summary()),
                    scaling_prediction=_json_safe(pred.summary()))


def _timescale_points(fit: ScalingFit, proxies_dir: str | Path) -> pd.DataFrame:
    """Each usable weight-decay optimum as a timescale τ* = 1/(decay per step · steps) at the lr and steps
    its scale's weight-decay grid ran with (`trials.timescale`); with its interval (λ high gives τ low)."""
    from tunescale.trials.timescale import timescale

    raw = read_trials(proxies_dir, validated=True)
    raw = raw[raw["status"] == "completed"]
    ofr = fit.optima_frame
    usable = ofr[~ofr["weight_decay_at_edge"].astype(bool) & ofr["weight_decay"].notna()]
    out = []
    for _, o in usable.iterrows():
        at = raw[np.isclose(raw["params"], o["params"]) & np.isclose(raw["tokens"], o["tokens"])]
        grids = at.groupby(["lr", "batch_size"]).filter(lambda g: g["weight_decay"].nunique() > 1)
        if grids[["lr", "hp_steps", "hp_wd_mode"]].drop_duplicates().shape[0] != 1:
            continue  # no single weight-decay grid at this scale: its optimum has no one timescale
        r = grids.iloc[0]
        tau = [timescale(r["lr"], o[k], int(r["hp_steps"]), r["hp_wd_mode"])
               for k in ("weight_decay", "weight_decay_high", "weight_decay_low")]
        out.append({"params": o["params"], "tokens": o["tokens"], TAU: tau[0], f"{TAU}_low": tau[1],
                    f"{TAU}_high": tau[2], "wd_mode": r["hp_wd_mode"], "seq_len": int(r["hp_seq_len"])})
    return pd.DataFrame(out)


def _timescale_law(fit: ScalingFit, proxies_dir: str | Path, n_bootstrap: int):
    """The weight-decay law as a law of its timescale, fitted on the same scale columns as the λ law:
    (law, its points, leave-largest-out), or None where fewer points than it needs have one timescale."""
    points = _timescale_points(fit, proxies_dir)
    inputs = fit.hp_laws["weight_decay"].inputs
    if len(points) <= len(inputs) + 1 or points["wd_mode"].nunique() != 1:
        return None

    def refit(pts: pd.DataFrame, n: int = 0) -> PowerLawResult:
        return fit_power_law(pts[TAU].to_numpy(), {k: pts[k].to_numpy() for k in inputs}, target=TAU,
                             n_bootstrap=n, seed=0)

    law = refit(points, n_bootstrap)
    check = leave_largest_out(f"{TAU} ~ {' + '.join(inputs)}", points, inputs, TAU, refit, kind="log10")
    return law, points, check


def _from_joint(proxies_dir, table: Table, fit: ScalingFit, target: Target, fixed: Mapping,
                widths: dict[float, int]) -> StudyFit:
    """The study's records read off the joint model. A swept hyperparameter whose optimum the model does not
    resolve is trained at its value in the best proxy run at the largest scale, with a warning; the loss is
    predicted at the settings the target trains with (`study.joint_fit.JointLaw`)."""
    laws = joint_fit.laws(fit)
    if "lr" not in laws:
        raise InputError(
            f"{proxies_dir}: the joint model resolves no lr optimum ({'; '.join(fit.warnings) or 'lr not varied'}); "
            f"widen the lr range or raise [proxies] trials in the study spec."
        )
    pred = fit.predict(params=target.params, tokens=target.tokens)
    ofr = fit.optima_frame
    n_scales = int(fit.loss_points[["params", "tokens"]].drop_duplicates().shape[0])
    hp_laws = {hp: Law(form=law.formula(), axis="params", points=_law_points(ofr, hp),
                       curves=_curves(law, ofr, target), n_scales=n_scales) for hp, law in laws.items()}
    frame = table.frame
    top = frame[frame["params"] == frame["params"].max()]
    top = top[top["tokens"] == top["tokens"].max()]
    best = top.loc[top["loss"].idxmin()]
    unresolved = [hp for hp in HP_COLUMNS if hp not in laws and hp in frame and frame[hp].nunique() > 1]
    fallback = {hp: float(best[hp]) for hp in unresolved}
    notes = tuple(f"{hp}: no optimum read off the joint model; the target trains at the {hp} of the best proxy run "
                  f"at the largest scale ({v:g}), and the predicted loss is the model's there" for hp, v in
                  fallback.items())
    loss = JointLaw(fit.joint, "loss", at=fallback)
    at_target = (loss.predict(target.params, target.tokens), *loss.predict_interval(target.params, target.tokens))
    values = {**pred.values, "loss": tuple(float(v[0]) for v in at_target)}
    optima = joint_fit.optima(fit, widths)
    return StudyFit(target=target, optima=optima, hp_laws=hp_laws,
                    loss_law=_loss_law(loss, joint_fit.loss_points(fit), target),
                    validation=_validation(joint_fit.validation(table, fit)),
                    prediction=_prediction(values, {**fixed, **fallback}, optima),
                    warnings=(*fit.warnings, *notes), scaling=_json_safe(fit.summary()),
                    scaling_prediction=_json_safe(pred.summary()))



def _fit_at_best_batch_size(table: Table, n_bootstrap: int, hp_law_inputs: Mapping | None) -> ScalingFit:
    """The fit of the runs at each scale's best batch size only: where the joint (lr, batch size) optimum
    lies on the grid's edge (often the smallest batch: at small fixed token budgets more steps win),
    lr*(B) at that edge still gives an lr law, and weight decay keeps its own; batch size gets none."""
    frame = table.frame
    keys = [k for k in ("params", "tokens") if k in frame.columns]
    best = frame.loc[frame.groupby(keys)["loss"].idxmin(), [*keys, "batch_size"]]
    at_best = frame.merge(best, on=[*keys, "batch_size"])
    fit = fit_scaling(replace(table, frame=at_best), n_bootstrap=n_bootstrap, method="grid",
                      hp_law_inputs=hp_law_inputs)
    note = ("batch_size: the joint (lr, batch_size) optimum is at the edge of the batch-size grid, so lr and "
            "weight decay are fitted at each scale's best batch size (lr*(B) there) and batch size has no law; "
            "widen the batch-size grid")
    return replace(fit, warnings=(note, *fit.warnings),
                   method_reason=f"{STUDY_METHOD_REASON['grid']}, at each scale's best batch size")


def _json_safe(doc: dict) -> dict:
    """scaling's summary() as plain JSON types (numpy scalars become Python numbers)."""
    return json.loads(json.dumps(doc, default=float, allow_nan=True))
