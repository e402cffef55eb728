"""Numbers and tables as every command's text output prints them."""

from __future__ import annotations

import math

from tunescale.contract.text import num, span, table


def test_numbers_to_four_significant_digits_whole_numbers_whole_missing_as_dash():
    assert num(0.016263485381193824) == "0.01626"
    assert num(2.4749011993408203) == "2.475"
    assert num(1.25e11) == "1.25e+11"
    assert [num(16.0), num(65920), num(0.0)] == ["16", "65920", "0"]
    assert [num(None), num(math.nan), num("edge")] == ["-", "-", "edge"]
    assert span(0.038454918, 0.11226583) == "0.0385 .. 0.112"


def test_table_aligns_numbers_right_and_text_left():
    text = table(["run", "lr", "loss"], [["predicted", 0.0657052, 2.96893805], ["grid", 0.13141, None]])
    lines = text.splitlines()
    assert lines == ["  run             lr   loss",
                     "  predicted  0.06571  2.969",
                     "  grid        0.1314      -"]
