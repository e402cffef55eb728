import pytest

from tunescale.contract.errors import InputError
from tunescale.search.base import Observation
from tunescale.search.learned_scaling import fit_learned_scaling
from tunescale.search.pareto import group_observations, pareto_groups
from tunescale.search.plots import plot_learned_scaling, plot_pareto
from tunescale.search.random_search import RandomSearch
from tunescale.search.space import FixedParam, LinearParam, LogParam, Space

SPACE = Space([LogParam("lr", 1e-3), LinearParam("wd", 0.1), FixedParam("opt", "adamw")])


def front_with_known_laws():
    """Pareto members whose lr = 0.02 * C^-0.2 exactly; wd is negative at one point."""
    observations = []
    for i, cost in enumerate([1e15, 1e16, 1e17, 1e18, 1e19]):
        config = {"lr": 0.02 * cost**-0.2, "wd": 0.1 - 0.05 * i, "opt": "adamw"}
        observations.append(Observation(config, 5.0 - i, cost))
    observations.append(Observation({"lr": 1e-3, "wd": 0.0, "opt": "adamw"}, None, None, "failed"))
    return observations, pareto_groups(group_observations(observations, SPACE))


def test_recovers_a_known_hp_law_and_says_what_it_skipped():
    _, front = front_with_known_laws()
    learned = fit_learned_scaling(front, n_bootstrap=50)
    assert learned.laws["lr"].coef["cost"] == pytest.approx(-0.2, abs=1e-9)
    assert learned.predict(1e20)["lr"] == pytest.approx(0.02 * 1e20**-0.2, rel=1e-6)
    assert learned.skipped == {"wd": "has values <= 0 (a power law needs > 0)", "opt": "not numeric"}
    assert learned.summary()["laws"]["lr"]["exponent"] == pytest.approx(-0.2, abs=1e-9)


def test_too_small_front_is_an_input_error():
    _, front = front_with_known_laws()
    with pytest.raises(InputError, match="at least 3 Pareto members"):
        fit_learned_scaling(front[:2])


def test_figures_are_written(tmp_path):
    observations, front = front_with_known_laws()
    searcher = RandomSearch(SPACE)
    for o in observations:
        searcher.observe(o)
    plot_pareto(searcher, front, tmp_path / "pareto.png")
    plot_learned_scaling(front, fit_learned_scaling(front, n_bootstrap=20), tmp_path / "laws.png")
    assert (tmp_path / "pareto.png").stat().st_size > 5000
    assert (tmp_path / "laws.png").stat().st_size > 5000
