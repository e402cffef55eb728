"""Output files written whole or not at all: a crash, a Ctrl-C or a full disk leaves the previous
file (or none), never a partial one that a later read takes for a result."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` for the block to write; on success it is synced and moved onto
    `path` in one step (`os.replace`), otherwise removed. It keeps `path`'s suffix, so writers that
    pick a format by the name (matplotlib's savefig) write the same format."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        yield tmp
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    """`Path.write_text`, whole or not at all."""
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
