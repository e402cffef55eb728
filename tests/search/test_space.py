import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunescale.contract.errors import InputError
from tunescale.search.optuna_sampler import from_optuna
from tunescale.search.space import (
    FixedParam,
    LinearParam,
    LogitParam,
    LogParam,
    Space,
    param_from_dict,
)
from tunescale.search.space_convert import from_tune, to_optuna, to_tune

finite = st.floats(-1e6, 1e6, allow_nan=False)
positive = st.floats(1e-12, 1e12, allow_nan=False)
fraction = st.floats(1e-9, 1 - 1e-9, allow_nan=False)
scales = st.floats(0.01, 100, allow_nan=False)


@given(value=finite, scale=scales)
def test_linear_round_trip(value, scale):
    p = LinearParam("x", 0.0, scale=scale)
    assert p.from_basic(p.to_basic(value)) == pytest.approx(value, rel=1e-9, abs=1e-9)


@given(value=positive, scale=scales)
def test_log_round_trip(value, scale):
    p = LogParam("x", 1.0, scale=scale)
    assert p.to_basic(value) == pytest.approx(math.log(value) / scale)
    assert p.from_basic(p.to_basic(value)) == pytest.approx(value, rel=1e-9)


@given(value=fraction, scale=scales)
def test_logit_round_trip(value, scale):
    p = LogitParam("x", 0.5, scale=scale)
    assert p.from_basic(p.to_basic(value)) == pytest.approx(value, rel=1e-6, abs=1e-12)


@given(basic=st.floats(-50, 50), factor=st.integers(1, 64))
def test_integer_rounding_gives_multiples_inside_bounds(basic, factor):
    p = LogParam("width", 256, scale=0.5, min=16, max=4096, is_integer=True, rounding_factor=factor)
    v = p.from_basic(basic)
    assert isinstance(v, int) and v % factor == 0 and 16 <= v <= 4096


@given(basic=st.floats(-1e3, 1e3))
def test_logit_never_overflows_far_out(basic):
    assert 0.0 <= LogitParam("p", 0.5).from_basic(basic) <= 1.0


@settings(max_examples=25)
@given(values=st.lists(positive, min_size=2, max_size=2))
def test_space_round_trip_and_json_form(values):
    space = Space([LogParam("lr", 1e-3), LinearParam("bs", 64, scale=32, min=8, is_integer=True, rounding_factor=8),
                   FixedParam("opt", "adamw")])
    config = {"lr": values[0], "bs": 8 * (1 + int(values[1]) % 64), "opt": "adamw"}
    back = space.from_basic(space.to_basic(config))
    assert back["bs"] == config["bs"] and back["opt"] == "adamw"
    assert back["lr"] == pytest.approx(config["lr"], rel=1e-9)
    assert Space.from_dict(space.to_dict()).to_dict() == space.to_dict()


def test_invalid_specs_name_the_parameter():
    with pytest.raises(InputError, match="'lr'.*log parameter needs > 0"):
        LogParam("lr", 0.0)
    with pytest.raises(InputError, match="'p'.*0 < value < 1"):
        LogitParam("p", 1.0)
    with pytest.raises(InputError, match="'x'.*outside"):
        LinearParam("x", 5.0, min=0.0, max=1.0)
    with pytest.raises(InputError, match="type 'cubic'"):
        param_from_dict({"type": "cubic", "name": "x"})
    with pytest.raises(InputError, match="more than once"):
        Space([LinearParam("x", 0.0), LinearParam("x", 1.0)])


def test_integer_gap_is_the_smallest_move_that_changes_the_value():
    scale = math.log(8) / 4
    width = LogParam("width", 32, scale=scale, min=16, max=128, is_integer=True, rounding_factor=16)
    assert width.integer_gap_in_basic(width.to_basic(16)) == pytest.approx(math.log(2) / scale)  # only 32 above
    assert width.integer_gap_in_basic(width.to_basic(64)) == pytest.approx(math.log(64 / 48) / scale)
    assert LogParam("lr", 1e-3).integer_gap_in_basic(-4.0) == 0.0


def _bounded_space():
    return Space([
        LogParam("lr", 1e-3, min=1e-5, max=1e-1),
        LinearParam("wd", 0.1, min=0.0, max=0.3),
        LinearParam("bs", 64, scale=32, min=8, max=512, is_integer=True, rounding_factor=8),
        LogParam("width", 256, min=64, max=1024, is_integer=True),
        FixedParam("opt", "adamw"),
    ])


def _signature(space):
    return [(type(p).__name__, getattr(p, "min", None), getattr(p, "max", None), getattr(p, "is_integer", None),
             getattr(p, "rounding_factor", None), getattr(p, "value", None)) for p in space.params]


def test_ray_tune_round_trip_keeps_types_bounds_and_steps():
    space = _bounded_space()
    assert _signature(from_tune(to_tune(space))) == _signature(space)


def test_optuna_round_trip_keeps_types_bounds_and_steps():
    space = _bounded_space()
    assert _signature(from_optuna(to_optuna(space))) == _signature(space)


def test_converted_spaces_centre_the_range_and_measure_log_params_in_decades():
    for space in (from_tune(to_tune(_bounded_space())), from_optuna(to_optuna(_bounded_space()))):
        lr, wd = space.params[0], space.params[1]
        assert lr.search_center == pytest.approx(1e-3)  # geometric middle of 1e-5..1e-1
        assert lr.to_basic(1e-2) - lr.to_basic(1e-3) == pytest.approx(1.0)  # a decade is one unit
        assert wd.search_center == pytest.approx(0.15)
        assert wd.to_basic(0.3) - wd.to_basic(0.0) == pytest.approx(4.0)  # RANGE_IN_BASIC


def test_unbounded_parameter_cannot_go_to_tune():
    with pytest.raises(InputError, match="'lr'.*needs both min and max"):
        to_tune(Space([LogParam("lr", 1e-3)]))
