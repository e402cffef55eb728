"""Observations and the Pareto set of a searcher as trial rows (trials/schema.py).

Configuration keys that are trial-schema columns (lr, batch_size, params, tokens, ...)
keep their name; every other key becomes ``hp_<key>``. The output becomes ``loss`` and
the cost goes to ``flops`` or ``wall_time_s`` (``cost_column``). Columns the search
space does not hold (often ``params`` and ``tokens``) can be given in ``constants``.
Tables pass `trials.schema.validate`, so a missing required column is named, not dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from tunescale.contract.errors import InputError
from tunescale.contract.schema import HP_PREFIX, TRIAL_SCHEMA, rows_to_table, validate
from tunescale.search.base import AskTellSearcher, Observation

COST_COLUMNS = ("flops", "wall_time_s")


def _row(obs: Observation, index: int, sweep: str, cost_column: str, constants: Mapping[str, Any]) -> dict:
    row: dict[str, Any] = {"trial_id": obs.suggestion_id or f"observation-{index}", "sweep": sweep}
    row.update(constants)
    for key, value in obs.config.items():
        row[key if key in TRIAL_SCHEMA.names else f"{HP_PREFIX}{key}"] = value
    row["status"] = obs.status
    row["loss"] = obs.output if obs.success else None
    row[cost_column] = obs.cost
    row["seed"] = obs.seed
    return row


def observation_rows(
    searcher: AskTellSearcher, *, sweep: str, cost_column: str = "flops", constants: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One trial row per observation, in observation order."""
    if cost_column not in COST_COLUMNS:
        raise InputError(f"cost_column = {cost_column!r}, expected one of {', '.join(COST_COLUMNS)}.")
    return [_row(o, i, sweep, cost_column, constants or {}) for i, o in enumerate(searcher.observations)]


def pareto_rows(
    searcher: AskTellSearcher, *, sweep: str, cost_column: str = "flops", constants: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One row per observation that belongs to a Pareto group (repeats included)."""
    if not hasattr(searcher, "pareto_set"):
        raise InputError(f"{type(searcher).__name__} keeps no Pareto set; export its observation_rows instead.")
    members = {id(o) for g in searcher.pareto_set() for o in g.observations}
    rows = observation_rows(searcher, sweep=sweep, cost_column=cost_column, constants=constants)
    return [r for r, o in zip(rows, searcher.observations, strict=True) if id(o) in members]


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Validated trial table (raises SchemaError naming the first bad column)."""
    return validate(rows_to_table(rows, TRIAL_SCHEMA), where="exported search rows")
