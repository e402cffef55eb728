"""Where a sweep's trial store lives: a path or file URI opened on the driver, the same
store reopened once per worker process, and the rows of this sweep read back."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from tunescale.contract.errors import InputError, StoreError
from tunescale.contract.store import TrialStore, read_table

LOCK_FILE = ".driver.lock"


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
    try:
        return path, TrialStore(path)
    except OSError as exc:
        raise InputError(
            f"storage {storage!r}: cannot create the trial store there ({exc.strerror or exc}); "
            f"give a writable directory."
        ) from None


@contextlib.contextmanager
def driver_lock(path: str) -> Iterator[None]:
    """Hold the store's advisory driver lock for the block: one live driver per store.

    A second driver on the same store would train every trial again; it is refused in one
    line instead. The lock is the kernel's (flock), so it goes when its process dies,
    however it dies: a killed driver never leaves a store locked.
    """
    lock = Path(path) / LOCK_FILE
    try:
        fh = open(lock, "a+")  # noqa: SIM115 - held open for the whole block
    except OSError as exc:
        raise StoreError(f"storage {path}: cannot open its lock file ({exc.strerror or exc}).") from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise StoreError(
                f"storage {path}: another sweep driver ({holder}) is running on it; "
                f"wait for it to end (then --resume), or give this sweep its own storage."
            ) from None
        fh.truncate(0)
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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
