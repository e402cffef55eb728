"""The trial-store schema: the contract between trials/, search/ and scaling/.

One trial row per finished trial and one curve row per logged step and metric, as in
DESIGN.md. `validate()` is the single gate every row passes before it is written,
and the reader's check of foreign tables; its messages name the column and the value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import pyarrow as pa

from tunescale.contract.errors import SchemaError

STATUSES = ("completed", "diverged", "failed", "pruned")
PARAMETRIZATIONS = ("sp", "mup", "umup", "ntk", "mfp")

TRIAL_SCHEMA = pa.schema(
    [
        ("trial_id", pa.string()),
        ("sweep", pa.string()),
        ("status", pa.string()),
        ("params", pa.int64()),
        ("tokens", pa.float64()),
        ("flops", pa.float64()),
        ("width", pa.int64()),
        ("depth", pa.int64()),
        ("parametrization", pa.string()),
        ("lr", pa.float64()),
        ("batch_size", pa.int64()),
        ("weight_decay", pa.float64()),
        ("loss", pa.float64()),
        ("train_loss", pa.float64()),
        ("seed", pa.int64()),
        ("wall_time_s", pa.float64()),
        ("created_at", pa.timestamp("us", tz="UTC")),
    ]
)

CURVE_SCHEMA = pa.schema(
    [
        ("trial_id", pa.string()),
        ("sweep", pa.string()),
        ("step", pa.int64()),
        ("tokens", pa.float64()),
        ("metric", pa.string()),
        ("value", pa.float64()),
    ]
)

# Columns a row may not leave empty; the rest of TRIAL_SCHEMA is nullable
# (a failed trial has no loss, an MLP has no depth-free width, ...).
REQUIRED_TRIAL_COLUMNS = ("trial_id", "sweep", "status", "params", "tokens", "lr")
# Scale and step-size columns live on log axes in scaling/, so they must be > 0.
POSITIVE_COLUMNS = ("params", "tokens", "flops", "lr", "batch_size")
# weight_decay = 0 means "no decay", a legitimate setting; only negatives are rejected.
NON_NEGATIVE_COLUMNS = ("weight_decay",)
HP_PREFIX = "hp_"
# A trial that tunes a hyperparameter online during the run (a Self-Tuning Network) stores its final
# value as hp_<name> and where it started as hp_<name>_init: the mark that hp_<name> is the run's own
# estimate of the optimum at its scale, not a setting it was given (scaling.learned_laws reads it).
TUNED_START_SUFFIX = "_init"
# Training compute C ≈ 6·N·D: 2 FLOPs per parameter per token forward, 4 backward
# (Kaplan et al. 2020, sec. 2.1); a model that counts its own FLOPs reports them instead.
FLOPS_PER_PARAM_TOKEN = 6.0
# Config keys a row already encodes elsewhere (the model kind by its params, steps by tokens).

_KIND_CHECKS = {
    "string": (pa.types.is_string, pa.types.is_large_string),
    "int": (pa.types.is_integer,),
    "float": (pa.types.is_floating, pa.types.is_integer),
    "timestamp": (pa.types.is_timestamp,),
}


def _kind(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    return "timestamp"


def _check_types(schema: pa.Schema, expected: pa.Schema, where: str) -> None:
    for field in expected:
        if field.name not in schema.names:
            continue
        got = schema.field(field.name).type
        if pa.types.is_null(got):
            continue
        if not any(check(got) for check in _KIND_CHECKS[_kind(field.type)]):
            raise SchemaError(
                f"{where}: column '{field.name}' has type {got}, expected {field.type}; "
                f"convert the column before writing it."
            )


def validate(table: pa.Table, where: str = "trial table") -> pa.Table:
    """Check a trial table against the schema and return it cast to the schema types.

    Raises SchemaError naming the first offending column, value and row.
    """
    for name in REQUIRED_TRIAL_COLUMNS:
        if name not in table.column_names:
            raise SchemaError(f"{where}: missing required column '{name}'; add it (see DESIGN.md).")
    _check_types(table.schema, TRIAL_SCHEMA, where)
    for name in REQUIRED_TRIAL_COLUMNS:
        nulls = table.column(name).null_count
        if nulls:
            raise SchemaError(f"{where}: column '{name}' has {nulls} empty value(s); it is required.")
    statuses = table.column("status").to_pylist()
    for i, status in enumerate(statuses):
        if status not in STATUSES:
            raise SchemaError(
                f"{where}: row {i}: status {status!r} is not one of {', '.join(STATUSES)}."
            )
    for name in POSITIVE_COLUMNS + NON_NEGATIVE_COLUMNS:
        if name not in table.column_names:
            continue
        strict = name in POSITIVE_COLUMNS
        for i, v in enumerate(table.column(name).to_pylist()):
            if v is None:
                continue
            bad = not math.isfinite(v) or (v <= 0 if strict else v < 0)
            if bad:
                need = "> 0" if strict else ">= 0"
                raise SchemaError(f"{where}: row {i}: column '{name}' = {v!r}, expected a finite value {need}.")
    if "loss" in table.column_names:
        for i, (status, v) in enumerate(zip(statuses, table.column("loss").to_pylist(), strict=True)):
            if status == "completed" and (v is None or not math.isfinite(v)):
                raise SchemaError(
                    f"{where}: row {i}: a completed trial needs a finite 'loss', got {v!r}; "
                    f"mark it 'diverged' or 'failed'."
                )
    if "parametrization" in table.column_names:
        for i, v in enumerate(table.column("parametrization").to_pylist()):
            if v is not None and v not in PARAMETRIZATIONS:
                raise SchemaError(
                    f"{where}: row {i}: parametrization {v!r} is not one of {', '.join(PARAMETRIZATIONS)}."
                )
    return conform(table, TRIAL_SCHEMA)


def validate_curves(table: pa.Table, where: str = "curve table") -> pa.Table:
    for name in CURVE_SCHEMA.names:
        if name not in table.column_names:
            raise SchemaError(f"{where}: missing required column '{name}'.")
    _check_types(table.schema, CURVE_SCHEMA, where)
    return conform(table, CURVE_SCHEMA)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast the schema's columns to their declared types, keep extra columns (hp_*) after them."""
    arrays, fields = [], []
    for field in schema:
        if field.name in table.column_names:
            arrays.append(table.column(field.name).cast(field.type))
        else:
            arrays.append(pa.nulls(table.num_rows, field.type))
        fields.append(field)
    for name in table.column_names:
        if name not in schema.names:
            arrays.append(table.column(name))
            fields.append(table.schema.field(name))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def hp_columns(config: Mapping, *, internal: Iterable[str] = ()) -> dict:
    """The config's settings that have no column of their own, as ``hp_`` columns, so a
    stored row keeps everything the trial was run with; keys already named ``hp_*`` pass
    through, and `internal` names a trainer's working values that are no settings."""
    skip = set(TRIAL_SCHEMA.names) | set(internal)
    return {k if k.startswith(HP_PREFIX) else HP_PREFIX + k: v for k, v in config.items() if k not in skip}


def rows_to_table(rows: Iterable[Mapping], schema: pa.Schema) -> pa.Table:
    """Build a table from dict rows, typing known columns by the schema and inferring the rest."""
    rows = list(rows)
    names: list[str] = list(schema.names)
    for row in rows:
        names.extend(k for k in row if k not in names)
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        target = schema.field(name).type if name in schema.names else None
        try:
            columns[name] = pa.array(values, type=target, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            want = f"type {target}" if target is not None else "one type in every row"
            raise SchemaError(
                f"column '{name}' has values {values[:3]!r}...; expected {want} ({exc})."
            ) from None
    return pa.table(columns)
