import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunescale.contract.errors import InputError
from tunescale.search.space import (
    ChoiceParam,
    FixedParam,
    LinearParam,
    LogitParam,
    LogParam,
    OrderedParam,
    Space,
    param_from_dict,
)
from tunescale.search.space_convert import bounded_param, to_optuna

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


def test_bounded_params_centre_the_range_and_measure_log_params_in_decades():
    lr = bounded_param("lr", 1e-5, 1e-1, log=True)
    wd = bounded_param("wd", 0.0, 0.3, log=False)
    assert lr.search_center == pytest.approx(1e-3)  # geometric middle of 1e-5..1e-1
    assert lr.to_basic(1e-2) - lr.to_basic(1e-3) == pytest.approx(1.0)  # a decade is one unit
    assert wd.search_center == pytest.approx(0.15)
    assert wd.to_basic(0.3) - wd.to_basic(0.0) == pytest.approx(4.0)  # RANGE_IN_BASIC


def test_optuna_distributions_keep_types_bounds_steps_and_choices():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    dists = to_optuna(Space([
        LogParam("lr", 1e-3, min=1e-5, max=1e-1),
        LinearParam("bs", 64, scale=32, min=10, max=512, is_integer=True, rounding_factor=8),
        ChoiceParam("schedule", ("cosine", "wsd")),
        FixedParam("opt", "adamw"),
    ]))
    assert dists["lr"] == FloatDistribution(1e-5, 1e-1, log=True)
    assert dists["bs"] == IntDistribution(16, 512, step=8)  # the outermost multiples inside the bounds
    assert dists["schedule"] == CategoricalDistribution(("cosine", "wsd"))
    assert dists["opt"] == CategoricalDistribution(("adamw",))


def test_unbounded_parameter_cannot_go_to_optuna():
    with pytest.raises(InputError, match="'lr'.*needs both min and max"):
        to_optuna(Space([LogParam("lr", 1e-3)]))


def test_choice_param_searches_its_values_by_index():
    p = ChoiceParam("lr", [1e-3, 1e-2, 1e-1])
    assert p.values == (1e-3, 1e-2, 1e-1) and p.search_center == 1e-2
    assert [p.from_basic(p.to_basic(v)) for v in p.values] == list(p.values)
    assert p.from_basic(-3.0) == 1e-3 and p.from_basic(7.0) == 1e-1  # clipped to the ends
    lo, hi = p.bounds_in_basic
    assert [p.from_basic(x) for x in (lo + 1e-9, hi - 1e-9)] == [1e-3, 1e-1]  # half a step past each end
    with pytest.raises(InputError, match="'lr'.*0.5 is not one of"):
        p.to_basic(0.5)
    with pytest.raises(InputError, match="'x'.*at least one value"):
        ChoiceParam("x", ())
    assert param_from_dict(p.to_dict()) == p


def test_ordered_param_snaps_to_its_values_on_a_log_axis_a_radius_apart():
    p = OrderedParam.powers_of_two("width", 12, 1024)
    assert p.values == (16, 32, 64, 128, 256, 512, 1024) and p.log and p.search_center == 128
    assert p.to_basic(32) - p.to_basic(16) == pytest.approx(math.log(2) / math.log(10))  # ~0.30, one radius
    assert [p.from_basic(p.to_basic(v)) for v in p.values] == list(p.values)
    assert p.round(40) == 32 and p.round(50) == 64 and p.round(5000) == 1024
    lo, hi = p.bounds_in_basic
    assert p.from_basic(lo) == 16 and p.from_basic(hi) == 1024
    assert p.integer_gap_in_basic(p.to_basic(16)) == pytest.approx(p.to_basic(32) - p.to_basic(16))
    assert param_from_dict(p.to_dict()) == p
    linear = OrderedParam("wd", (0.0, 0.1, 0.2), search_center=0.2)
    assert not linear.log and linear.scale == pytest.approx(0.2 / 4.0) and linear.search_center == 0.2
    assert param_from_dict(linear.to_dict()) == linear
    with pytest.raises(InputError, match="'w'.*increasing"):
        OrderedParam("w", (32, 16))
    with pytest.raises(InputError, match="'w'.*log = true needs values > 0"):
        OrderedParam("w", (0, 16), log=True)


def test_space_lists_its_unordered_choices_and_round_trips_them():
    space = Space([LogParam("lr", 1e-3), ChoiceParam("opt", ("sgd", "adam")), OrderedParam("bs", (8, 16, 32)),
                   FixedParam("seed", 0)])
    assert space.categories == ((1, 2),)
    assert Space.from_dict(space.to_dict()).to_dict() == space.to_dict()
    config = {"lr": 1.0, "opt": "adam", "bs": 16, "seed": 0}
    assert space.from_basic(space.to_basic(config)) == config
