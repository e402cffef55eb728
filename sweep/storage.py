"""Where a sweep's trial store lives: a path or file URI opened on the driver, the same
store reopened once per worker process, and the rows of this sweep read back."""

from __future__ import annotations

from pathlib import Path

from tunescale.contract.errors import InputError
from tunescale.contract.store import TrialStore, read_table


def open_store(storage: str) -> tuple[str, TrialStore]:
    """Resolve a store path or URI to a local directory and open it.

    The store renames each file into place, an atomic step POSIX filesystems give
    and object stores do not; URIs must therefore name a filesystem path
    (`file://...`, or a bucket mounted on every node, e.g. through gcsfuse/s3fs).
    """
    if "://" in storage:
        import pyarrow as pa
        import pyarrow.fs as pafs

        try:
            fs, path = pafs.FileSystem.from_uri(storage)
        except (pa.ArrowException, OSError) as exc:  # any URI pyarrow cannot open
            raise InputError(f"storage {storage!r}: pyarrow cannot open this URI ({exc}).") from None
        if not isinstance(fs, pafs.LocalFileSystem):
            raise InputError(
                f"storage {storage!r}: the trial store needs atomic renames, which "
                f"{fs.type_name} does not offer; mount it on every node and give the mount path."
            )
        storage = path
    path = str(Path(storage).absolute())
    return path, TrialStore(path)


_STORES: dict[str, TrialStore] = {}


def worker_store(path: str) -> TrialStore:
    """The store at `path`, opened once per process (a reused Tune actor runs many trials)."""
    if path not in _STORES:
        _STORES[path] = TrialStore(path)
    return _STORES[path]


def sweep_rows(storage: str, name: str) -> list[dict]:
    """Every stored row; InputError when the store holds another sweep's trials."""
    rows = read_table(storage).to_pylist()
    others = sorted({r["sweep"] for r in rows} - {name})
    if others:
        raise InputError(
            f"storage {storage}: holds trials of sweep {others[0]!r}, not {name!r}; "
            f"give this sweep its own storage directory."
        )
    return rows
