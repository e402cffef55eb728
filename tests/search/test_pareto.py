import pytest

from tunescale.search.base import Observation
from tunescale.search.pareto import ParetoFront, group_observations, hypervolume_2d, pareto_groups
from tunescale.search.space import LinearParam, Space

SPACE = Space([LinearParam("x", 0.0)])


def obs(x, output, cost, status="completed"):
    return Observation({"x": x}, output, cost, status)


def test_pareto_set_on_hand_made_observations():
    observations = [
        obs(1, 5.0, 1.0), obs(2, 4.0, 2.0), obs(3, 4.5, 3.0),  # 3 is dominated by 2
        obs(4, 3.0, 4.0), obs(5, 3.0, 5.0),  # 5 ties 4 at higher cost: dominated
        obs(6, 1.0, 10.0), obs(7, None, 0.5, "failed"), obs(8, 0.1, 0.5, "diverged"),
    ]
    front = pareto_groups(group_observations(observations, SPACE))
    assert [g.config["x"] for g in front] == [1, 2, 4, 6]


def test_repeats_are_averaged_into_one_group():
    observations = [obs(1, 5.0, 1.0), obs(1, 3.0, 1.2), obs(2, 4.5, 2.0)]
    groups = group_observations(observations, SPACE)
    assert len(groups) == 2
    front = pareto_groups(groups)
    assert [g.config["x"] for g in front] == [1]  # mean 4.0 at cost 1.1 beats 4.5 at 2.0
    assert front[0].output == pytest.approx(4.0) and front[0].cost == pytest.approx(1.1)


def test_cheapest_bucket_keeps_only_its_best_member():
    observations = [obs(i, 10.0 - i, 1.0 + 0.01 * i) for i in range(5)] + [obs(10, 1.0, 100.0)]
    unbucketed = pareto_groups(group_observations(observations, SPACE), 0.0)
    bucketed = pareto_groups(group_observations(observations, SPACE), 0.8)
    assert len(unbucketed) == 6
    assert [g.config["x"] for g in bucketed] == [4, 10]


def test_front_interpolates_in_log_cost_and_is_flat_outside():
    front = ParetoFront(log_cost=(0.0, 2.0), output=(4.0, 2.0))
    assert front.predict([-1.0, 1.0, 5.0]).tolist() == [4.0, 3.0, 2.0]


def test_hypervolume_of_a_staircase():
    # points (log10 cost, output): (0, 2), (1, 1); reference (2, 3) -> 1*(3-2) + 1*(3-1) = 3
    assert hypervolume_2d([1.0, 10.0], [2.0, 1.0], ref_cost=100.0, ref_output=3.0) == pytest.approx(3.0)
    assert hypervolume_2d([1000.0], [1.0], ref_cost=100.0, ref_output=3.0) == 0.0


def test_conservative_set_needs_a_lone_run_to_beat_the_best_run_of_the_last_member():
    observations = [
        obs(1, 3.0, 1.0), obs(1, 2.0, 1.0),  # A: mean 2.5, best run 2.0
        obs(2, 2.4, 2.0),  # B: one run, better than A's mean but not than its best run 2.0
        obs(3, 2.45, 3.0), obs(3, 2.15, 3.0),  # C: mean 2.3, repeated, beats A's mean
        obs(4, 1.0, 4.0),  # D: one run, better than C's best run 2.15
    ]
    groups = group_observations(observations, SPACE)
    assert [g.config["x"] for g in pareto_groups(groups)] == [1, 2, 3, 4]
    assert [g.config["x"] for g in pareto_groups(groups, conservative=True)] == [1, 3, 4]


def test_conservative_cheap_bucket_prefers_repeated_configurations():
    observations = [obs(1, 2.0, 1.0), obs(2, 2.5, 1.0), obs(2, 2.7, 1.0), obs(3, 1.0, 10.0)]
    groups = group_observations(observations, SPACE)
    assert [g.config["x"] for g in pareto_groups(groups, 0.5)] == [1, 3]
    assert [g.config["x"] for g in pareto_groups(groups, 0.5, conservative=True)] == [2, 3]
