"""Spec files (sweep, study, STN): reading the TOML and collecting every problem at once.

`read_toml` is the one place that turns a missing or malformed file into a one-line
error; `Problems` and the field readers let a parser check the whole file and report
each problem with its key and a did-you-mean hint, so a user fixes a spec in one pass.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from pathlib import Path
from typing import Any

from tunescale.contract.errors import InputError, TunescaleError, first_line


def read_toml(path: str | os.PathLike, error: type[TunescaleError] = InputError) -> dict:
    """Parse `path` as TOML, raising `error` (one line, naming the file) when it cannot."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such spec file; give a TOML file.")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML ({first_line(exc)}).") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}); TOML files are UTF-8.") from None
    except OSError as exc:
        raise error(f"{path}: cannot read it ({exc.strerror or exc}).") from None


class Problems:
    """Collects every problem of a spec so the user sees them all at once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(f"'{key}': {message}")

    def unknown(self, table: dict, allowed: set[str], prefix: str = "") -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = (
                    f"did you mean '{prefix}{close[0]}'?" if close else f"expected one of {', '.join(sorted(allowed))}"
                )
                self.add(prefix + key, f"unknown key; {hint}")


def is_name(v: Any) -> bool:
    """Letters, digits, '-' and '_' only: names become directory and trial-id prefixes."""
    return isinstance(v, str) and v.replace("-", "").replace("_", "").isalnum()


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def table_field(raw: dict, key: str, p: Problems) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        p.add(key, f"expected a table [{key}], got {type(value).__name__}")
        return {}
    return value


def int_field(raw: dict, key: str, default: int, p: Problems, *, minimum: int, where: str = "") -> int:
    v = raw.get(key, default)
    if not is_int(v) or v < minimum:
        p.add(where + key, f"expected an integer >= {minimum}, got {v!r}")
        return default
    return v
