"""Runs read where another tool keeps them: which importer a PATH needs, and a store to read it from.

`fit-scaling PATH` takes a Ray Tune experiment directory
(it holds ``experiment_state-*.json``) or an Optuna storage (a URL such as
``sqlite:///db.sqlite3``, or the path of a SQLite file) as they take a trial store: the
runs are imported into a temporary store with the column mapping given, and read from
there under the trial columns' own names. Anything else is a table or a store already.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tunescale.contract.errors import InputError
from tunescale.scaling.columns import ColumnMap
from tunescale.sweep.import_rows import ImportSummary

RAY_STATE_GLOB = "experiment_state-*.json"
_URL = re.compile(r"^[a-z][a-z0-9]*(\+[a-z0-9_]+)?://", re.IGNORECASE)
_SQLITE_MAGIC = b"SQLite format 3\x00"


def ray_experiment(path: str) -> bool:
    p = Path(path).expanduser()
    return p.is_dir() and any(p.glob(RAY_STATE_GLOB))


def optuna_url(path: str) -> str | None:
    """The storage URL `path` names: itself if it is a database URL, sqlite:/// for a SQLite file, else None."""
    if _URL.match(path):
        return path
    p = Path(path).expanduser()
    if p.is_file():
        with p.open("rb") as f:
            if f.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC:
                return f"sqlite:///{p.resolve()}"
    return None


@dataclass(frozen=True)
class Source:
    """Where to read the runs of PATH, with which mapping, and what importing them wrote (None: not imported)."""

    path: str
    mapping: ColumnMap
    imported: ImportSummary | None = None
    kind: str = ""

    def note(self) -> str:
        """One line for the report: what was imported from where, and what was left out."""
        if self.imported is None:
            return ""
        s = self.imported
        skipped = ", ".join(f"{n} {why}" for why, n in s.skipped.items())
        return (f"read {s.written} trials of the {self.kind} through tunescale's importer"
                + (f" (skipped: {skipped})" if skipped else ""))


@contextmanager
def runs_at(path: str, mapping: ColumnMap, study: str | None = None) -> Iterator[Source]:
    """The runs at `path`: a Ray Tune experiment or an Optuna study imported into a temporary store
    (removed on exit), or `path` itself with `mapping` for a table or a trial store."""
    is_ray = ray_experiment(path)
    url = None if is_ray else optuna_url(str(path))
    if not is_ray and url is None:
        if study is not None:
            raise InputError(f"--study {study}: {path} is no Optuna storage; --study names a study in one.")
        yield Source(str(path), mapping)
        return
    with tempfile.TemporaryDirectory(prefix="tunescale-import-") as tmp:
        store = Path(tmp) / "store"
        if is_ray:
            from tunescale.sweep.import_ray import import_ray_tune

            summary, kind = import_ray_tune(path, store, mapping), f"Ray Tune experiment {path}"
        else:
            from tunescale.sweep.import_optuna import import_optuna

            summary = import_optuna(url, study, store, mapping)
            kind = f"Optuna study {summary.sweep!r} in {url}"
        if summary.written == 0:
            raise InputError(f"{path}: the {kind} has no finished trial to read.")
        try:
            yield Source(str(store), ColumnMap(), summary, kind)
        except InputError as exc:  # a message about the runs names where the user keeps them, not the copy
            raise type(exc)(str(exc).replace(str(store), f"{path} (imported)")) from None
