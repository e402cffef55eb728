import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from tunescale.contract.errors import InputError
from tunescale.search.base import Observation
from tunescale.search.carbs import Carbs, CarbsConfig
from tunescale.search.early_stopping import (
    COMPARABLE_COST_FRACTION,
    FALLBACK_DEAREST,
    MIN_CURVES,
    DropCurves,
)
from tunescale.search.pareto import ParetoFront
from tunescale.search.testing import scaling_loss, scaling_space

torch.set_num_threads(1)
FAST = CarbsConfig(n_sobol=3, n_candidates_per_dim=30)
FRACTIONS = (0.2, 0.4, 0.6, 0.8)


def cost(c):
    return 6.0 * c["params"] * c["tokens"]


def run_reporting(searcher, n):
    """n trials that report at FRACTIONS (output falls by 0.5 per unit of run left) and finish."""
    for _ in range(n):
        s = searcher.suggest()
        for f in FRACTIONS:
            searcher.report(s.suggestion_id, f, scaling_loss(s.config) + 0.5 * (1 - f), f * cost(s.config))
        searcher.observe(Observation(s.config, scaling_loss(s.config), cost(s.config), "completed", s.seed,
                                     s.suggestion_id))


def front_at(searcher, full_cost):
    return float(ParetoFront.from_groups(searcher.pareto_set()).predict(np.array([math.log(full_cost)]))[0])


def test_drop_curves_bound_the_fall_to_the_end_once_enough_trials_finished():
    curves = DropCurves()
    curves.add([(0.2, 3.0), (0.6, 2.4)], 2.0, 1.0)
    curves.add([(0.2, 2.5), (0.6, 2.2)], 2.0, 1.0)
    assert len(curves.curves) < MIN_CURVES and curves.largest_drop(0.4, 1.0) == math.inf  # too few to bound it
    curves.add([(0.6, 2.9), (1.0, 2.0)], 2.0, 1.0)  # the report at the end adds nothing
    assert len(curves.curves[-1][0]) == 1
    assert curves.largest_drop(0.4, 1.0) == math.inf  # the third curve starts after 0.4
    assert curves.largest_drop(0.6, 1.0) == pytest.approx(0.9)
    curves.add([(0.1, 2.1), (0.5, 2.05)], 2.0, 1.0)
    assert curves.largest_drop(0.4, 1.0) == pytest.approx(0.7)  # the first curve, halfway from 1.0 to 0.4
    assert curves.forecast(0.4, 3.0, 1.0) == pytest.approx(2.3)


def test_a_dear_trial_is_bounded_by_the_comparable_trials_or_else_the_dearest():
    curves = DropCurves()
    for cost_ in range(1, 13):  # the cheaper the run, the more of its fall is still ahead at 20%
        curves.add([(0.2, 2.0 + 4.0 / cost_)], 2.0, float(cost_))
    assert curves.largest_drop(0.2, 1.0) == pytest.approx(4.0)  # every finished trial bounds a cheap one
    assert curves.largest_drop(0.2, 100.0) == pytest.approx(4.0 / 5)  # none comparable: the 8 dearest
    dear = 100.0
    for i in range(FALLBACK_DEAREST):
        # the i comparable ones and the 8 - i dearest of the rest, down to cost 5 + i
        assert curves.largest_drop(0.2, dear) == pytest.approx(4.0 / (5 + i))
        curves.add([(0.2, 2.3 - 0.01 * i)], 2.0, COMPARABLE_COST_FRACTION * dear)
    assert curves.largest_drop(0.2, dear) == pytest.approx(0.3)  # enough comparable ones


def test_a_trial_that_cannot_join_the_front_is_stopped_and_one_that_can_runs_on():
    searcher = Carbs(scaling_space(), seed=0, config=replace(FAST, resample_frequency=0))  # resamples run on
    run_reporting(searcher, 8)
    hopeless, promising = searcher.suggest(), searcher.suggest()
    for s, margin, stop in ((hopeless, +0.05, True), (promising, -0.05, False)):
        full = cost(s.config)
        drop = 0.5 * (1 - 0.4)  # every finished trial fell by this much from 40% of its run
        output = front_at(searcher, full) + drop + margin
        assert searcher.report(s.suggestion_id, 0.4, output, 0.4 * full) is stop


def test_a_stopped_trial_informs_the_surrogates_but_never_the_front():
    searcher = Carbs(scaling_space(), seed=1, config=FAST)
    run_reporting(searcher, 9)
    s = searcher.suggest()
    assert s.kind == "bayes"  # a new configuration, not a resample of a member
    full = cost(s.config)
    output = front_at(searcher, full) + 1.0
    assert searcher.report(s.suggestion_id, 0.4, output, 0.4 * full)
    front_before = searcher.pareto_set()
    searcher.observe(Observation(s.config, None, 0.4 * full, "pruned", s.seed, s.suggestion_id))
    (config, forecast, full_cost), = searcher._stopping_model()[1]
    assert config == s.config and forecast == pytest.approx(output - 0.3) and full_cost == pytest.approx(full)
    assert searcher.pareto_set() == front_before
    nxt = searcher.suggest()  # the surrogates fit with it; the success model is not needed (nothing failed)
    assert nxt.config != s.config and nxt.info.get("success_probability", 1.0) == 1.0


def test_report_refuses_what_it_cannot_use():
    searcher = Carbs(scaling_space(), seed=0, config=FAST)
    s = searcher.suggest()
    with pytest.raises(InputError, match="not outstanding"):
        searcher.report("nope", 0.5, 3.0, 1.0)
    with pytest.raises(InputError, match="fraction"):
        searcher.report(s.suggestion_id, 0.0, 3.0, 1.0)
    with pytest.raises(InputError, match="fraction"):
        searcher.report(s.suggestion_id, 1.5, 3.0, 1.0)
    with pytest.raises(InputError, match="cost"):
        searcher.report(s.suggestion_id, 0.5, 3.0, 0.0)
    assert searcher.report(s.suggestion_id, 0.5, float("nan"), 1.0) is False
    assert searcher.progress == {}
    searcher.report(s.suggestion_id, 0.5, 3.0, 1.0)
    searcher.forget(s.suggestion_id)
    assert searcher.progress == {}


def test_reports_survive_save_and_load(tmp_path):
    searcher = Carbs(scaling_space(), seed=2, config=FAST)
    run_reporting(searcher, 7)
    s = searcher.suggest()
    searcher.report(s.suggestion_id, 0.2, 9.0, 0.2 * cost(s.config))
    searcher.save(tmp_path / "state.json")
    loaded = Carbs.load(tmp_path / "state.json")
    assert loaded.progress == searcher.progress
    full = cost(s.config)
    assert loaded.report(s.suggestion_id, 0.4, 9.0, 0.4 * full) == searcher.report(s.suggestion_id, 0.4, 9.0,
                                                                                    0.4 * full)
    assert loaded.suggest().config == searcher.suggest().config


def test_a_search_rebuilt_from_its_trials_and_their_reports_forecasts_as_the_original():
    # what a resumed sweep does with its stored rows and curves
    searcher = Carbs(scaling_space(), seed=1, config=FAST)
    run_reporting(searcher, 9)
    s = searcher.suggest()
    full = cost(s.config)
    assert searcher.report(s.suggestion_id, 0.4, front_at(searcher, full) + 1.0, 0.4 * full)
    searcher.observe(Observation(s.config, None, 0.4 * full, "pruned", s.seed, s.suggestion_id))
    rebuilt = Carbs(scaling_space(), seed=1, config=FAST)
    for o in searcher.observations:
        rebuilt.observe_reported(o, searcher.progress[o.suggestion_id])
    assert rebuilt._stopping_model()[1] == searcher._stopping_model()[1]
    assert rebuilt.pareto_set() == searcher.pareto_set()
    with pytest.raises(InputError, match="suggestion_id"):
        rebuilt.observe_reported(Observation(s.config, 2.0, full), [(1.0, 2.0, full)])


def test_a_resample_runs_to_its_end_however_it_starts():
    # a resample re-measures a member's final output with a new seed; stopping it would
    # leave the member unchecked and due for another resample, which would be stopped too
    searcher = Carbs(scaling_space(), seed=0, config=FAST)
    run_reporting(searcher, 8)
    s = searcher.suggest()
    while s.kind != "resample":
        searcher.observe(Observation(s.config, scaling_loss(s.config), cost(s.config), "completed", s.seed,
                                     s.suggestion_id))
        s = searcher.suggest()
    hopeless = front_at(searcher, cost(s.config)) + 10.0
    assert searcher.report(s.suggestion_id, 0.4, hopeless, 0.4 * cost(s.config)) is False
