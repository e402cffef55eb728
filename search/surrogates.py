"""Gaussian-process surrogates in basic space (BoTorch `SingleTaskGP`, GPyTorch MLL fit).

Notations
- X: (n, d) float64 points in basic space; y: (n,) targets (output, log cost, or a 0/1
  success indicator).
- mean(x), std(x): posterior mean and standard deviation of the latent function (noise
  excluded), in the units of y (BoTorch's `Standardize` transform undoes itself).
Kernel, priors and likelihood are BoTorch's defaults; hyperparameters are fitted by
maximising the exact marginal likelihood with L-BFGS, capped at `MAX_ITER` steps so a
suggestion with hundreds of observations stays well under a second.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from botorch.exceptions import InputDataWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from gpytorch.mlls import ExactMarginalLogLikelihood

# L-BFGS steps for the hyperparameters: the optimum moves little between suggestions
# and 50 steps reach it to a few percent in the likelihood on our problems.
MAX_ITER = 50


@dataclass
class GaussianProcess:
    """A fitted GP; `condition` adds fantasy observations without refitting hyperparameters."""

    model: SingleTaskGP

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray) -> GaussianProcess:
        train_x = torch.as_tensor(np.asarray(X), dtype=torch.float64)
        train_y = torch.as_tensor(np.asarray(y), dtype=torch.float64).unsqueeze(-1)
        with warnings.catch_warnings():
            # Basic space is already the scale we want the kernel to see; BoTorch's advice
            # to normalise inputs to the unit cube does not apply to unbounded searches.
            warnings.simplefilter("ignore", InputDataWarning)
            model = SingleTaskGP(train_x, train_y)
            mll = ExactMarginalLogLikelihood(model.likelihood, model)
            fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": MAX_ITER}})
        model.eval()
        return cls(model)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            post = self.model.posterior(torch.as_tensor(np.asarray(X), dtype=torch.float64))
            mean = post.mean.squeeze(-1).numpy()
            std = post.variance.clamp_min(1e-12).sqrt().squeeze(-1).numpy()
        return mean, std

    def sample(self, X: np.ndarray, seed: int) -> np.ndarray:
        """One joint posterior draw at X (a Thompson fantasy)."""
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(seed)
            post = self.model.posterior(torch.as_tensor(np.asarray(X), dtype=torch.float64))
            return post.rsample().squeeze(0).squeeze(-1).numpy()

    def condition(self, X: np.ndarray, y: np.ndarray) -> GaussianProcess:
        """The GP with (X, y) added as observations, hyperparameters unchanged."""
        if len(X) == 0:
            return self
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", InputDataWarning)
            x = torch.as_tensor(np.asarray(X), dtype=torch.float64)
            self.model.posterior(x)  # builds the prediction caches conditioning needs
            new = self.model.condition_on_observations(
                x, torch.as_tensor(np.asarray(y), dtype=torch.float64).unsqueeze(-1)
            )
        return GaussianProcess(new)
