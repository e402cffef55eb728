"""The study's verdict: the target runs judged against the prediction, read from the trial stores.

`judge` reads RUN_DIR/proxies and RUN_DIR/target (through contract.store) and the fit, and
returns the `Verdict` the study writes to RUN_DIR/study.json: which target run was trained
at the predicted settings, its loss against the best of the grid, how far each swept
hyperparameter's optimum drifts across proxy widths, and the trials and compute per stage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tunescale.contract.errors import InputError
from tunescale.contract.store import read_trials
from tunescale.contract.text import num, table
from tunescale.study.jsondoc import REWRITE, JsonDoc, read_json, write_json
from tunescale.study.results import PROXIES, TARGET, ScaleOptimum, StudyFit


@dataclass(frozen=True)
class TargetRun:
    """One trial of the target stage: 'predicted' when trained at the predicted settings, else 'grid'."""

    trial_id: str
    role: str
    status: str
    loss: float | None
    settings: Mapping[str, float | None]  # hp name -> value the run used

    def to_json(self) -> dict:
        return {"trial_id": self.trial_id, "role": self.role, "status": self.status, "loss": self.loss,
                "settings": dict(self.settings)}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "<json>") -> TargetRun:
        d = JsonDoc.of(data, source)
        role = d["role"].string()
        if role not in ("predicted", "grid"):
            raise d["role"].fail("'predicted' or 'grid'")
        loss = d["loss"].null_or(JsonDoc.number)
        status = d["status"].string()
        if status == "completed" and loss is None:
            raise d["loss"].fail("a number for a completed run")
        d["settings"]["lr"].number()  # every target run has a learning rate: the report draws along it
        return cls(trial_id=d["trial_id"].string(), role=role, status=status, loss=loss,
                   settings={hp: v.null_or(JsonDoc.number) for hp, v in d["settings"].entries().items()})


@dataclass(frozen=True)
class StageTally:
    """Trials of one stage by status, and the compute they spent."""

    trials: int
    by_status: Mapping[str, int]
    flops: float
    wall_time_s: float

    def to_json(self) -> dict:
        return {"trials": self.trials, "by_status": dict(self.by_status), "flops": self.flops,
                "wall_time_s": self.wall_time_s}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "<json>") -> StageTally:
        d = JsonDoc.of(data, source)
        by_status = {k: v.integer() for k, v in d["by_status"].entries().items()}
        return cls(trials=d["trials"].integer(), by_status=by_status, flops=d["flops"].number(),
                   wall_time_s=d["wall_time_s"].number())


def _tokens_key(doc: JsonDoc, key: str) -> float:
    try:
        return float(key)
    except ValueError:
        raise InputError(f"{doc.source}: key '{doc.path}.{key}': expected a token budget (a number); "
                         f"{REWRITE}.") from None


@dataclass(frozen=True)
class Verdict:
    """RUN_DIR/study.json: the target runs judged against the prediction, the drift of the optima, the budget.

    `drift[hp][tokens]` is the spread of that hp's proxy optimum across widths at one token
    budget, in decades; `target_run_flops` is one target run's compute, the budget's unit.
    """

    runs: tuple[TargetRun, ...]
    drift: Mapping[str, Mapping[float, float]]
    stages: Mapping[str, StageTally]
    target_run_flops: float
    wall_s: float | None  # the study's wall time over all its invocations, None where no study timed it

    @property
    def completed(self) -> tuple[TargetRun, ...]:
        return tuple(r for r in self.runs if r.status == "completed")

    @property
    def best_of_grid(self) -> TargetRun | None:
        """The lowest completed loss among all target runs (the predicted setting included: it is the grid's centre)."""
        return min(self.completed, key=lambda r: r.loss, default=None)

    @property
    def at_predicted(self) -> TargetRun | None:
        return min((r for r in self.completed if r.role == "predicted"), key=lambda r: r.loss, default=None)

    @property
    def gap_pct(self) -> float | None:
        """Loss at the predicted settings above the best of the grid, in percent."""
        best, pred = self.best_of_grid, self.at_predicted
        return 100.0 * (pred.loss / best.loss - 1.0) if best is not None and pred is not None else None

    def line(self, hp: str) -> tuple[TargetRun, ...]:
        """The completed runs of `hp`'s one-at-a-time grid: every other setting as at the predicted run."""
        pred = self.at_predicted
        if pred is None:
            return ()
        return tuple(r for r in self.completed if all(
            k == hp or _same(r.settings.get(k), v) for k, v in pred.settings.items()))

    def gap_pct_of(self, hp: str) -> float | None:
        """Loss at the predicted settings above the best of `hp`'s grid, in percent."""
        line, pred = self.line(hp), self.at_predicted
        return 100.0 * (pred.loss / min(r.loss for r in line) - 1.0) if pred is not None and line else None

    def gridded(self) -> tuple[str, ...]:
        """The hyperparameters whose grid at the target has more than the predicted run."""
        pred = self.at_predicted
        return tuple(hp for hp in (pred.settings if pred is not None else ())
                     if len({r.settings.get(hp) for r in self.line(hp)}) > 1)

    @property
    def compute_ratio(self) -> float:
        """All proxy compute / one target run's."""
        return self.stages[PROXIES].flops / self.target_run_flops

    def report(self) -> str:
        """The target runs as a table (each grid run named by the one setting it varies, as a multiple of
        the prediction), the verdict per hyperparameter, the drift and the budget."""
        best, pred = self.best_of_grid, self.at_predicted
        rows = []
        def varied(r: TargetRun) -> str:
            hps = [k for k, v in (pred.settings.items() if pred else ()) if not _same(r.settings.get(k), v)]
            return hps[0] if len(hps) == 1 else "-"

        for r in sorted(self.runs, key=lambda r: (r.role != "predicted", varied(r), r.settings.get(varied(r), 0))):
            hp = varied(r)
            times = f"x{num(r.settings[hp] / pred.settings[hp], 3)}" if hp != "-" and pred.settings[hp] else "x1"
            rows.append([r.role, hp, times, r.settings.get(hp, "-") if hp != "-" else "-", r.status, r.loss,
                         f"{100 * (r.loss / best.loss - 1):+.2f}%" if r.loss is not None and best else "-"])
        gap = f"{self.gap_pct:+.2f}% above" if self.gap_pct is not None else "not measured against"
        per_hp = ", ".join(f"{hp} {self.gap_pct_of(hp):+.2f}%" for hp in self.gridded()
                           if self.gap_pct_of(hp) is not None)
        drift = ", ".join(f"{d:.3f} at {num(t, 3)} tokens" for t, d in self.drift.get("lr", {}).items())
        wall = f"; wall {self.wall_s:.0f} s" if self.wall_s is not None else ""
        return "\n".join([
            "target runs: the predicted settings, and a grid around each hyperparameter with the others at theirs",
            table(["run", "varies", "x predicted", "value", "status", "loss", "vs best"], rows),
            f"verdict: the loss at the predicted settings is {gap} the best of all target runs"
            + (f"; against each hyperparameter's own grid: {per_hp}" if per_hp else ""),
            f"LR optimum across proxy widths moves by (decades): {drift or '-'}",
            f"budget: proxies {num(self.stages[PROXIES].flops, 3)} FLOPs = {num(self.compute_ratio, 3)} x one "
            f"target run ({num(self.target_run_flops, 3)} FLOPs){wall}",
        ])

    def to_json(self) -> dict:
        return {"runs": [r.to_json() for r in self.runs],
                "drift": {hp: {str(t): d for t, d in by.items()} for hp, by in self.drift.items()},
                "stages": {k: s.to_json() for k, s in self.stages.items()},
                "target_run_flops": self.target_run_flops, "wall_s": self.wall_s}

    @classmethod
    def from_json(cls, data: Any, source: str | Path = "<json>") -> Verdict:
        d = JsonDoc.of(data, source)
        drift = {hp: {_tokens_key(by, t): v.number() for t, v in by.entries().items()}
                 for hp, by in d["drift"].entries().items()}
        flops = d["target_run_flops"].number()
        if not 0 < flops < math.inf:
            raise d["target_run_flops"].fail("a positive number")
        return cls(runs=tuple(TargetRun.from_json(r) for r in d["runs"].items()), drift=drift,
                   stages={k: StageTally.from_json(d["stages"][k]) for k in (PROXIES, TARGET)},
                   target_run_flops=flops, wall_s=d["wall_s"].null_or(JsonDoc.number))

    @classmethod
    def load(cls, path: str | Path) -> Verdict:
        return cls.from_json(read_json(path), path)

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_json())


def drift_by_tokens(optima: tuple[ScaleOptimum, ...], hp: str) -> dict[float, float]:
    """Spread of `hp`'s optimum across widths at each token budget, in decades (log10 max/min).

    Optima at the edge of the grid are left out: they are the grid's bound, not a fitted
    optimum (scaling/ also leaves them out of its laws).
    """
    by_tokens: dict[float, list[float]] = {}
    for o in optima:
        if o.hp == hp and not o.at_edge:
            by_tokens.setdefault(o.tokens, []).append(o.value)
    return {t: math.log10(max(v) / min(v)) for t, v in sorted(by_tokens.items()) if len(v) > 1}


def _same(a: float | None, b: float | None) -> bool:
    return a is None and b is None or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9))


def _number(v) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def target_runs(target: pd.DataFrame, settings: Mapping[str, float | None]) -> tuple[TargetRun, ...]:
    """The target stage's trials; a run is 'predicted' when every predicted setting matches (rel. 1e-9)."""
    runs = []
    for row in target.to_dict("records"):
        used = {hp: _number(row.get(hp)) for hp in settings}
        at_prediction = all(want is None or _same(used[hp], want) for hp, want in settings.items())
        runs.append(TargetRun(trial_id=str(row["trial_id"]), role="predicted" if at_prediction else "grid",
                              status=str(row["status"]), loss=_number(row["loss"]), settings=used))
    return tuple(runs)


def _tally(df: pd.DataFrame) -> StageTally:
    by_status = {s: int(n) for s, n in df["status"].value_counts().sort_index().items()}
    return StageTally(trials=len(df), by_status=by_status, flops=float(df["flops"].fillna(0.0).sum()),
                      wall_time_s=float(df["wall_time_s"].fillna(0.0).sum()))


def judge(run_dir: str | Path, fit: StudyFit, wall_s: float | None = None) -> Verdict:
    """The verdict on the study in `run_dir` from its two trial stores and its fit."""
    run_dir = Path(run_dir)
    proxies = read_trials(run_dir / PROXIES, validated=True)
    target = read_trials(run_dir / TARGET, validated=True)
    swept = dict.fromkeys(o.hp for o in fit.optima)
    return Verdict(runs=target_runs(target, fit.prediction.settings),
                   drift={hp: drift_by_tokens(fit.optima, hp) for hp in swept},
                   stages={PROXIES: _tally(proxies), TARGET: _tally(target)},
                   target_run_flops=fit.target.flops, wall_s=wall_s)
