"""Input for fit-scaling: read a trial table, map foreign column names, count every dropped row.

Notations
---------
params (N), tokens (D), flops (C ≈ 6·N·D)   scale columns, > 0 (log axes)
lr, batch_size, weight_decay                hyperparameter columns (lr, batch_size > 0; weight_decay ≥ 0)
loss                                        the objective, finite for a usable row
status                                      completed / diverged / failed / pruned; absent = all completed
hp_<name> with hp_<name>_init               tuned online by the runs where hp_<name>_init is set
                                            (`tuned_online`): a result of each run, not a setting

A row is either used, or dropped with a counted reason (`Table.dropped`), or the load
stops with a one-line InputError naming the column, row and fix. Rows the user asked to
drop (`--where`, `--exclude-top-loss`, `--drop-bad-rows`) are counted like the others.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tunescale.contract.errors import InputError
from tunescale.contract.schema import FLOPS_PER_PARAM_TOKEN, HP_PREFIX, TUNED_START_SUFFIX

SCALE_COLUMNS = ("params", "tokens", "flops")
HP_COLUMNS = ("lr", "batch_size", "weight_decay")
CANONICAL = (*SCALE_COLUMNS, *HP_COLUMNS, "loss", "status")


@dataclass(frozen=True)
class ColumnMap:
    """Which input column holds each canonical quantity (None: use the canonical name if present)."""

    params: str | None = None
    tokens: str | None = None
    flops: str | None = None
    loss: str | None = None
    lr: str | None = None
    batch_size: str | None = None
    weight_decay: str | None = None
    status: str | None = None

    def explicit(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def name_of(self, column: str) -> str:
        """The input name holding canonical `column`: its mapping, else the column's own name."""
        return getattr(self, column, None) or column


@dataclass(frozen=True)
class Table:
    """The usable rows under canonical column names, and what happened to the rest."""

    frame: pd.DataFrame
    source: str
    n_input: int
    dropped: dict[str, int]
    notes: tuple[str, ...]
    fixed_columns: tuple[str, ...] = field(default=())

    def summary(self) -> dict:
        return {"source": self.source, "rows_in_file": self.n_input, "rows_used": len(self.frame),
                "dropped": dict(self.dropped), "notes": list(self.notes)}


def suggest(name: str, columns) -> str:
    """' (did you mean 'X'?)' for the closest column name, or the list of columns."""
    cols = [str(c) for c in columns]
    close = difflib.get_close_matches(name, cols, n=1, cutoff=0.5)
    if not close:
        close = difflib.get_close_matches(name.lower(), [c.lower() for c in cols], n=1, cutoff=0.5)
        close = [cols[[c.lower() for c in cols].index(close[0])]] if close else []
    if close:
        return f"did you mean '{close[0]}'?"
    return f"columns are: {', '.join(cols[:20])}{' ...' if len(cols) > 20 else ''}"


def _option(name: str) -> str:
    return f"--{name.replace('_', '-')}-col"


def numeric(series: pd.Series, name: str, source: str, fix: str | None = None) -> pd.Series:
    """The column as float; a one-line error naming the first value that is not a number and
    `fix` (default: map another column with the --*-col option)."""
    if pd.api.types.is_bool_dtype(series):
        raise InputError(f"{source}: column '{name}' holds true/false values; expected numbers.")
    if pd.api.types.is_numeric_dtype(series):
        return series.astype(float)
    values = pd.to_numeric(series, errors="coerce")
    bad = values.isna() & series.notna() & (series.astype(str).str.strip().str.lower() != "nan")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{source}: column '{name}' row {i}: {series.iloc[i]!r} is not a number; fix the value or "
            f"{fix or f'map another column with {_option(name)}'}."
        )
    return values.astype(float)


_OPERATORS = ("<=", ">=", "!=", "==", "<", ">", "=")
# columns that name a run in other tools' tables; a trial store's trial_id is one row per trial
# already, and a repeated trial_id stays a duplicate (an error)
RUN_ID_COLUMNS = ("run_id", "run", "run_name", "exp_name", "name", "id")


def _parse_clause(clause: str, columns, source: str, option: str) -> tuple[str, str, str]:
    """'params<5e8' -> ('params', '<', '5e8'); the first operator found, longest first."""
    hits = [(clause.find(op), -len(op), op) for op in _OPERATORS if op in clause]
    if not hits:
        raise InputError(f"{option} {clause!r}: expected COLUMN OP VALUE with OP one of = != < <= > >=, "
                         f"e.g. {option} params<5e8.")
    _, _, op = min(hits)
    col, value = (t.strip() for t in clause.split(op, 1))
    if col not in columns:
        raise InputError(f"{option} {clause!r}: {source} has no column '{col}'; {suggest(col, columns)}")
    return col, "=" if op == "==" else op, value


def select(frame: pd.DataFrame, clauses: list[str], source: str, option: str = "--where") -> np.ndarray:
    """Rows matching every clause (COLUMN OP VALUE; = and != compare numbers as numbers, text as text;
    <, <=, >, >= need a numeric column and value)."""
    keep = np.ones(len(frame), bool)
    for clause in clauses:
        col, op, value = _parse_clause(clause, frame.columns, source, option)
        series = frame[col]
        if op in ("=", "!="):
            eq = np.asarray(_matches(series, value), bool)
            keep &= eq if op == "=" else ~eq
            continue
        try:
            v = float(value)
        except ValueError:
            raise InputError(f"{option} {clause!r}: '{value}' is not a number; {op} compares numbers.") from None
        x = pd.to_numeric(series, errors="coerce").to_numpy(float)
        if np.isnan(x).all():
            raise InputError(f"{option} {clause!r}: column '{col}' holds no numbers; {op} compares numbers.")
        with np.errstate(invalid="ignore"):
            keep &= {"<": x < v, "<=": x <= v, ">": x > v, ">=": x >= v}[op]
    return keep


def tuned_online(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each hp_ column some run tuned online, with the mask of those runs: the rows whose
    hp_<name>_init (where the tuning started) is set."""
    out = {}
    for col in frame.columns:
        start = f"{col}{TUNED_START_SUFFIX}"
        if col.startswith(HP_PREFIX) and start in frame.columns:
            mask = frame[start].notna().to_numpy()
            if mask.any():
                out[col] = mask
    return out


def run_column(frame: pd.DataFrame, explicit: str | None, source: str) -> str | None:
    """The column naming each run: `--run-col`, else the first of RUN_ID_COLUMNS whose values repeat."""
    if explicit is not None:
        if explicit not in frame.columns:
            raise InputError(f"{source}: --run-col '{explicit}' is not a column; {suggest(explicit, frame.columns)}")
        return explicit
    for c in RUN_ID_COLUMNS:
        if c in frame.columns and frame[c].duplicated().any():
            return c
    return None


def final_rows(frame: pd.DataFrame, run_col: str) -> np.ndarray:
    """Mask of each run's final evaluation: its row with the most tokens (ties: the last such row).
    Earlier rows are checkpoints, often before the schedule's cooldown, not finished shorter runs."""
    order = frame.assign(_row=np.arange(len(frame)))
    keys = [run_col, "tokens", "_row"] if "tokens" in frame.columns else [run_col, "_row"]
    by = order.sort_values(keys)
    last = by.drop_duplicates(subset=[run_col], keep="last")["_row"].to_numpy()
    mask = np.zeros(len(frame), bool)
    mask[last] = True
    return mask


def _matches(series: pd.Series, value: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series):
        try:
            return np.isclose(series.astype(float), float(value), rtol=1e-12, atol=0)
        except ValueError:
            return pd.Series(False, index=series.index)
    return series.astype(str) == value


def load(
    path,
    columns: ColumnMap = ColumnMap(),
    *,
    where: list[str] | None = None,
    exclude_top_loss: int = 0,
    drop_bad_rows: bool = False,
    seq_len: float | None = None,
    ignore: list[str] | None = None,
    run_col: str | None = None,
) -> Table:
    """Read `path` (Parquet, CSV or a sweep directory) into a `Table` of usable runs.

    1) drop `--ignore-col` columns, apply `--where` filters; 2) rename mapped columns to
    canonical names; 3) check types and log-axis values; 4) derive tokens or flops from the
    other two scale columns; 5) one row per run (its final evaluation) when a run column
    repeats; 6) keep `completed` rows with a finite loss; 7) duplicates and bad values are
    errors unless `drop_bad_rows`, which drops and counts them.
    """
    from tunescale.contract.store import read_table

    source = str(path)
    raw = read_table(path).to_pandas()
    n_input = len(raw)
    if n_input == 0:
        raise InputError(f"{source}: no rows; run a sweep first or point at a file with trial rows.")
    dropped: Counter[str] = Counter()
    notes: list[str] = []

    # 1) ignored columns, filters
    for col in ignore or []:
        if col not in raw.columns:
            raise InputError(f"--ignore-col {col}: {source} has no such column; {suggest(col, raw.columns)}")
        if col in columns.explicit().values():
            raise InputError(
                f"--ignore-col {col}: the column is also mapped with a --*-col option; drop one of the two."
            )
    if ignore:
        raw = raw.drop(columns=list(ignore))
        notes.append(f"ignored column(s): {', '.join(ignore)}")
    for clause in where or []:
        keep = select(raw, [clause], source)
        dropped[f"--where {clause}"] += int((~keep).sum())
        raw = raw[keep]
    if len(raw) == 0:
        raise InputError(f"{source}: no row matches --where {' '.join(where or [])}; check the value spelling.")

    # 2) mapping
    mapping = columns.explicit()
    for canon, col in mapping.items():
        if col not in raw.columns:
            raise InputError(f"{source}: {_option(canon)} '{col}' is not a column; {suggest(col, raw.columns)}")
    shadowed = [c for c, col in mapping.items() if c in raw.columns and col != c]
    if shadowed:
        notes.append(f"column(s) {', '.join(shadowed)} replaced by the mapped ones")
    renamed = raw.drop(columns=shadowed).rename(columns={v: k for k, v in mapping.items()})
    if renamed.columns.duplicated().any():
        dup = renamed.columns[renamed.columns.duplicated()][0]
        raise InputError(f"{source}: two columns end up named '{dup}'; map only one of them.")
    frame = renamed.reset_index(drop=True)

    if "loss" not in frame.columns:
        raise InputError(f"{source}: no 'loss' column; {suggest('loss', frame.columns)} (map it with --loss-col NAME)")

    # 3) types and log axes
    for name in (*SCALE_COLUMNS, *HP_COLUMNS, "loss"):
        if name in frame.columns:
            frame[name] = numeric(frame[name], mapping.get(name, name), source)

    tuned = tuned_online(frame)
    for name in tuned:
        frame[name] = numeric(frame[name], name, source, fix=f"leave it out with --ignore-col {name}")

    for name in HP_COLUMNS:  # a store's schema has every column, filled or not
        if name in frame.columns and frame[name].isna().all():
            frame = frame.drop(columns=name)
            notes.append(f"{name} is empty on every row: not used")

    if "status" in frame.columns:
        status = frame["status"].astype(str)
    else:
        status = pd.Series("completed", index=frame.index)
        notes.append("no 'status' column: every row is taken as completed")

    # 4) scale columns
    have = [c for c in SCALE_COLUMNS if c in frame.columns]
    if "params" in have and "tokens" not in have and "flops" in have:
        frame["tokens"] = frame["flops"] / (FLOPS_PER_PARAM_TOKEN * frame["params"])
        notes.append("tokens derived as flops / (6 · params)")
    elif "params" in have and "tokens" in have and "flops" not in have:
        frame["flops"] = FLOPS_PER_PARAM_TOKEN * frame["params"] * frame["tokens"]
        notes.append("flops derived as 6 · params · tokens")
    elif "flops" not in have and not ({"params", "tokens"} & set(have)):
        raise InputError(
            f"{source}: no scale column (params, tokens or flops); {suggest('params', frame.columns)} "
            f"(map with --params-col / --tokens-col / --flops-col)"
        )
    if seq_len is not None and "batch_size" in frame.columns:
        frame["batch_size"] = frame["batch_size"] * seq_len
        notes.append(f"batch_size multiplied by --seq-len {seq_len:g}: batch sizes are in tokens")

    # 5) one row per run
    rc = run_column(frame, run_col, source)
    if rc is not None:
        final = final_rows(frame, rc)
        if (~final).any():
            dropped["earlier evaluation of a run"] += int((~final).sum())
            notes.append(
                f"one row per run ('{rc}'): its final evaluation (the row with the most tokens); "
                f"earlier checkpoints are not finished runs and are not used"
            )
        frame = frame[final].reset_index(drop=True)
        status = status[final].reset_index(drop=True)

    # 6) status and loss
    completed = status == "completed"
    for s, n in status[~completed].value_counts().items():
        dropped[f"status {s}"] += int(n)
    frame = frame[completed.to_numpy()].reset_index(drop=True)
    if len(frame) == 0:
        raise InputError(
            f"{source}: no completed trials (all {n_input} rows dropped: {_fmt(dropped)}); nothing to fit."
        )

    bad_reasons = _bad_rows(frame, mapping)
    if bad_reasons:
        first_mask, first_msg = next(iter(bad_reasons.values()))
        if not drop_bad_rows:
            raise InputError(
                f"{source}: {first_msg}; fix the data or pass --drop-bad-rows to drop and count such rows."
            )
        drop = np.zeros(len(frame), bool)
        for reason, (mask, _) in bad_reasons.items():
            dropped[reason] += int((mask & ~drop).sum())
            drop |= mask
        frame = frame[~drop].reset_index(drop=True)

    dup = _duplicates(frame)
    if dup.any():
        if not drop_bad_rows:
            raise InputError(
                f"{source}: {int(dup.sum())} duplicated trial row(s) (same trial_id or identical values); "
                f"remove the duplicates or pass --drop-bad-rows to keep the first of each."
            )
        dropped["duplicated trial"] += int(dup.sum())
        frame = frame[~dup].reset_index(drop=True)

    if exclude_top_loss:
        if exclude_top_loss >= len(frame):
            raise InputError(
                f"--exclude-top-loss {exclude_top_loss}: only {len(frame)} usable rows; give a smaller number."
            )
        top = frame["loss"].nlargest(exclude_top_loss).index
        frame = frame.drop(index=top).reset_index(drop=True)
        dropped[f"--exclude-top-loss {exclude_top_loss}"] += exclude_top_loss
    if len(frame) == 0:
        raise InputError(f"{source}: no usable rows left ({_fmt(dropped)}).")
    if "parametrization" in frame.columns and frame["parametrization"].nunique() > 1:
        kinds = ", ".join(sorted(map(str, frame["parametrization"].dropna().unique())))
        raise InputError(
            f"{source}: rows mix parametrizations ({kinds}); their optima follow different laws, "
            f"fit one at a time with --where parametrization=NAME."
        )
    # other hyperparameters (hp_*) that vary: held fixed when grouping runs by scale; a value a run
    # tuned online is its result, as its loss is
    fixed = tuple(
        c for c in frame.columns if c.startswith(HP_PREFIX) and c not in tuned and frame[c].nunique(dropna=False) > 1
    )
    return Table(
        frame=frame, source=source, n_input=n_input, dropped=dict(dropped), notes=tuple(notes), fixed_columns=fixed
    )


def _bad_rows(frame: pd.DataFrame, mapping: dict[str, str]) -> dict[str, tuple[np.ndarray, str]]:
    """Masks of unusable completed rows by reason, each with a message naming the first one."""
    out: dict[str, tuple[np.ndarray, str]] = {}
    loss = frame["loss"].to_numpy()
    bad = ~np.isfinite(loss)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        out["non-finite loss"] = (
            bad,
            f"{int(bad.sum())} completed row(s) have a NaN/inf loss (first: row {i}, "
            f"{mapping.get('loss', 'loss')} = {float(loss[i])!r}); mark them diverged",
        )
    # The near-optimal band (within PCT% of the best) and the loss law L = E + A/N^a + B/D^b need L > 0.
    bad = np.isfinite(loss) & (loss <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        out["loss <= 0"] = (
            bad,
            f"{int(bad.sum())} completed row(s) have a loss <= 0 (first: row {i}, "
            f"{mapping.get('loss', 'loss')} = {float(loss[i])!r}); the fits need positive losses",
        )
    for name in (*SCALE_COLUMNS, "lr", "batch_size"):
        if name not in frame.columns:
            continue
        v = frame[name].to_numpy()
        bad = ~(np.isfinite(v) & (v > 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            out[f"{name} not > 0"] = (
                bad,
                f"column '{mapping.get(name, name)}' row {i} = {float(v[i])!r}: {int(bad.sum())} "
                f"value(s) not > 0 cannot go on a log axis",
            )
    if "weight_decay" in frame.columns:
        v = frame["weight_decay"].to_numpy()
        # a null weight decay is allowed by the trial schema (a trainer that has none); only a set value < 0 is bad
        bad = ~(np.isnan(v) | (np.isfinite(v) & (v >= 0)))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            out["weight_decay < 0"] = (
                bad,
                f"column '{mapping.get('weight_decay', 'weight_decay')}' row {i} = {float(v[i])!r}: "
                f"weight decay must be >= 0",
            )
    return out


def _duplicates(frame: pd.DataFrame) -> np.ndarray:
    if "trial_id" in frame.columns:
        if frame["trial_id"].is_unique:  # the usual case, and half the cost of marking duplicates
            return np.zeros(len(frame), bool)
        return frame.duplicated(subset=["trial_id"]).to_numpy()
    return frame.duplicated().to_numpy()


def _fmt(counts) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in counts.items()) or "none"


def format_dropped(table: Table) -> str:
    """'245 rows, 240 used; dropped: 5 --exclude-top-loss 5' — the line every report starts with."""
    used = len(table.frame)
    text = f"{table.n_input} rows in {table.source}, {used} used"
    if table.dropped:
        text += f"; dropped: {_fmt(table.dropped)}"
    return text


def read_rows(
    path, columns: ColumnMap = ColumnMap(), *, seq_len: float | None = None, option: str = "--predict-table"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows to predict at: (the file as read, the same rows under canonical names). The column mapping and
    --seq-len apply as in `load`; no loss is needed and no row is dropped."""
    from tunescale.contract.store import read_table

    raw = read_table(path).to_pandas()
    if len(raw) == 0:
        raise InputError(f"{option} {path}: no rows to predict at.")
    mapping = columns.explicit()
    for canon, col in mapping.items():
        if col not in raw.columns and canon != "loss":
            raise InputError(f"{option} {path}: {_option(canon)} '{col}' is not a column; {suggest(col, raw.columns)}")
    frame = raw.drop(columns=[c for c in mapping if c in raw.columns and mapping[c] != c])
    frame = frame.rename(columns={v: k for k, v in mapping.items()}).reset_index(drop=True)
    for name in (*SCALE_COLUMNS, *HP_COLUMNS):
        if name in frame.columns:
            frame[name] = numeric(frame[name], mapping.get(name, name), f"{option} {path}")
    if "tokens" not in frame.columns and {"params", "flops"} <= set(frame.columns):
        frame["tokens"] = frame["flops"] / (FLOPS_PER_PARAM_TOKEN * frame["params"])
    if "params" not in frame.columns and {"tokens", "flops"} <= set(frame.columns):
        frame["params"] = frame["flops"] / (FLOPS_PER_PARAM_TOKEN * frame["tokens"])
    if seq_len is not None and "batch_size" in frame.columns:
        frame["batch_size"] = frame["batch_size"] * seq_len
    return raw.reset_index(drop=True), frame
