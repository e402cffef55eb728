"""search/: propose configurations and learn from observations (ask/tell); never trains.

Importing this package loads no torch and no Ray: the GP surrogates import BoTorch when
CARBS first fits them, and the Ray Tune adapter lives in `search.ray_adapter`.
"""

from tunescale.search.base import AskTellSearcher, Observation, Suggestion
from tunescale.search.carbs import Carbs, CarbsConfig, CarbsWarning, Recommendation
from tunescale.search.pareto import ParetoFront, ParetoGroup, hypervolume_2d
from tunescale.search.random_search import RandomSearch
from tunescale.search.space import FixedParam, LinearParam, LogitParam, LogParam, Space

__all__ = [
    "AskTellSearcher", "Observation", "Suggestion",
    "Carbs", "CarbsConfig", "CarbsWarning", "Recommendation",
    "ParetoFront", "ParetoGroup", "hypervolume_2d",
    "RandomSearch",
    "FixedParam", "LinearParam", "LogitParam", "LogParam", "Space",
]
