"""fit-scaling as a library call: optima per scale → hyperparameter laws → loss law → validation.

Notations
---------
N, D, C       params, tokens, flops (C = 6·N·D when not given)
h*(scale)     optimum of hyperparameter h at one scale (`scaling.optima`)
law           `target ~ x1 + x2`: h* = c·Π x^k (`scaling.hp_laws`), or
              loss = E + Σ A_k / x_k^α_k (`scaling.loss_law`)
learned law   h* = c·Π x^k through the per-scale means of a column each run tuned itself
              (an STN run's final dropout), with either method (`scaling.learned_laws`)
method        grid: optima per scale, then laws through them (needs 3+ values of an HP at one
              scale with the others fixed); joint: one model across scales (`scaling.joint`),
              for random, Bayesian and CARBS searches; auto: grid when the table has such a
              sweep, else joint

`fit_scaling(table)` is what the CLI runs; every piece it returns is a frozen result
with `summary()` (JSON-safe) and `report()` (text).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tunescale.contract.errors import InputError
from tunescale.scaling.columns import HP_COLUMNS, Table, format_dropped
from tunescale.scaling.hp_laws import LawSpec, PowerLawResult, fit_power_law, parse_law, refit_power_law
from tunescale.scaling.joint import DIVERGED_FACTOR, JointFit, diverged_by_rule, fit_joint
from tunescale.scaling.learned_laws import LearnedLaw, fit_learned_law, marked_targets
from tunescale.scaling.loss_law import LossLawResult, fit_loss_law, two_level_inputs
from tunescale.scaling.optima import DEFAULT_BAND_PCT
from tunescale.scaling.published import PublishedLaw, reference_laws
from tunescale.scaling.scale_optima import (
    ScaleOptimum,
    grid_share,
    grid_swept,
    loss_points,
    optima_by_scale,
    swept_hps,
)
from tunescale.scaling.validation import MIN_SCALES, Validation, leave_largest_out

GRID_SHARE = 0.5  # auto: a table with fewer of its runs on a grid than this is a search's (scale_optima.grid_share)
DEFAULT_INPUTS = {"lr": ("params", "tokens"), "batch_size": ("tokens",), "weight_decay": ("params", "tokens")}


@dataclass(frozen=True)
class ScalingFit:
    """Everything fit-scaling found in one table of runs."""

    table: Table
    optima: tuple[ScaleOptimum, ...]
    optima_frame: pd.DataFrame
    hp_laws: dict[str, PowerLawResult]
    loss_law: LossLawResult | None
    loss_points: pd.DataFrame
    validation: dict[str, Validation]
    references: tuple[PublishedLaw, ...]
    warnings: tuple[str, ...]
    settings: dict
    method: str = "grid"
    method_reason: str = ""
    joint: JointFit | None = None
    holdout: dict | None = None
    show_loss_law: bool = True
    learned: dict[str, LearnedLaw] = field(default_factory=dict)

    def predict(self, **target):
        """Optimal hyperparameters and loss at `params=..., tokens=...` or `flops=...` (see scaling.predict)."""
        from tunescale.scaling.predict import predict

        return predict(self, **target)

    def compare(self) -> list[dict]:
        """Our law vs each published one at the fitted scales: median log10 ratio and exponents side by side."""
        out = []
        for ref in self.references:
            law = self.hp_laws.get(ref.target)
            if law is None or self.optima_frame.empty:
                out.append({**ref.summary(), "ours": None, "note": f"no {ref.target} law fitted here"})
                continue
            x = {k: self.optima_frame[k].to_numpy() for k in {*law.inputs, *ref.exponents} if k in self.optima_frame}
            if not set(ref.exponents) <= set(x):
                out.append({**ref.summary(), "ours": law.summary()["formula"], "note": "no common scale columns"})
                continue
            ratio = np.log10(law.predict(**{k: x[k] for k in law.inputs}) / ref.predict(**x))
            data = np.log10(self.optima_frame[ref.target].to_numpy() / ref.predict(**x))
            out.append({**ref.summary(), "ours": law.formula(),
                        "ours_exponents": {k: law.coef[k] for k in law.inputs},
                        "median_log10_ours_over_published": float(np.median(ratio)),
                        "median_log10_optima_over_published": float(np.median(data))})
        return out

    def summary(self) -> dict:
        joint = self.joint.summary() if self.joint is not None else None
        if joint is not None and not self.show_loss_law:
            joint.pop("loss_law")
        return {
            "input": self.table.summary(),
            "settings": dict(self.settings),
            "method": self.method,
            "method_reason": self.method_reason,
            "joint": joint,
            "holdout": self.holdout,
            "optima": [o.summary() for o in self.optima],
            "hp_laws": {k: v.summary() for k, v in self.hp_laws.items()},
            "learned_laws": {k: v.summary() for k, v in self.learned.items()},
            "loss_law": self.loss_law.summary() if self.loss_law else None,
            "validation": {k: v.summary() for k, v in self.validation.items()},
            "compare": self.compare(),
            "warnings": list(self.warnings),
        }

    def report(self) -> str:
        lines = [format_dropped(self.table)]
        lines += [f"  note: {n}" for n in self.table.notes]
        lines.append(f"method: {self.method} — {self.method_reason}")
        if self.joint is not None:
            text = self.joint.report()
            if not self.show_loss_law:
                text = text.split("\n  tuned loss*")[0]
            lines.append("\n" + text)
            lines.append(f"\noptima read off the joint model at {len(self.optima_frame)} scale(s) of the data:")
            lines.append(_optima_table(self.optima_frame))
        if self.holdout:
            h = self.holdout
            lines.append(f"\nheld-out runs ({h['n_runs']}, {h['rule']}): loss predicted at their own scale and HPs, "
                         f"mean |error| {h['mean_abs_rel_error']:.2%}, max {h['max_abs_rel_error']:.2%}")
        if self.optima and self.joint is None:
            lines.append(f"\noptima at {len(self.optima)} scale(s):")
            lines.append(_optima_table(self.optima_frame))
        for target, law in self.hp_laws.items():
            lines.append(f"\n{target} law:")
            lines.append(law.report())
            if target in self.validation:
                lines.append(self.validation[target].report())
        for target, learned in self.learned.items():
            lines.append("\n" + learned.report())
            if target in self.validation:
                lines.append(self.validation[target].report())
        if self.loss_law is not None:
            lines.append(f"\nloss law (Huber δ = 1e-3 on log residuals, {self.loss_law.n_bootstrap} bootstrap refits):")
            lines.append(self.loss_law.report())
            if "loss" in self.validation:
                lines.append(self.validation["loss"].report())
        comparisons = self.compare()
        if comparisons:
            lines.append("\npublished laws:")
            for c in comparisons:
                lines.append(f"    {c['source']}: {c['formula']}")
                if "median_log10_ours_over_published" in c:
                    lines.append(f"      ours: {c['ours']}; ours / published at the fitted scales: "
                                 f"median {c['median_log10_ours_over_published']:+.3f} decades")
                else:
                    lines.append(f"      {c['note']}")
        if self.warnings:
            lines.append("")
            lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _optima_table(frame: pd.DataFrame) -> str:
    cols = [c for c in ("params", "tokens", "flops", "n_runs") if c in frame.columns]
    for hp in HP_COLUMNS:
        if hp in frame.columns:
            frame = frame.assign(
                **{
                    f"{hp}*": [
                        f"{v:.4g} [{lo:.3g}, {hi:.3g}]{' EDGE' if e else ''}"
                        for v, lo, hi, e in zip(
                            frame[hp], frame[f"{hp}_low"], frame[f"{hp}_high"], frame[f"{hp}_at_edge"], strict=True
                        )
                    ]
                }
            )
            cols.append(f"{hp}*")
    cols.append("loss")
    return frame[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _optima_frame(optima: list[ScaleOptimum]) -> pd.DataFrame:
    rows = []
    for o in optima:
        row = {**o.scale, "n_runs": o.n_runs, "loss": o.loss}
        for hp in HP_COLUMNS:
            if o.has(hp):
                lo, hi = o.interval(hp)
                row.update({hp: o.value(hp), f"{hp}_low": lo, f"{hp}_high": hi, f"{hp}_at_edge": o.at_edge(hp)})
        rows.append(row)
    return pd.DataFrame(rows)


def _varying(frame: pd.DataFrame, cols) -> list[str]:
    return [c for c in cols if c in frame.columns and frame[c].nunique() > 1]


COLLINEAR_COND = 30.0  # condition number of the standardized log scale columns: beyond it (|r| > 0.998) one axis


def _identifiable(frame: pd.DataFrame, inputs: tuple[str, ...]) -> bool:
    """Whether the exponents of `inputs` can be told apart: their logs are not (nearly) proportional,
    as tokens are to params in a table run at one tokens-per-parameter ratio."""
    logX = np.column_stack([np.log(frame[k].to_numpy(float)) for k in inputs])
    z = logX - logX.mean(axis=0)
    sd = z.std(axis=0)
    if len(frame) <= len(inputs) or not np.all(sd > 0):
        return False
    return bool(np.linalg.cond(z / sd) < COLLINEAR_COND)


def _default_inputs(
    frame: pd.DataFrame, wanted: tuple[str, ...], allowed: tuple[str, ...] | None = None
) -> tuple[str, ...] | None:
    """`wanted` when those columns vary independently, else the one scale column that varies;
    only columns in `allowed` (None: any)."""
    ok = [k for k in ("flops", *wanted, "params", "tokens") if allowed is None or k in allowed]
    wanted = tuple(k for k in wanted if k in ok)
    if (
        wanted
        and all(k in frame.columns for k in wanted)
        and len(_varying(frame, wanted)) == len(wanted)
        and _identifiable(frame, wanted)
    ):
        return wanted
    for k in ok:
        if k in frame.columns and frame[k].nunique() > 1:
            return (k,)
    return None


def fit_scaling(
    table: Table,
    *,
    laws: list[str] | None = None,
    n_bootstrap: int = 1000,
    seed: int | None = 0,
    band_pct: float = DEFAULT_BAND_PCT,
    confidence: float = 0.95,
    compare: list[str] | None = None,
    validate: bool = True,
    method: str = "auto",
    hp_cols: tuple[str, ...] = (),
    loss_law: bool = True,
    holdout=None,
    holdout_rule: str = "",
    hp_law_inputs: Mapping[str, tuple[str, ...]] | None = None,
) -> ScalingFit:
    """Fit every law the table supports (or the `laws` asked for) and validate each.

    `hp_law_inputs` limits, per hyperparameter, the scale columns its law takes by default
    (either method): {"lr": ("tokens",)} for proxies whose lr optimum does not move with width
    by construction (muP), where a power law in params would extrapolate their finite-width drift.

    `holdout` is a boolean mask over `table.frame` (joint method): those runs are left out of
    the fit and their losses predicted."""
    frame = table.frame
    warnings: list[str] = []
    if method not in ("grid", "joint", "auto"):
        raise InputError(f"--method {method}: expected grid, joint or auto.")
    specs = _parse_laws(laws, frame)
    learned, validation, learned_warnings = _learned_laws(
        frame,
        [s for s in specs if s.target not in (*HP_COLUMNS, "loss")],
        validate=validate,
        n_bootstrap=n_bootstrap,
        seed=seed,
        confidence=confidence,
    )
    warnings += learned_warnings
    specs = [s for s in specs if s.target in (*HP_COLUMNS, "loss")]
    swept = grid_swept(frame, table.fixed_columns)
    varying = [h for h in HP_COLUMNS if h in frame.columns and frame[h].nunique() > 1]
    share = grid_share(frame, table.fixed_columns) if swept else 0.0
    if method == "auto":
        if (swept and share >= GRID_SHARE) or not varying:
            method, reason = (
                "grid",
                (
                    f"auto: {', '.join(swept)} swept over 3+ values at one scale with the other "
                    f"hyperparameters fixed, so optima are fitted per scale"
                    if swept
                    else "auto: no hyperparameter column varies, so the loss law is fitted to the runs"
                ),
            )
        else:
            method, reason = (
                "joint",
                (
                    f"auto: only {share:.0%} of the runs lie on a grid (3+ values of one hyperparameter at one "
                    f"scale with the others fixed), so they look like a random, Bayesian or CARBS search and "
                    f"one joint model is fitted across scales"
                    if swept
                    else "auto: no scale has 3+ values of one hyperparameter with the others fixed "
                    "(the runs look like a random, Bayesian or CARBS search), so one joint model "
                    "is fitted across scales"
                ),
            )
            warnings.append("the data looks like random or Bayesian search: using the joint model")
    else:
        reason = f"--method {method}"
    if method == "joint":
        return _fit_joint(
            table,
            reason,
            warnings,
            n_bootstrap=n_bootstrap,
            seed=seed,
            confidence=confidence,
            compare=compare,
            hp_cols=tuple(hp_cols),
            show_loss_law=loss_law,
            holdout=holdout,
            holdout_rule=holdout_rule,
            laws=specs,
            hp_law_inputs=hp_law_inputs,
            learned=learned,
            validation=validation,
        )
    if holdout is not None:
        raise InputError("--holdout: needs --method joint; the grid method validates by leaving the largest scale out.")
    for hp in HP_COLUMNS:
        if hp in frame.columns and frame[hp].nunique() > 1 and hp not in swept:
            warnings.append(f"{hp}: not used by the grid method — {_not_swept(frame, hp)}")
    optima = optima_by_scale(
        frame, table.fixed_columns, n_bootstrap=n_bootstrap, seed=seed, band_pct=band_pct, confidence=confidence
    )
    ofr = _optima_frame(optima)
    by_target = {s.target: s for s in specs}

    hp_laws: dict[str, PowerLawResult] = {}
    for hp in HP_COLUMNS:
        has = hp in ofr.columns
        if not has:
            if hp in by_target:
                raise InputError(f"--law {by_target[hp]}: {_not_swept(frame, hp)}.")
            continue
        usable = ofr[~ofr[f"{hp}_at_edge"].astype(bool) & ofr[hp].notna()]
        n_edge = int(ofr[f"{hp}_at_edge"].astype(bool).sum())
        if n_edge:
            warnings.append(
                f"{hp}: optimum at edge of grid at {n_edge} scale(s), left out of the {hp} law; widen the sweep there"
            )
        spec = by_target.get(hp) or _spec(hp, usable, (hp_law_inputs or {}).get(hp))
        if spec is None:
            warnings.append(f"{hp}: optima at {len(usable)} scale(s) do not vary in scale; no {hp} law")
            continue
        p = len(spec.inputs) + 1
        if len(usable) <= p:
            msg = f"{hp} ~ {' + '.join(spec.inputs)}: {len(usable)} usable scale(s) for {p} coefficients"
            if hp in by_target:
                raise InputError(msg + "; sweep more scales or use fewer scale variables.")
            warnings.append(msg + "; no law fitted (sweep more scales)")
            continue
        law = fit_power_law(
            usable[hp].to_numpy(),
            {k: usable[k].to_numpy() for k in spec.inputs},
            target=hp,
            n_bootstrap=n_bootstrap,
            seed=seed,
            confidence=confidence,
        )
        hp_laws[hp] = law
        if usable[list(spec.inputs)].drop_duplicates().shape[0] < MIN_SCALES:
            warnings.append(f"{hp} law fitted on fewer than {MIN_SCALES} scales: do not trust it")
        if validate:
            v = leave_largest_out(str(spec), usable, spec.inputs, hp, refit_power_law(spec), kind="log10")
            validation[hp] = v
            if v.warning:
                warnings.append(f"{hp} law validation: {v.warning}")

    points = loss_points(frame, optima)
    fitted_law = None
    spec = by_target.get("loss")
    if spec is None:
        inputs = _default_inputs(points, ("params", "tokens"))
        spec = LawSpec("loss", inputs) if inputs else None
    if loss_law and spec is not None and len(points) > 2 * len(spec.inputs) + 1:
        fitted_law = fit_loss_law(
            points["loss"].to_numpy(),
            {k: points[k].to_numpy() for k in spec.inputs},
            n_bootstrap=n_bootstrap,
            seed=seed,
            confidence=confidence,
        )
        if points[list(spec.inputs)].drop_duplicates().shape[0] < MIN_SCALES:
            warnings.append(f"loss law fitted on fewer than {MIN_SCALES} scales: do not trust it")
        warnings += two_level_inputs({c: points[c].to_numpy() for c in spec.inputs})
        loose = fitted_law.poorly_determined()
        if len(spec.inputs) == 2 and fitted_law.allocation_problem():
            warnings.append(fitted_law.allocation_problem())
        if loose:
            warnings.append(f"loss law poorly determined: {'; '.join(loose)}; add scales (wider N and D ranges)")
        if validate:
            v = leave_largest_out(str(spec), points, spec.inputs, "loss", _loss_refit(spec, seed), kind="relative")
            validation["loss"] = v
            if v.warning:
                warnings.append(f"loss law validation: {v.warning}")
    elif loss_law and "loss" in by_target:
        raise InputError(
            f"--law {by_target['loss']}: {len(points)} point(s) for {2 * len(spec.inputs) + 1} coefficients; "
            f"give more scales."
        )
    elif loss_law:
        warnings.append(f"loss law: {len(points)} scale point(s) is too few (or no scale varies); no loss law fitted")

    if not hp_laws and fitted_law is None and not learned:
        n_scales = len(points.drop_duplicates(subset=[c for c in ("params", "tokens", "flops") if c in points]))
        swept = sorted({h for o in optima for h in o.optima})
        what = (
            f"{', '.join(swept)} swept at 3+ values, but only at {n_scales} scale(s)"
            if swept
            else f"{n_scales} distinct scale(s) and no hyperparameter swept at 3+ values per scale"
        )
        why = "".join(f"; {w}" for w in learned_warnings[:1])
        raise InputError(f"{table.source}: nothing to fit — {what}; a law needs runs at 3 or more scales{why}.")
    refs = tuple(r for name in compare or [] for r in reference_laws(name))
    settings = {
        "n_bootstrap": n_bootstrap,
        "seed": seed,
        "band_pct": band_pct,
        "confidence": confidence,
        "laws": [str(s) for s in (*specs, *(v.spec for v in learned.values()))],
    }
    return ScalingFit(
        table=table,
        optima=tuple(optima),
        optima_frame=ofr,
        hp_laws=hp_laws,
        loss_law=fitted_law,
        loss_points=points,
        validation=validation,
        references=refs,
        warnings=tuple(warnings),
        settings=settings,
        method="grid",
        method_reason=reason,
        show_loss_law=loss_law,
        learned=learned,
    )


def _parse_laws(laws: list[str] | None, frame: pd.DataFrame) -> list[LawSpec]:
    specs = [parse_law(s) for s in laws or []]
    targets = [s.target for s in specs]
    if len(set(targets)) != len(targets):
        raise InputError("--law: the same target is given twice; one law per target.")
    for s in specs:
        for k in s.inputs:
            if k not in ("params", "tokens", "flops"):
                raise InputError(f"--law {s}: '{k}' is not a scale column; use params, tokens or flops.")
            if k not in frame.columns:
                raise InputError(f"--law {s}: the table has no '{k}' column; map one with --{k}-col.")
    return specs


def _learned_laws(
    frame: pd.DataFrame, specs: list[LawSpec], *, validate: bool, **fit
) -> tuple[dict[str, LearnedLaw], dict[str, Validation], list[str]]:
    """(laws, their validations, warnings): the laws asked for with --law, and one for each column every run
    tuned online (params and tokens when both vary); a marked column whose law cannot be fitted is a
    warning, an asked one an error."""
    asked = {s.target: s for s in specs}
    marked, partial = marked_targets(frame)
    warnings = [f"{msg}; no law" for col, msg in partial.items() if col not in asked]
    out: dict[str, LearnedLaw] = {}
    validation: dict[str, Validation] = {}
    for target in [*asked, *(c for c in marked if c not in asked)]:
        spec = asked.get(target)
        if spec is None:
            inputs = _learned_inputs(frame)
            if inputs is None:
                warnings.append(f"{target}: tuned online, but every run is at one scale; no {target} law")
                continue
            spec = LawSpec(target, inputs)
        try:
            learned = fit_learned_law(frame, spec, **fit)
        except InputError as exc:
            if target in asked:
                raise
            warnings.append(f"{target}: no law, {exc}")
            continue
        out[target] = learned
        if learned.points[list(spec.inputs)].drop_duplicates().shape[0] < MIN_SCALES:
            warnings.append(f"{target} law fitted on fewer than {MIN_SCALES} scales: do not trust it")
        if validate:
            v = leave_largest_out(str(spec), learned.points, spec.inputs, target, refit_power_law(spec), kind="log10")
            validation[target] = v
            if v.warning:
                warnings.append(f"{target} law validation: {v.warning}")
    return out, validation, warnings


def _learned_inputs(frame: pd.DataFrame) -> tuple[str, ...] | None:
    """params and tokens when both vary on their own, else the one that varies (params first): a learned
    regularizer is read against model and data size, the two things that make a model overfit."""
    varying = tuple(_varying(frame, ("params", "tokens")))
    if len(varying) == 2 and not _identifiable(frame, varying):
        varying = varying[:1]
    return varying or None


def _spec(hp: str, usable: pd.DataFrame, allowed: tuple[str, ...] | None) -> LawSpec | None:
    inputs = _default_inputs(usable, DEFAULT_INPUTS[hp], allowed)
    return LawSpec(hp, inputs) if inputs else None


def _loss_refit(spec: LawSpec, seed):
    def refit(points: pd.DataFrame):
        # 50 starts: on the Chinchilla table the best 50 already reach the 200-start optimum to 8 digits
        return fit_loss_law(
            points["loss"].to_numpy(),
            {k: points[k].to_numpy() for k in spec.inputs},
            n_bootstrap=0,
            seed=seed,
            n_starts=50,
        )

    return refit


def _not_swept(frame: pd.DataFrame, hp: str) -> str:
    """Why the grid method has no optimum of `hp`: never 3+ values at one scale, or never with the others fixed."""
    if hp in swept_hps(frame):
        others = [h for h in swept_hps(frame) if h != hp and not {h, hp} <= {"lr", "batch_size"}]
        return (
            f"{hp} takes 3 or more values at some scale but never with the other hyperparameters "
            f"({', '.join(others) or 'hp_* columns'}) held fixed, so no optimum can be fitted per scale; "
            f"use --method joint"
        )
    return f"no scale sweeps {hp} over 3 or more values; nothing to fit an optimum from (try --method joint)"


def _optima_at_scales(joint: JointFit, frame: pd.DataFrame, max_rows: int = 20) -> pd.DataFrame:
    """The joint model's optima at the data's distinct (params, tokens), at most `max_rows` spread over flops."""
    scales = frame.groupby(["params", "tokens"]).agg(n_runs=("loss", "size"), best_loss=("loss", "min")).reset_index()
    if len(scales) > max_rows:
        order = np.argsort(scales["params"].to_numpy() * scales["tokens"].to_numpy())
        scales = scales.iloc[order[np.linspace(0, len(scales) - 1, max_rows).round().astype(int)]].reset_index(
            drop=True
        )
    opt = joint.optimum(scales["params"].to_numpy(), scales["tokens"].to_numpy())
    out = scales.assign(flops=6.0 * scales["params"] * scales["tokens"])
    for hp in (h for h in joint.hps if h not in joint.unresolved):
        v, lo, hi = opt[hp]
        out[hp], out[f"{hp}_low"], out[f"{hp}_high"], out[f"{hp}_at_edge"] = v, lo, hi, False
    out["loss"], out["loss_low"], out["loss_high"] = opt["loss"]
    return out


def _fit_joint(
    table: Table,
    reason: str,
    warnings: list[str],
    *,
    n_bootstrap,
    seed,
    confidence,
    compare,
    hp_cols,
    show_loss_law,
    holdout,
    holdout_rule,
    laws,
    hp_law_inputs,
    learned,
    validation,
) -> ScalingFit:
    for spec in laws:
        if spec.target == "loss":
            raise InputError(f"--law {spec}: the joint model's loss law is in params and tokens; a loss law of "
                             f"another form needs --method grid.")
        if not set(spec.inputs) <= {"params", "tokens"}:
            raise InputError(f"--law {spec}: the joint model moves an optimum with params and tokens; give "
                             f"{spec.target} ~ params, ~ tokens or ~ params + tokens, or use --method grid.")
    asked = {s.target: s.inputs for s in laws}
    law_inputs = {
        hp: asked.get(hp) or tuple(a for a in wanted if a in (hp_law_inputs or {}).get(hp, wanted))
        for hp, wanted in DEFAULT_INPUTS.items()
    }
    frame = table.frame
    if "status" not in frame.columns:
        div = diverged_by_rule(frame)
        if div.any():
            warnings.append(
                f"no status column: {int(div.sum())} run(s) counted as diverged (loss above "
                f"{DIVERGED_FACTOR:g}× the lowest loss of runs with no more params and no more tokens) "
                f"and left out"
            )
        frame = frame[~div].reset_index(drop=True)
        if holdout is not None:
            holdout = np.asarray(holdout, bool)[~div]
    fixed = tuple(c for c in table.fixed_columns if pd.api.types.is_numeric_dtype(frame[c]) and c not in hp_cols)
    held = np.zeros(len(frame), bool) if holdout is None else np.asarray(holdout, bool)
    if held.all():
        raise InputError(f"--holdout {holdout_rule}: every run is held out; nothing is left to fit.")
    joint, joint_warnings = fit_joint(
        frame[~held], hp_cols=(*hp_cols, *fixed), n_bootstrap=n_bootstrap, seed=seed, confidence=confidence,
        law_inputs=law_inputs,
    )
    warnings += joint_warnings
    fitted = frame[~held]
    ofr = _optima_at_scales(joint, fitted)
    # sanity: the model may not sit below the best run at a scale by more than the noise
    pred_best = joint.predict_loss(fitted)
    below = np.log(pred_best / fitted["loss"].to_numpy()) < -3 * max(joint.sigma, 1e-4)
    if below.mean() > 0.05:
        warnings.append(
            f"the joint model predicts {int(below.sum())} run(s) more than 3σ below their observed loss; "
            f"the basin may be too deep there (check the residual figure)"
        )
    holdout_doc = None
    if held.any():
        h = frame[held]
        pred = joint.predict_loss(h)
        err = pred / h["loss"].to_numpy() - 1.0
        holdout_doc = {
            "rule": holdout_rule,
            "n_runs": int(held.sum()),
            "mean_abs_rel_error": float(np.mean(np.abs(err))),
            "max_abs_rel_error": float(np.max(np.abs(err))),
            "runs": [
                {
                    "params": float(p),
                    "tokens": float(t),
                    "loss": float(o),
                    "predicted_loss": float(q),
                    "rel_error": float(e),
                }
                for p, t, o, q, e in zip(h["params"], h["tokens"], h["loss"], pred, err, strict=True)
            ],
        }
    refs = tuple(r for name in compare or [] for r in reference_laws(name))
    settings = {"n_bootstrap": n_bootstrap, "seed": seed, "confidence": confidence, "hp_cols": list(hp_cols)}
    # the fitted runs with the model's columns, in the order of `joint.log_residuals` (the figures use them)
    model_cols = ["params", "tokens", "loss", *joint.hps, *(c.name for c in joint.nuisance)]
    points = fitted[model_cols].assign(flops=6.0 * fitted["params"] * fitted["tokens"]).reset_index(drop=True)
    return ScalingFit(
        table=table,
        optima=(),
        optima_frame=ofr,
        hp_laws={},
        loss_law=None,
        loss_points=points,
        validation=validation,
        references=refs,
        warnings=tuple(warnings),
        settings=settings,
        method="joint",
        method_reason=reason,
        joint=joint,
        holdout=holdout_doc,
        show_loss_law=show_loss_law,
        learned=learned,
    )
