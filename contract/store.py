"""The crash-safe trial store: one Parquet file per finished trial.

Layout of a sweep directory (DESIGN.md):

    RUN_DIR/trials/<trial_id>.parquet   one row per finished trial
    RUN_DIR/curves/<trial_id>.parquet   per-step records of that trial
    RUN_DIR/<dir>/.tmp/                 files being written (never read)

Every file is written under `.tmp/` and moved into place with `os.replace`, which is
atomic on POSIX: a reader sees the whole file or none of it, whatever happens to the
writer, and any number of processes may write into one directory at once. Curves are
moved in before the trial row, so a visible trial row implies complete curves.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tunescale.contract.errors import InputError, SchemaError, StoreError, first_line
from tunescale.contract.schema import (
    CURVE_SCHEMA,
    FLOPS_PER_PARAM_TOKEN,
    TRIAL_SCHEMA,
    rows_to_table,
    validate,
    validate_curves,
)

TRIALS_DIR = "trials"
CURVES_DIR = "curves"
_TMP = ".tmp"
_SAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def _safe_name(trial_id: str) -> str:
    return _SAFE.sub("_", trial_id)[:200]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _atomic_write(table: pa.Table, final: Path, tmp_dir: Path | None = None) -> None:
    """Write `table` to `final` so that no reader ever sees a partial file.

    The temporary is named `<pid>-<random>.parquet` in `tmp_dir` (default: a hidden
    name beside `final`), which lets a later writer tell dead writers' leftovers apart.
    """
    if tmp_dir is None:
        tmp = final.parent / f".{os.getpid()}-{uuid.uuid4().hex}.{final.name}"
    else:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"{os.getpid()}-{uuid.uuid4().hex}.parquet"
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


class TrialStore:
    """Writes finished trials of one sweep directory; safe for many concurrent processes."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.trials_dir = self.run_dir / TRIALS_DIR
        self.curves_dir = self.run_dir / CURVES_DIR
        for d in (self.trials_dir, self.curves_dir):
            (d / _TMP).mkdir(parents=True, exist_ok=True)
        self.remove_stale_temporaries()

    def remove_stale_temporaries(self) -> int:
        """Delete temporaries left by writers that died (their pid is gone); return how many."""
        removed = 0
        for d in (self.trials_dir, self.curves_dir):
            for tmp in (d / _TMP).glob("*.parquet"):
                pid = tmp.name.split("-", 1)[0]
                if pid.isdigit() and not _pid_alive(int(pid)):
                    with contextlib.suppress(FileNotFoundError):
                        tmp.unlink()
                        removed += 1
        return removed

    def write(self, row: Mapping, curves: Iterable[Mapping] | None = None) -> Path:
        """Validate and atomically store one finished trial (and its curves); return the row file.

        `flops` defaults to 6·params·tokens and `created_at` to now (UTC). Writing the
        same `trial_id` again replaces the earlier row, which makes retries idempotent.
        """
        row = dict(row)
        if row.get("flops") is None:
            row["flops"] = default_flops(row)
        row.setdefault("created_at", dt.datetime.now(dt.UTC))
        table = validate(rows_to_table([row], TRIAL_SCHEMA), where=f"trial {row.get('trial_id')!r}")
        try:
            return self._write(row, table, curves)
        except OSError as exc:
            raise StoreError(
                f"trial store {self.run_dir}: cannot write trial {row['trial_id']!r} ({exc.strerror or exc}); "
                f"the rows already stored are intact: make the directory writable and rerun with --resume."
            ) from None

    def _write(self, row: dict, table: pa.Table, curves: Iterable[Mapping] | None) -> Path:
        name = _safe_name(str(row["trial_id"])) + ".parquet"
        if curves is not None:
            curve_rows = [
                {"trial_id": row["trial_id"], "sweep": row["sweep"], **c} for c in curves
            ]
            if curve_rows:
                curve_table = validate_curves(
                    rows_to_table(curve_rows, CURVE_SCHEMA), where=f"curves of {row['trial_id']!r}"
                )
                _atomic_write(curve_table, self.curves_dir / name, self.curves_dir / _TMP)
        final = self.trials_dir / name
        _atomic_write(table, final, self.trials_dir / _TMP)
        return final

    def stored_ids(self) -> set[str]:
        """Ids with a row file, from the directory listing alone (no Parquet read): exact
        for ids that are already safe file names, as planned trial ids are."""
        return {p.stem for p in _parquet_files(self.trials_dir)}

    def row(self, trial_id: str) -> dict:
        """The stored row of one trial, read from its own file (KeyError if none)."""
        path = self.trials_dir / (_safe_name(trial_id) + ".parquet")
        if not path.exists():
            raise KeyError(trial_id)
        return _read_parquet(path).to_pylist()[0]

    def curves(self, trial_id: str) -> list[dict]:
        """The stored curve records of one trial, read from its own file ([] if none)."""
        path = self.curves_dir / (_safe_name(trial_id) + ".parquet")
        return _read_parquet(path).to_pylist() if path.exists() else []

    def completed_ids(self) -> set[str]:
        """Trial ids already stored (any status): what a resumed sweep must not run again."""
        return {str(t) for t in read_table(self.run_dir).column("trial_id").to_pylist()}


def default_flops(row: Mapping) -> float | None:
    """C = 6·N·D, the cost of a row that reports no FLOPs."""
    if row.get("params") and row.get("tokens"):
        return FLOPS_PER_PARAM_TOKEN * float(row["params"]) * float(row["tokens"])
    return None


def _parquet_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.parquet") if not p.name.startswith((".", "_")))


def _read_parquet(path: Path) -> pa.Table:
    """One Parquet file of a sweep directory; InputError naming it when it is empty, cut short or not Parquet."""
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(
            f"{path}: not a readable Parquet file ({first_line(exc)}); move it out of the sweep directory."
        ) from None


# What pyarrow raises when files' column types cannot be combined (its own exception classes).
_TYPE_CLASH = (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError)


def _concat(tables: list[pa.Table], paths: list[Path], schema: pa.Schema) -> pa.Table:
    """One table of many files; InputError naming the first file whose column type disagrees."""
    if not tables:
        return schema.empty_table()
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except _TYPE_CLASH as exc:
        failure = first_line(exc)
        seen: dict[str, tuple[pa.DataType, Path]] = {}
        for table, path in zip(tables, paths, strict=True):
            for f in table.schema:
                if f.name not in seen:
                    seen[f.name] = (f.type, path)
                    continue
                other_type, other = seen[f.name]
                try:
                    pa.unify_schemas([pa.schema([(f.name, other_type)]), pa.schema([f])], promote_options="permissive")
                except _TYPE_CLASH:
                    raise InputError(
                        f"{path}: column {f.name!r} is {f.type}, but {other.name} has it as {other_type}; "
                        f"make the files agree or read them separately."
                    ) from None
        # The types unify but a value does not convert (an int64 beyond a double's exact range).
        raise InputError(f"{paths[0].parent}: its Parquet files do not read as one table ({failure}); "
                         f"make their column types agree.") from None


def _read_dir(directory: Path, schema: pa.Schema) -> pa.Table:
    paths = _parquet_files(directory)
    return _concat([_read_parquet(p) for p in paths], paths, schema)


def _read_file(path: Path) -> pa.Table:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pq.read_table(path)
        if suffix in (".csv", ".tsv"):
            opts = pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
            return pacsv.read_csv(path, parse_options=opts)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{path}: cannot read it as {suffix[1:]} ({first_line(exc)}).") from None
    raise InputError(f"{path}: unsupported file type '{suffix}'; give a .parquet, .csv or a sweep directory.")


def read_table(path: str | os.PathLike, *, validated: bool = False) -> pa.Table:
    """Open a sweep directory, a directory of Parquet files, or one Parquet/CSV file as one table.

    With `validated=True` the table must satisfy the trial schema (SchemaError otherwise);
    without it foreign tables with other column names come back as they are, for
    `scaling/`'s column mapping.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or directory.")
    if p.is_dir():
        directory = p / TRIALS_DIR if (p / TRIALS_DIR).is_dir() else p
        table = _read_dir(directory, TRIAL_SCHEMA)
    else:
        table = _read_file(p)
    if validated:
        table = validate(table, where=str(p))
    return table


def read_trials(path: str | os.PathLike, *, validated: bool = False) -> pd.DataFrame:
    """`read_table` as a pandas DataFrame (one row per trial)."""
    return read_table(path, validated=validated).to_pandas()


def read_curves(run_dir: str | os.PathLike) -> pd.DataFrame:
    """All curve rows of a sweep directory as one long DataFrame."""
    directory = Path(run_dir) / CURVES_DIR
    if not directory.is_dir():
        return CURVE_SCHEMA.empty_table().to_pandas()
    return _read_dir(directory, CURVE_SCHEMA).to_pandas()


EXPORT_FORMATS = ("parquet", "csv")


def export(run_dir: str | os.PathLike, out: str | os.PathLike, fmt: str | None = None) -> int:
    """Write every trial row of a sweep to one Parquet or CSV file (atomically); return the row count.

    The format comes from `fmt` or else the file's suffix. Writing into the store's own
    trials/ folder is refused: the export would be read back as more trials.
    """
    import pyarrow.csv as pacsv

    out = Path(out)
    if out.is_dir():
        raise InputError(f"{out}: is a directory; give a file name.")
    fmt = fmt or out.suffix.lower().lstrip(".")
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"{out}: cannot tell the format; name the file *.parquet or *.csv, or pass --format.")
    store = Path(run_dir).resolve()
    trials_dir = store / TRIALS_DIR if (store / TRIALS_DIR).is_dir() else store
    if store.is_dir() and out.resolve().parent == trials_dir:
        raise InputError(f"{out}: inside the store's own {trials_dir}; the export would be read as trials. "
                         f"Write it elsewhere.")
    table = read_table(run_dir, validated=True)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            _atomic_write(table, out)
        else:
            tmp = out.parent / f".{os.getpid()}-{uuid.uuid4().hex}.{out.name}"
            try:
                pacsv.write_csv(table, tmp)
                os.replace(tmp, out)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
    except OSError as exc:
        raise InputError(f"{out}: cannot write the export ({exc.strerror}); choose a writable path.") from None
    return table.num_rows


__all__ = [
    "TrialStore",
    "read_table",
    "read_trials",
    "read_curves",
    "export",
    "SchemaError",
]
