"""Trial rows from another tool's trials: the one column mapping every importer shares.

A foreign trial arrives as a *record*: its configuration and the values it reported
(a Ray Tune result, an Optuna trial's params, user attrs and value), by name. Each
trial column (`TRIAL_SCHEMA`) takes the record's value under the name a `ColumnMap`
gives it (`fit-scaling --params-col` and friends), or under its own name; every other
configuration key is kept as an ``hp_`` column. A reported value that is no column is
no setting: Ray's importer keeps the trial's own numbers as curves, Optuna's names its
user attrs in the summary's notes (Optuna gives them no step).

A trial the store cannot hold (a failed trial that never reported its `params`) is
counted under its reason in `ImportSummary.skipped`, never dropped silently; a
completed trial without a usable loss is `diverged`, as in a tunescale sweep.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tunescale.contract.errors import InputError
from tunescale.contract.schema import REQUIRED_TRIAL_COLUMNS, TRIAL_SCHEMA, hp_columns
from tunescale.scaling.columns import ColumnMap, suggest

# Row columns an importer fills from the record; the rest (ids, status, time written) it sets itself.
RECORD_COLUMNS = tuple(c for c in TRIAL_SCHEMA.names if c not in ("trial_id", "sweep", "status", "created_at"))
_INT_COLUMNS = tuple(f.name for f in TRIAL_SCHEMA if f.type.equals("int64"))
REASON_COLUMN = "hp_reason"


@dataclass
class ImportSummary:
    """What an import wrote and what it left out, by reason."""

    store_dir: str
    sweep: str
    written: int = 0
    statuses: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {"store_dir": self.store_dir, "sweep": self.sweep, "written": self.written,
                "statuses": dict(self.statuses), "skipped": dict(self.skipped), "notes": list(self.notes)}


def check_mapping(mapping: ColumnMap, names: Iterable[str], source: str) -> None:
    """Every mapped name must be a configuration key or reported value of some trial (of none when there
    are no trials: the import then writes nothing and says so)."""
    names = sorted(set(names))
    if not names:
        return
    for canon, name in mapping.explicit().items():
        if name not in names:
            raise InputError(
                f"{source}: {canon} is mapped to '{name}', which no trial reports or is configured with; "
                f"{suggest(name, names)}"
            )


def _typed(column: str, value: Any) -> Any:
    """Integral floats into int columns (Ray and JSON report 1000.0 for a count)."""
    if column in _INT_COLUMNS and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def trial_row(
    record: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    trial_id: str,
    sweep: str,
    status: str,
    mapping: ColumnMap,
    reason: str | None = None,
) -> dict[str, Any]:
    """A store row from one foreign trial. `record` holds the configuration and the reported
    values merged (reported ones win); `config` alone decides which keys become ``hp_`` columns."""
    names = mapping.explicit()
    row: dict[str, Any] = {"trial_id": trial_id, "sweep": sweep, "status": status}
    used = set()
    for column in RECORD_COLUMNS:
        key = mapping.name_of(column)
        if record.get(key) is not None:
            row[column] = _typed(column, record[key])
            used.add(key)
    if "status" in names and record.get(names["status"]) is not None:
        row["status"] = str(record[names["status"]])
        used.add(names["status"])
    loss = row.get("loss")
    if row["status"] == "completed" and (loss is None or not math.isfinite(float(loss))):
        row["status"] = "diverged"
    row |= hp_columns({k: v for k, v in config.items() if k not in used})
    if reason is not None:
        row[REASON_COLUMN] = reason
    return row


def missing_required(row: Mapping[str, Any]) -> list[str]:
    return [c for c in REQUIRED_TRIAL_COLUMNS if row.get(c) is None]


def require_or_skip(row: Mapping[str, Any], mapping: ColumnMap, summary: ImportSummary, source: str) -> bool:
    """True if the row can be written. A completed trial without a required column is a
    mapping error (InputError naming the option); any other is skipped and counted."""
    missing = missing_required(row)
    if not missing:
        return True
    if row["status"] in ("completed", "diverged"):
        column = missing[0]
        raise InputError(
            f"{source}: trial {row['trial_id']!r} finished without a '{column}' value; map the key that holds it "
            f"with --{column.replace('_', '-')}-col NAME (ColumnMap({column}=NAME))."
        )
    summary.skipped[f"{row['status']} trial without {', '.join(missing)}"] += 1
    return False
