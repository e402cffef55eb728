"""Import a Ray Tune experiment directory into a tunescale trial store.

    from tunescale.scaling.columns import ColumnMap
    from tunescale.sweep.import_ray import import_ray_tune
    import_ray_tune("~/ray_results/lr_sweep", "runs/lr_sweep", ColumnMap(loss="val_loss", params="n_params"))

The experiment is read through `ray.tune.ExperimentAnalysis`, never by parsing Tune's
files: each trial's configuration and last reported result become a row (the mapping
is `sweep.import_rows`), its reported results per `training_iteration` become curves
(the loss as `eval_loss`, every other number it reported under its own name), and
`time_total_s` its wall time unless it reports one.
Status: TERMINATED → completed (diverged without a finite loss), ERROR → failed with
the last line of Ray's *text* traceback (`Trial.get_error`) as `hp_reason`; trials
not finished (PENDING, RUNNING, PAUSED) are skipped and counted.

Ray records a trial that a scheduler (ASHA, HyperBand, PBT) or a stopper ended early as
TERMINATED, exactly like one that finished, and keeps no record of the decision. So a
TERMINATED trial is `pruned` (with the reason in `hp_reason`) when it reached less than
`FINISHED_FRACTION` of the token budget in its configuration, or fewer training
iterations than `full_iterations` when the caller gives it; otherwise, where completed
trials ran different numbers of iterations, the summary says so and how to say which
were stopped.

Trust: tunescale never unpickles a trial's exception (`Trial.get_pickled_error`), but
Ray itself unpickles the trial state stored in `experiment_state-*.json` when it opens
the directory (Ray 2.60 stores each trial's storage context there as a cloudpickle
blob), so import only experiment directories whose code you would run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tunescale.contract.errors import InputError
from tunescale.contract.store import TrialStore
from tunescale.scaling.columns import ColumnMap
from tunescale.sweep.import_rows import ImportSummary, check_mapping, require_or_skip, trial_row

_STATUS = {"TERMINATED": "completed", "ERROR": "failed"}
_REASON_CHARS = 500  # a reason is one line of a table, not a traceback
_FLAT = "/"  # nested configuration keys, as Ray's own dataframes name them ("optimizer/beta1")
FINISHED_FRACTION = 0.99  # of its configured tokens: below this a trial stopped early (not step rounding)
ITERATION = "training_iteration"


def _error_line(trial) -> str:
    """The exception line of Ray's text traceback, or a generic reason when Ray kept none."""
    text = trial.get_error() or ""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return ("Ray Tune trial errored: " + lines[-1] if lines else "Ray Tune trial errored (no error text)")[
        :_REASON_CHARS
    ]


def _stopped_early(config: dict, last: dict, mapping: ColumnMap, full_iterations: int | None) -> str | None:
    """Why a TERMINATED trial is no finished run, or None."""
    key = mapping.name_of("tokens")
    budget, reached = config.get(key), last.get(key)
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (budget, reached))
    if numbers and reached < FINISHED_FRACTION * budget:
        return f"stopped early: reached {reached:g} of its {budget:g} {key}"
    done = last.get(ITERATION)
    if full_iterations is not None and done is not None and done < full_iterations:
        return f"stopped early: {done} of {full_iterations} training iterations"
    return None


def _metrics(frame, mapping: ColumnMap) -> dict[str, str]:
    """Curve metric name -> result column: every number the trial reported itself. The mapped loss is
    `eval_loss`, as in a tunescale sweep; Ray's own bookkeeping (`AUTO_RESULT_KEYS`), the configuration,
    the step and the token count are not metrics."""
    from ray.tune.result import AUTO_RESULT_KEYS

    loss, skip = mapping.name_of("loss"), {*AUTO_RESULT_KEYS, "step", mapping.name_of("tokens")}
    out = {}
    for key in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[key]) and not pd.api.types.is_bool_dtype(frame[key])
        if numeric and key not in skip and not key.startswith("config" + _FLAT):
            out["eval_loss" if key == loss else key] = key
    return out


def _curves(frame, mapping: ColumnMap) -> list[dict[str, Any]]:
    """Long-format curves from a trial's per-iteration results (empty if it reported none)."""
    if frame is None or frame.empty or ITERATION not in frame.columns:
        return []
    steps = frame["step" if "step" in frame.columns else ITERATION]
    tokens = frame.get(mapping.name_of("tokens"), pd.Series(float("nan"), index=frame.index))
    out = []
    for metric, key in _metrics(frame, mapping).items():
        reported = frame[key].notna()  # a step may not report every metric
        for step, tok, value in zip(steps[reported], tokens[reported], frame.loc[reported, key], strict=True):
            out.append({"step": int(step), "tokens": None if pd.isna(tok) else float(tok), "metric": metric,
                        "value": float(value)})
    return out


def import_ray_tune(
    path: str | Path,
    store_dir: str | Path,
    mapping: ColumnMap | None = None,
    sweep_name: str | None = None,
    full_iterations: int | None = None,
) -> ImportSummary:
    """Write every finished trial of the Ray Tune experiment at `path` into the store at `store_dir`.

    `mapping` names the configuration key or reported metric holding each trial column
    (as `fit-scaling --loss-col val_loss`); unmapped columns are looked up under their own
    names. `sweep_name` defaults to the experiment directory's name; `full_iterations`, the
    training iterations of a finished trial, marks trials stopped before it `pruned`. Returns what was
    written and what was skipped, by reason; raises InputError for a path that is no
    experiment or a mapping no trial matches.
    """
    mapping = mapping or ColumnMap()
    from ray.tune import ExperimentAnalysis
    from ray.tune.utils import flatten_dict

    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise InputError(f"{path}: no such directory; give a Ray Tune experiment directory (storage_path/name).")
    try:
        analysis = ExperimentAnalysis(str(path))
    except ValueError as exc:  # Ray's "No experiment snapshot file ... was found"
        raise InputError(
            f"{path}: not a Ray Tune experiment ({str(exc).splitlines()[0]}); "
            f"point at the directory that holds experiment_state-*.json."
        ) from None
    sweep = sweep_name or path.name
    summary = ImportSummary(store_dir=str(store_dir), sweep=sweep)

    trials = []
    for trial in analysis.trials:
        config = flatten_dict(dict(trial.config), delimiter=_FLAT)
        last = {k: v for k, v in (trial.last_result or {}).items() if k != "config"}
        record = {**config, **flatten_dict(last, delimiter=_FLAT)}
        record.setdefault("wall_time_s", last.get("time_total_s"))
        trials.append((trial, config, record))
    check_mapping(mapping, (k for _, _, record in trials for k in record), str(path))

    store = TrialStore(store_dir)
    for trial, config, record in trials:
        status = _STATUS.get(trial.status)
        if status is None:
            summary.skipped[f"trial {trial.status}"] += 1
            continue
        reason = _error_line(trial) if status == "failed" else None
        if status == "completed":
            reason = _stopped_early(config, trial.last_result or {}, mapping, full_iterations)
            status = "pruned" if reason else status
        row = trial_row(
            record, config, trial_id=trial.trial_id, sweep=sweep, status=status, mapping=mapping, reason=reason
        )
        if not require_or_skip(row, mapping, summary, str(path)):
            continue
        store.write(row, _curves(analysis.trial_dataframes.get(trial.trial_id), mapping))
        summary.written += 1
        summary.statuses[row["status"]] += 1
    tokens = mapping.name_of("tokens")
    iterations = {(t.last_result or {}).get(ITERATION) for t, config, _ in trials
                  if t.status == "TERMINATED" and tokens not in config} - {None}
    if full_iterations is None and len(iterations) > 1:
        summary.notes.append(
            f"finished trials ran {min(iterations)} to {max(iterations)} training iterations; Ray records trials a "
            f"scheduler stopped like finished ones; if one did, import with `tunescale trials import ray "
            f"--full-iterations {max(iterations)}`"
        )
    return summary


__all__ = ["import_ray_tune"]
