"""Reading a TOML spec file: the one place that turns a missing or malformed file into a one-line error."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from trials.errors import InputError, TunescaleError


def read_toml(path: str | os.PathLike, error: type[TunescaleError] = InputError) -> dict:
    """Parse `path` as TOML, raising `error` (one line, naming the file) when it cannot."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such spec file; give a TOML file.")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML ({exc}).") from None
