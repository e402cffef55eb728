"""Reading back the JSON files a study writes: every key and type checked, each error one line.

A hand-edited fit.json or study.json fails with one `InputError` naming the file and the key
path (e.g. `optima[3].value`) and the fix, which the CLI prints as one line with exit code 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tunescale.contract.atomic import write_text
from tunescale.contract.errors import InputError

REWRITE = "rerun 'tunescale study' with the same --out and --resume to rewrite it"

T = TypeVar("T")


class JsonDoc:
    """A JSON value being read back, with the file and key path every error names."""

    def __init__(self, data: Any, source: str, path: str = ""):
        self.data, self.source, self.path = data, source, path

    @classmethod
    def of(cls, data: Any, source: str | Path) -> JsonDoc:
        return data if isinstance(data, JsonDoc) else cls(data, str(source))

    def fail(self, expected: str) -> InputError:
        got = repr(self.data)
        got = got if len(got) <= 60 else got[:57] + "..."
        where = f"key '{self.path}'" if self.path else "top level"
        return InputError(f"{self.source}: {where}: expected {expected}, got {got}; {REWRITE}.")

    def __getitem__(self, key: str) -> JsonDoc:
        if not isinstance(self.data, dict):
            raise self.fail("a JSON object")
        path = f"{self.path}.{key}" if self.path else key
        if key not in self.data:
            raise InputError(f"{self.source}: missing key '{path}'; {REWRITE}.")
        return JsonDoc(self.data[key], self.source, path)

    def number(self) -> float:
        """The number as JSON holds it (an int stays an int, so a file reads back as it was written)."""
        if isinstance(self.data, bool) or not isinstance(self.data, int | float):
            raise self.fail("a number")
        return self.data

    def integer(self) -> int:
        if isinstance(self.data, bool) or not isinstance(self.data, int | float) or not float(self.data).is_integer():
            raise self.fail("a whole number")
        return int(self.data)

    def string(self) -> str:
        if not isinstance(self.data, str):
            raise self.fail("a string")
        return self.data

    def boolean(self) -> bool:
        if not isinstance(self.data, bool):
            raise self.fail("true or false")
        return self.data

    def numbers(self) -> tuple[float, ...]:
        return tuple(x.number() for x in self.items())

    def items(self) -> list[JsonDoc]:
        if not isinstance(self.data, list):
            raise self.fail("a JSON list")
        return [JsonDoc(v, self.source, f"{self.path}[{i}]") for i, v in enumerate(self.data)]

    def entries(self) -> dict[str, JsonDoc]:
        if not isinstance(self.data, dict):
            raise self.fail("a JSON object")
        return {k: JsonDoc(v, self.source, f"{self.path}.{k}") for k, v in self.data.items()}

    def opaque(self) -> dict:
        if not isinstance(self.data, dict):
            raise self.fail("a JSON object")
        return self.data

    def null_or(self, read: Callable[[JsonDoc], T]) -> T | None:
        return None if self.data is None else read(self)


def read_json(path: str | Path) -> Any:
    """The parsed JSON at `path`; a missing or unparsable file is one InputError."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: missing; the study did not get that far ({REWRITE}).") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); {REWRITE}.") from None


def write_json(path: str | Path, doc: dict) -> None:
    """Write `doc` whole or not at all (`contract.atomic`). NaN stays NaN (a loss interval scaling
    could not estimate), as Python's json reads it back."""
    write_text(path, json.dumps(doc, indent=1, allow_nan=True) + "\n")
