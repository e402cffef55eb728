"""validate() rejects each kind of bad row with a one-line message naming the column."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tests.conftest import valid_row
from tunescale.contract.errors import SchemaError
from tunescale.contract.schema import TRIAL_SCHEMA, rows_to_table, validate


def _table(**overrides) -> pa.Table:
    return rows_to_table([valid_row(0, **overrides)], TRIAL_SCHEMA)


def _rejects(table: pa.Table, *needles: str) -> str:
    with pytest.raises(SchemaError) as info:
        validate(table)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message
    return message


def test_valid_row_passes_and_is_cast_to_schema():
    table = validate(_table(hp_dropout=0.1))
    assert table.schema.field("params").type == pa.int64()
    assert table.column_names[-1] == "hp_dropout"


@pytest.mark.parametrize("column", ["trial_id", "sweep", "status", "params", "tokens", "lr"])
def test_missing_required_column(column):
    _rejects(_table().drop_columns([column]), f"'{column}'", "missing")


@pytest.mark.parametrize("column", ["params", "tokens", "lr", "batch_size"])
@pytest.mark.parametrize("value", [0, -5])
def test_non_positive_scale_or_hp(column, value):
    _rejects(
        _table(**{column: value}), f"'{column}'", repr(value if column in ("params", "batch_size") else float(value))
    )


def test_negative_weight_decay_rejected_zero_allowed():
    validate(_table(weight_decay=0.0))
    _rejects(_table(weight_decay=-0.1), "'weight_decay'")


def test_unknown_status():
    _rejects(_table(status="finished"), "'finished'", "completed")


def test_completed_needs_finite_loss():
    _rejects(_table(loss=float("nan")), "'loss'", "diverged")
    validate(_table(status="diverged", loss=float("nan")))


def test_wrong_dtype():
    table = _table()
    table = table.set_column(table.column_names.index("lr"), "lr", pa.array(["fast"]))
    assert table.schema.field("lr").type == pa.string()
    _rejects(table, "'lr'", "string", "double")


def test_wrong_dtype_in_a_row_dict():
    with pytest.raises(SchemaError, match="'params'"):
        rows_to_table([valid_row(0, params="big")], TRIAL_SCHEMA)


def test_unknown_parametrization():
    _rejects(_table(parametrization="xavier"), "'xavier'", "mup")
