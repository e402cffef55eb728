"""Every ask/tell searcher in search/ runs the shared contract."""

import torch

from tunescale.search.carbs import Carbs, CarbsConfig
from tunescale.search.grid_search import GridSearch
from tunescale.search.optuna_search import OptunaSearch
from tunescale.search.random_search import RandomSearch
from tunescale.search.testing import AskTellContract

torch.set_num_threads(1)


class TestRandomSearchContract(AskTellContract):
    def make_searcher(self, space, seed):
        return RandomSearch(space, seed=seed)


class TestGridSearchContract(AskTellContract):
    finite = True

    def make_searcher(self, space, seed):
        return GridSearch(space, seed=seed)


class TestOptunaTpeContract(AskTellContract):
    def make_searcher(self, space, seed):
        return OptunaSearch(space, seed=seed)


class TestOptunaGpContract(AskTellContract):
    def make_searcher(self, space, seed):
        return OptunaSearch(space, seed=seed, sampler="gp")


class TestCarbsOptunaSamplerContract(AskTellContract):
    """CarbsSampler inside an Optuna study, as an Optuna user runs it."""

    resumes_identically = False

    def make_searcher(self, space, seed):
        return OptunaSearch(space, seed=seed, sampler="carbs")


class TestCarbsContract(AskTellContract):
    def make_searcher(self, space, seed):
        # Few candidates keep the suite fast; the contract does not depend on their number.
        return Carbs(space, seed=seed, config=CarbsConfig(n_sobol=3, n_candidates_per_dim=30))


class TestCarbsThompsonContract(AskTellContract):
    def make_searcher(self, space, seed):
        return Carbs(space, seed=seed, config=CarbsConfig(
            n_sobol=3, n_candidates_per_dim=30, outstanding_fantasy="thompson"))
