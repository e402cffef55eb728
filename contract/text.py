"""How numbers and tables read in every command's text output (`--json` keeps full precision).

Numbers print to 4 significant digits, a number that is whole as a whole number, a missing
one as '-'; a table is a header and aligned columns, text left and numbers right.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

DIGITS = 4


def num(value, digits: int = DIGITS) -> str:
    """`value` rounded to `digits` significant digits: 0.01626, 2.475, 1.25e+11, 16, 100000 (whole numbers
    below a million); None and NaN as '-'."""
    if value is None or isinstance(value, bool):
        return "-" if value is None else str(value)
    if not isinstance(value, numbers.Real):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "-"
    if value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.{digits}g}"


def span(low, high, digits: int = 3) -> str:
    """An interval as 'low .. high', each to `digits` significant digits."""
    return f"{num(low, digits)} .. {num(high, digits)}"


def table(header: Sequence[str], rows: Sequence[Sequence], indent: str = "  ") -> str:
    """Rows under a header, columns aligned: numbers (formatted by `num`) right, text left."""
    cells = [[c if isinstance(c, str) else num(c) for c in row] for row in rows]
    right = [
        all(not isinstance(row[i], str) or row[i] == "-" for row in rows) and bool(rows) for i in range(len(header))
    ]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]

    def line(parts) -> str:
        padded = (p.rjust(w) if r else p.ljust(w) for p, w, r in zip(parts, widths, right, strict=True))
        return (indent + "  ".join(padded)).rstrip()

    return "\n".join([line(header), *(line(r) for r in cells)])
