"""Export a tunescale trial store as an Optuna study, so `optuna-dashboard` shows a sweep.

    from tunescale.sweep.export_optuna import export_optuna
    export_optuna("runs/lr_sweep", "sqlite:///lr_sweep.db", "lr_sweep")
    # then: optuna-dashboard sqlite:///lr_sweep.db

Each trial row becomes one finished trial (`optuna.trial.create_trial`) of a new study
that minimizes the loss:
- params: the hyperparameters (`lr`, `batch_size`, `weight_decay`, `width`, `depth`,
  `parametrization` and every ``hp_`` column but the failure reason), each with a
  distribution spanning the values the sweep ran: log for `lr`, `batch_size`, `width`
  and a positive `weight_decay` (the axes their laws live on), linear otherwise, and
  categorical for strings and booleans;
- user attrs: the scale and bookkeeping columns (`params`, `tokens`, `flops`,
  `trial_id`, `status`, `seed`, ...), which `sweep.import_optuna` reads back;
- state: completed → COMPLETE with the loss as value, pruned → PRUNED, diverged and
  failed → FAIL (Optuna has no "diverged"; the `status` attr keeps it);
- intermediate values: the `eval_loss` curve by step.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tunescale.contract.errors import InputError
from tunescale.contract.schema import HP_PREFIX
from tunescale.contract.store import read_curves, read_table
from tunescale.sweep.import_rows import REASON_COLUMN

PARAM_COLUMNS = ("lr", "batch_size", "weight_decay", "width", "depth", "parametrization")
LOG_COLUMNS = ("lr", "batch_size", "weight_decay", "width")


def _is_param(column: str) -> bool:
    return column in PARAM_COLUMNS or (column.startswith(HP_PREFIX) and column != REASON_COLUMN)


def _distribution(name: str, values: list[Any]):
    """The Optuna distribution spanning the values a column took (None if it took none)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not present:
        return None
    if any(isinstance(v, bool | str) for v in present) or not all(isinstance(v, int | float) for v in present):
        return CategoricalDistribution(sorted({v for v in present}, key=str))
    lo, hi = min(present), max(present)
    log = name in LOG_COLUMNS and lo > 0
    if all(isinstance(v, int) for v in present):
        return IntDistribution(int(lo), int(hi), log=log)
    return FloatDistribution(float(lo), float(hi), log=log)


def _attr(value: Any) -> Any:
    """A JSON-safe user attr value (None when the row has none)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.isoformat() if hasattr(value, "isoformat") else value


def export_optuna(store_dir: str | Path, storage_url: str, study_name: str) -> int:
    """Write every trial of the store at `store_dir` into a new Optuna study `study_name` at
    `storage_url` (any Optuna storage URL, e.g. ``sqlite:///sweep.db``); return the trial count.

    Raises InputError when the study already exists there (choose another name or
    delete it with `optuna delete-study`).
    """
    import optuna
    from optuna.trial import TrialState, create_trial

    rows = read_table(store_dir, validated=True).to_pylist()
    if not rows:
        raise InputError(f"{store_dir}: the store holds no trials; run or import a sweep first.")
    curves = read_curves(store_dir)
    evals = curves[curves["metric"] == "eval_loss"].sort_values("step")
    by_trial = {tid: dict(zip(g["step"].astype(int), g["value"].astype(float), strict=True))
                for tid, g in evals.groupby("trial_id")}

    columns = [c for c in rows[0] if _is_param(c)]
    distributions = {c: d for c in columns if (d := _distribution(c, [r[c] for r in rows])) is not None}

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(storage=storage_url, study_name=study_name, direction="minimize")
    except optuna.exceptions.DuplicatedStudyError:
        raise InputError(f"{storage_url}: a study named {study_name!r} exists already; choose another "
                         f"name or delete it (optuna delete-study --storage URL --study-name NAME).") from None
    state = {"completed": TrialState.COMPLETE, "pruned": TrialState.PRUNED,
             "diverged": TrialState.FAIL, "failed": TrialState.FAIL}
    for row in rows:
        params = {c: row[c] for c in distributions if _attr(row[c]) is not None}
        attrs = {c: _attr(v) for c, v in row.items() if not _is_param(c) and c != "loss" and _attr(v) is not None}
        intermediate = {s: v for s, v in by_trial.get(row["trial_id"], {}).items() if math.isfinite(v)}
        study.add_trial(create_trial(
            state=state[row["status"]],
            value=row["loss"] if row["status"] == "completed" else None,
            params=params,
            distributions={c: distributions[c] for c in params},
            user_attrs=attrs,
            intermediate_values=intermediate,
        ))
    return len(rows)


__all__ = ["export_optuna"]
