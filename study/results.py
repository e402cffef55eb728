"""What a study writes into its RUN_DIR, and the fit's records as frozen dataclasses.

    RUN_DIR/proxies/     trial store of the muP proxy sweep (all widths and token budgets)
    RUN_DIR/target/      trial store of the target model: predicted settings + grid around them
    RUN_DIR/fit.json     `StudyFit` (here): laws, optima, validation and the `Prediction` for the target
    RUN_DIR/study.json   `Verdict` (study/verdict.py): the target runs judged against the prediction
    RUN_DIR/elapsed.json the study's wall time so far, over every invocation (a resumed study adds to it)

Every record has `to_json()` (plain JSON-safe data) and `from_json(data, source)`, which
checks every key and type (study/jsondoc.py). Predictions and optima are kept per
hyperparameter, keyed by hp name, so a study that predicts more hyperparameters adds
entries, not fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunescale.contract.errors import InputError
from tunescale.contract.text import num, span, table
from tunescale.study.jsondoc import REWRITE, JsonDoc, read_json, write_json

PROXIES = "proxies"
TARGET = "target"
FIT_JSON = "fit.json"
STUDY_JSON = "study.json"
ELAPSED_JSON = "elapsed.json"
TAU = "tau"  # the weight-decay timescale (trials.timescale): the study's law for weight decay, where it has one
# Every trial of a CARBS proxy search carries its token budget in this pass-through column: all budgets share
# one store and sweep name, and an adaptive search resumes from the rows of its own plan (sweep.plan.own_rows)
TOKEN_BUDGET_TAG = "hp_token_budget"
AXES = ("params", "tokens")
_DECIMAL = re.compile(r"\d+\.\d+(?:e[+-]?\d+)?")


def _r2(r2: float | None) -> str:
    return f"{r2:.2f}" if r2 is not None else "-"


def rounded(formula: str) -> str:
    """A law's formula with every decimal number in it to 4 significant digits."""
    return _DECIMAL.sub(lambda m: num(float(m.group())), formula)


@dataclass(frozen=True)
class Estimate:
    """A predicted value with its interval (bootstrap or delta-method, as scaling/ computed it)."""

    value: float
    low: float
    high: float

    def to_json(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "<json>") -> Estimate:
        d = JsonDoc.of(data, source)
        return cls(value=d["value"].number(), low=d["low"].number(), high=d["high"].number())


@dataclass(frozen=True)
class Target:
    """The model the study predicts for: width, non-embedding params N, tokens D, training FLOPs of one run."""

    width: int | None
    params: float
    tokens: float
    flops: float

    def to_json(self) -> dict:
        return {"width": self.width, "params": self.params, "tokens": self.tokens, "flops": self.flops}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "<json>") -> Target:
        d = JsonDoc.of(data, source)
        return cls(width=d["width"].null_or(JsonDoc.integer), params=d["params"].number(),
                   tokens=d["tokens"].number(), flops=d["flops"].number())


@dataclass(frozen=True)
class ScaleOptimum:
    """The optimum of one hyperparameter at one proxy scale, and the parabola it came from."""

    hp: str
    width: int | None
    params: float
    tokens: float
    flops: float
    value: float
    low: float
    high: float
    at_edge: bool
    best_loss: float
    coef: tuple[float, float, float] | None  # c0 + c1·ln(x) + c2·ln(x)², over [low, high]

    def to_json(self) -> dict:
        return {"hp": self.hp, "width": self.width, "params": self.params, "tokens": self.tokens, "flops": self.flops,
                "value": self.value, "low": self.low, "high": self.high, "at_edge": self.at_edge,
                "best_loss": self.best_loss, "coef": list(self.coef) if self.coef is not None else None}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "<json>") -> ScaleOptimum:
        d = JsonDoc.of(data, source)
        coef = d["coef"].null_or(JsonDoc.numbers)
        if coef is not None and len(coef) != 3:
            raise d["coef"].fail("3 parabola coefficients")
        return cls(hp=d["hp"].string(), width=d["width"].null_or(JsonDoc.integer), params=d["params"].number(),
                   tokens=d["tokens"].number(), flops=d["flops"].number(), value=d["value"].number(),
                   low=d["low"].number(), high=d["high"].number(), at_edge=d["at_edge"].boolean(),
                   best_loss=d["best_loss"].number(), coef=coef)


@dataclass(frozen=True)
class Curve:
    """A law evaluated along its axis with its interval band (one token budget held fixed, or none)."""

    label: str
    x: tuple[float, ...]
    value: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]

    def to_json(self) -> dict:
        return {"label": self.label, "x": list(self.x), "value": list(self.value), "low": list(self.low),
                "high": list(self.high)}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "<json>") -> Curve:
        d = JsonDoc.of(data, source)
        return cls(label=d["label"].string(), x=d["x"].numbers(), value=d["value"].numbers(), low=d["low"].numbers(),
                   high=d["high"].numbers())


@dataclass(frozen=True)
class LawPoint:
    """A point a law was fitted on: an HP optimum with its interval, or a best loss (no interval)."""

    params: float
    tokens: float
    value: float
    low: float | None = None
    high: float | None = None

    def to_json(self) -> dict:
        return {"params": self.params, "tokens": self.tokens, "value": self.value, "low": self.low, "high": self.high}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "<json>") -> LawPoint:
        d = JsonDoc.of(data, source)
        return cls(params=d["params"].number(), tokens=d["tokens"].number(), value=d["value"].number(),
                   low=d["low"].null_or(JsonDoc.number), high=d["high"].null_or(JsonDoc.number))


@dataclass(frozen=True)
class Law:
    """A fitted law as the report draws it: formula, the points it was fitted on, curves along `axis`."""

    form: str
    axis: str  # one of AXES: the scale column along which the curves run (an attribute of LawPoint and Target)
    points: tuple[LawPoint, ...]
    curves: tuple[Curve, ...]
    r2: float | None = None
    n_scales: int | None = None
    parameters: Mapping[str, float] | None = None  # the loss law's coefficients (E, A, alpha, ...)

    def to_json(self) -> dict:
        return {"form": self.form, "axis": self.axis, "points": [p.to_json() for p in self.points],
                "curves": [c.to_json() for c in self.curves], "r2": self.r2, "n_scales": self.n_scales,
                "parameters": dict(self.parameters) if self.parameters is not None else None}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "<json>") -> Law:
        d = JsonDoc.of(data, source)
        params = d["parameters"].null_or(lambda p: {k: v.number() for k, v in p.entries().items()})
        if d["axis"].string() not in AXES:
            raise d["axis"].fail(" or ".join(repr(a) for a in AXES))
        return cls(form=d["form"].string(), axis=d["axis"].string(),
                   points=tuple(LawPoint.from_json(p) for p in d["points"].items()),
                   curves=tuple(Curve.from_json(c) for c in d["curves"].items()),
                   r2=d["r2"].null_or(JsonDoc.number), n_scales=d["n_scales"].null_or(JsonDoc.integer),
                   parameters=params)


@dataclass(frozen=True)
class Validation:
    """Leave-largest-out check of one law: refitted without the largest scale, asked to predict it."""

    metric: str
    predicted: float | None
    observed: float | None
    error: float | None
    warning: str | None

    def to_json(self) -> dict:
        return {"metric": self.metric, "predicted": self.predicted, "observed": self.observed, "error": self.error,
                "warning": self.warning}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "<json>") -> Validation:
        d = JsonDoc.of(data, source)
        return cls(metric=d["metric"].string(), predicted=d["predicted"].null_or(JsonDoc.number),
                   observed=d["observed"].null_or(JsonDoc.number), error=d["error"].null_or(JsonDoc.number),
                   warning=d["warning"].null_or(JsonDoc.string))


@dataclass(frozen=True)
class HPPrediction:
    """One hyperparameter at the target: its law's prediction (None when held fixed) and the value trained with."""

    law: Estimate | None
    setting: float | None

    def to_json(self) -> dict:
        return {"law": self.law.to_json() if self.law is not None else None, "setting": self.setting}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "<json>") -> HPPrediction:
        d = JsonDoc.of(data, source)
        return cls(law=d["law"].null_or(Estimate.from_json), setting=d["setting"].null_or(JsonDoc.number))


@dataclass(frozen=True)
class Prediction:
    """What the study predicts at the target: each hyperparameter (keyed by hp name) and the loss."""

    hps: Mapping[str, HPPrediction]
    loss: Estimate

    @property
    def settings(self) -> dict[str, float | None]:
        """The hyperparameters the target is trained with, by name."""
        return {hp: p.setting for hp, p in self.hps.items()}

    def to_json(self) -> dict:
        return {"hps": {hp: p.to_json() for hp, p in self.hps.items()}, "loss": self.loss.to_json()}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "<json>") -> Prediction:
        d = JsonDoc.of(data, source)
        hps = {hp: HPPrediction.from_json(p) for hp, p in d["hps"].entries().items()}
        lr = d["hps"]["lr"]  # the study always predicts the learning rate, and trains with it
        if hps["lr"].law is None:
            raise lr["law"].fail("the lr law's prediction {value, low, high}")
        if hps["lr"].setting is None:
            raise lr["setting"].fail("the learning rate the target was trained with")
        return cls(hps=hps, loss=Estimate.from_json(d["loss"]))


@dataclass(frozen=True)
class StudyFit:
    """RUN_DIR/fit.json: the proxies fitted through scaling/ and the prediction at the target.

    `scaling` and `scaling_prediction` keep scaling's own `summary()` documents as written.
    """

    target: Target
    optima: tuple[ScaleOptimum, ...]
    hp_laws: Mapping[str, Law]
    loss_law: Law
    validation: Mapping[str, Validation]
    prediction: Prediction
    warnings: tuple[str, ...]
    scaling: dict
    scaling_prediction: dict

    def to_json(self) -> dict:
        return {"target": self.target.to_json(), "optima": [o.to_json() for o in self.optima],
                "hp_laws": {hp: law.to_json() for hp, law in self.hp_laws.items()},
                "loss_law": self.loss_law.to_json(),
                "validation": {k: v.to_json() for k, v in self.validation.items()},
                "prediction": self.prediction.to_json(), "warnings": list(self.warnings),
                "scaling": self.scaling, "scaling_prediction": self.scaling_prediction}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "<json>") -> StudyFit:
        d = JsonDoc.of(data, source)
        hp_laws = {hp: Law.from_json(law) for hp, law in d["hp_laws"].entries().items()}
        prediction = Prediction.from_json(d["prediction"])
        for hp in hp_laws:
            if hp not in prediction.hps or prediction.hps[hp].law is None:
                raise InputError(f"{d.source}: key 'prediction.hps.{hp}.law': missing for the fitted {hp} law; "
                                 f"{REWRITE}.")
        return cls(
            target=Target.from_json(d["target"]),
            optima=tuple(ScaleOptimum.from_json(o) for o in d["optima"].items()),
            hp_laws=hp_laws,
            loss_law=Law.from_json(d["loss_law"]),
            validation={k: Validation.from_json(v) for k, v in d["validation"].entries().items()},
            prediction=prediction,
            warnings=tuple(w.string() for w in d["warnings"].items()),
            scaling=d["scaling"].opaque(), scaling_prediction=d["scaling_prediction"].opaque(),
        )

    def report(self) -> str:
        """The prediction at the target and the laws behind it, as tables."""
        t, pred = self.target, self.prediction
        rows = [[hp, p.law.value if p.law else None, span(p.law.low, p.law.high) if p.law else "-", p.setting]
                for hp, p in pred.hps.items()]
        rows.append(["loss", pred.loss.value, span(pred.loss.low, pred.loss.high), None])
        laws = []
        for hp, law in self.hp_laws.items():
            formula = self.scaling.get("hp_laws", {}).get(hp, {}).get("formula", law.form)
            laws.append([rounded(formula), _r2(law.r2), law.n_scales, self._held_out(hp)])
        laws.append([rounded(self.loss_law.form), _r2(self.loss_law.r2), len(self.loss_law.points),
                     self._held_out("loss")])
        return "\n".join([
            f"prediction at the target: width {t.width}, {num(t.params, 3)} params, {num(t.tokens, 3)} tokens, "
            f"{num(t.flops, 3)} FLOPs",
            table(["", "predicted", "interval", "trained with"], rows),
            "laws fitted on the proxies (held out: the largest width, predicted by a refit without it)",
            table(["law", "r2", "scales", "held out"], laws),
        ])

    def _held_out(self, name: str) -> str:
        v = self.validation.get(name)
        if v is None or v.error is None:
            return "-"
        return f"{v.error:+.3f} decades" if v.metric == "log10 error" else f"{v.error:+.2%}"

    @classmethod
    def load(cls, path: str | Path) -> StudyFit:
        return cls.from_json(read_json(path), path)

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_json())
