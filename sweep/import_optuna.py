"""Import an Optuna study into a tunescale trial store.

    from tunescale.sweep.import_optuna import import_optuna
    import_optuna("sqlite:///lr_sweep.db", "lr_sweep", "runs/lr_sweep")

The study is read through `optuna.load_study`. A trial's record is its params, its user
attrs (where scale columns live: ``trial.set_user_attr("params", n)``, "tokens",
"flops", ...) and its objective as ``value``, the default `loss`; the mapping is
`sweep.import_rows`. States: COMPLETE → completed, PRUNED → pruned (its loss the last
intermediate value), FAIL → failed (Optuna keeps no error text, so the reason is
generic); RUNNING and WAITING trials are skipped and counted. Intermediate values
become `eval_loss` curves by step; a user attr no column takes is named in the summary's
notes. A ``trial_id`` user attr (written by `sweep.export_optuna`) is kept as the trial
id, so a store survives a round trip.
"""

from __future__ import annotations

import math
from pathlib import Path

from tunescale.contract.errors import InputError
from tunescale.contract.store import TrialStore
from tunescale.scaling.columns import ColumnMap
from tunescale.sweep.import_rows import (
    REASON_COLUMN,
    RECORD_COLUMNS,
    ImportSummary,
    check_mapping,
    require_or_skip,
    trial_row,
)

OBJECTIVE_KEY = "value"  # the record name of a trial's objective value


def _status(state) -> str | None:
    from optuna.trial import TrialState

    return {TrialState.COMPLETE: "completed", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}.get(state)


def _load(storage_url: str, study_name: str | None):
    """The study named `study_name`, or the storage's only study when no name is given."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage_url)]
    except (SQLAlchemyError, ValueError, ImportError) as exc:  # a bad URL, a missing driver, no database
        raise InputError(f"{storage_url}: cannot open it as an Optuna storage ({str(exc).splitlines()[0]}).") from None
    if study_name is None and len(names) != 1:
        raise InputError(f"{storage_url}: holds {len(names)} studies ({', '.join(names) or 'none'}); "
                         f"name one with --study NAME.")
    if study_name is not None and study_name not in names:
        raise InputError(f"{storage_url}: no study named {study_name!r}; studies there: "
                         f"{', '.join(names) or 'none'}.")
    return optuna.load_study(study_name=study_name or names[0], storage=storage_url)


def import_optuna(
    storage_url: str,
    study_name: str | None,
    store_dir: str | Path,
    mapping: ColumnMap | None = None,
    sweep_name: str | None = None,
) -> ImportSummary:
    """Write every finished trial of Optuna study `study_name` (None: the storage's only study) at
    `storage_url` into `store_dir`.

    `mapping` names the param or user attr holding each trial column (unmapped ones are
    looked up under their own names; `loss` defaults to the objective ``value``).
    `sweep_name` defaults to the study name, and a study of one minimized objective is
    required when the loss is its value. Returns what was written and skipped, by reason.
    """
    mapping = mapping or ColumnMap()
    study = _load(storage_url, study_name)
    study_name = study.study_name
    source = f"{storage_url} study {study_name!r}"
    if mapping.loss is None:
        if len(study.directions) != 1 or study.direction.name != "MINIMIZE":
            raise InputError(f"{source}: its objective is not one minimized value, so it is no loss; "
                             f"name the user attr holding the loss with --loss-col NAME (ColumnMap(loss=NAME)).")
        mapping = ColumnMap(**{**mapping.explicit(), "loss": OBJECTIVE_KEY})
    sweep = sweep_name or study_name
    summary = ImportSummary(store_dir=str(store_dir), sweep=sweep)

    trials = study.get_trials(deepcopy=False)
    records = []
    for t in trials:
        value = t.values[0] if t.values and len(t.values) == 1 else None
        if value is None and t.intermediate_values:  # a pruned trial's last report
            value = t.intermediate_values[max(t.intermediate_values)]
        records.append({**t.params, **t.user_attrs, OBJECTIVE_KEY: value})
    check_mapping(mapping, (k for r in records for k in r), source)

    store = TrialStore(store_dir)
    for t, record in zip(trials, records, strict=True):
        status = _status(t.state)
        if status is None:
            summary.skipped[f"trial {t.state.name}"] += 1
            continue
        if t.datetime_start is not None and t.datetime_complete is not None:
            record.setdefault("wall_time_s", (t.datetime_complete - t.datetime_start).total_seconds())
        if status == "failed" and t.user_attrs.get("status") == "diverged":  # exported by tunescale
            status = "diverged"
        reason = None
        if status == "failed":
            reason = str(t.user_attrs.get(REASON_COLUMN, "Optuna trial state FAIL (Optuna keeps no error text)"))
        trial_id = str(t.user_attrs.get("trial_id", f"optuna-{t.number:05d}"))
        row = trial_row(record, t.params, trial_id=trial_id, sweep=sweep, status=status, mapping=mapping,
                        reason=reason)
        if not require_or_skip(row, mapping, summary, source):
            continue
        curves = [{"step": int(step), "tokens": None, "metric": "eval_loss", "value": float(v)}
                  for step, v in sorted(t.intermediate_values.items()) if math.isfinite(v)]
        store.write(row, curves)
        summary.written += 1
        summary.statuses[row["status"]] += 1
    taken = {mapping.name_of(c) for c in RECORD_COLUMNS} | {"trial_id", "status", REASON_COLUMN}
    unkept = sorted({k for t in trials for k in t.user_attrs} - taken - {k for t in trials for k in t.params})
    if unkept:
        summary.notes.append(
            f"user attrs {', '.join(unkept)} are kept by no column: Optuna records no step for them, so they "
            f"are no curve either; map one to a trial column with --COLUMN-col NAME to keep it"
        )
    return summary


__all__ = ["import_optuna"]
