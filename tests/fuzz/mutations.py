"""Hypothesis strategies that spoil a valid TOML spec the way a hostile or careless user does."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import strategies as st

from tests.conftest import CommandRun


def _float(x: float) -> str:
    text = repr(x)  # nan, inf, -inf, 1e+20 and 0.5 are all TOML floats
    return text if any(c in text for c in ".ena") else text + ".0"


SCALARS = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(_float),
    st.text(max_size=12).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.sampled_from(["true", "false", '"../../x"', '"a:b"', '"os:system"', '"exp"', "0", "-1", "1e400"]),
)
LITERALS = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
    st.sampled_from(["{}", "{ a = 1 }", "[[1], 2]", "[]"]),
)


@st.composite
def spoiled(draw, text: str) -> bytes:
    """`text` with one to three spoilt lines (a value replaced, a line dropped or doubled,
    an unknown key added), then perhaps cut short or given bytes that are not UTF-8."""
    lines = text.strip().splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["value", "value", "value", "drop", "double", "unknown"]))
        key, sep, _ = lines[i].partition("=")
        if kind == "value" and sep:
            lines[i] = f"{key.strip()} = {draw(LITERALS)}"
        elif kind == "drop":
            del lines[i]
        elif kind == "double":
            lines.insert(i, lines[i])
        elif kind == "unknown":
            lines.insert(i + 1, f"{draw(st.sampled_from(['foo', 'lr', 'seed', 'widths']))} = {draw(LITERALS)}")
        if not lines:
            lines = [""]
    data = ("\n".join(lines) + "\n").encode()
    ending = draw(st.sampled_from(["whole"] * 6 + ["cut", "bytes"]))
    if ending == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif ending == "bytes":
        data = data + draw(st.sampled_from([b"\xff\xfe", b"x = \"\xc3\x28\"", b"\x00"]))
    return data


def files_under(root: Path, skip: Path | None = None) -> dict[str, float]:
    """Every file below `root` (but `skip`) with its mtime: what a command must leave alone."""
    out = {}
    for dirpath, _, names in os.walk(root):
        if skip is not None and Path(dirpath).is_relative_to(skip):
            continue
        for name in names:
            p = Path(dirpath) / name
            out[str(p)] = p.stat().st_mtime
    return out


def assert_refused(r: CommandRun) -> None:
    """Exit 2, one line on stderr, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert r.stderr.count("\n") == 1 and r.stderr.endswith("\n"), r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "np.float64" not in r.stderr, r.stderr
