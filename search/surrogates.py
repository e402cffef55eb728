"""Gaussian-process surrogates in basic space (BoTorch `SingleTaskGP`, GPyTorch MLL fit).

Notations
- X: (n, d) float64 points in basic space; y: (n,) targets (output, log cost, or a 0/1
  success indicator).
- mean(x), std(x): posterior mean and standard deviation of the latent function (noise
  excluded), in the units of y (BoTorch's `Standardize` transform undoes itself).
Kernel: a Matern-5/2 ARD kernel plus a parametric *trend* (`TRENDS`): "linear" (the CARBS
code pairs linear + Matern), "quadratic" (linear plus the square of an ARD linear kernel),
or none (the success model).
The trend extrapolates beyond the data, where a stationary kernel alone reverts to the
mean and would make every candidate past the dearest observation look average. Log cost
is close to linear in log width and log steps, so the cost model's trend is linear. The
loss is not: it has a basin in log learning rate whose optimum moves with width and
steps, which a quadratic holds (its cross terms are the moves), so the output model can
carry the learning rate down as it extrapolates to larger runs. Inputs are centred on
the training mean, so the trend has no arbitrary origin.
Unordered categorical inputs (`Space.categories`: basic = the category's index) enter the
kernel one-hot, one input per category, as BoTorch's mixed-space models do with their
categorical kernels: two categories are then equally far apart whatever their indices,
the linear trend gives each category its own offset, and the quadratic one lets each
shift the learning-rate basin.
Priors on the Matern part and the likelihood are BoTorch's defaults (Hvarfner et al. 2024
dimension-scaled lengthscales). Hyperparameters are fitted by maximising the exact
marginal likelihood with L-BFGS (at most `MAX_ITER` steps) on at most `MAX_FIT_POINTS`
evenly spaced observations, then the GP on *all* observations uses those
hyperparameters. The MLL fit is O(n^3) per step; a dozen kernel hyperparameters are
well determined by a couple of hundred points, and prediction still uses every point.
The fit is most of a suggestion's time, and the hyperparameters move little from one
observation to the next, so a caller may start the fit from earlier hyperparameters
(`fit(init=...)`, fewer steps: `WARM_MAX_ITER`) or skip it and condition a GP with given
hyperparameters on the data (`with_hyperparameters`); `hyperparameters()` gives them as
JSON-able lists, so a saved search resumes with the very same models.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from botorch.exceptions import InputDataWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.kernels import Kernel, LinearKernel, ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from scipy.stats import norm

# L-BFGS steps for the hyperparameters: the optimum moves little between suggestions
# and 50 steps reach it to a few percent in the likelihood on our problems.
MAX_ITER = 50
WARM_MAX_ITER = 20
MAX_FIT_POINTS = 160

Hyperparameters = dict[str, list]  # raw GPyTorch parameter name -> value (nested lists)


@dataclass(frozen=True)
class OutputWarp:
    """A monotone map of outputs to normal scores, so that the output GP sees a Gaussian
    spread whatever the tail (as the CARBS and HEBO surrogates do).

    Losses of a sweep are heavy-tailed: a run at a bad learning rate sits 2-3 nats above the
    good ones, and on the raw scale those few runs make up almost all of the variance, so
    the 0.05 differences that decide the front are lost in the GP's noise. The warp is
    piecewise linear between sqrt(n) empirical quantiles (linear inside a bin keeps the
    distances between close outputs, coarse bins tame the tail), and each knot goes to the
    normal quantile of its plotting position, clipped to (0.5/n, 1 - 0.5/n).
    """

    knots: tuple[float, ...]  # distinct output quantiles, increasing
    scores: tuple[float, ...]  # their normal scores, increasing

    @classmethod
    def fit(cls, y: np.ndarray) -> OutputWarp:
        y = np.asarray(y, dtype=float)
        n = len(y)
        q = np.linspace(0.0, 1.0, max(2, int(math.sqrt(n))))
        scores = norm.ppf(np.clip(q, 0.5 / n, 1 - 0.5 / n))
        knots, first = np.unique(np.quantile(y, q), return_index=True)  # equal outputs: one knot
        if len(knots) == 1:
            return cls((float(knots[0]) - 1.0, float(knots[0]) + 1.0), (-1.0, 1.0))
        return cls(tuple(knots.tolist()), tuple(scores[first].tolist()))

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return np.interp(y, self.knots, self.scores)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.interp(z, self.scores, self.knots)


TRENDS = (None, "linear", "quadratic")


def _kernel(dim: int, trend: str | None) -> Kernel:
    matern = ScaleKernel(get_covar_module_with_dim_scaled_prior(ard_num_dims=dim, use_rbf_kernel=False))
    if trend is None:
        return matern
    if trend == "linear":
        return LinearKernel() + matern
    if trend == "quadratic":
        square = LinearKernel(ard_num_dims=dim)  # one module twice: k(x, x')^2, every product x_i x_j
        return LinearKernel() + square * square + matern
    raise ValueError(f"trend = {trend!r}, expected one of {TRENDS}.")


@dataclass
class GaussianProcess:
    """A fitted GP; `condition` adds fantasy observations without refitting hyperparameters."""

    model: SingleTaskGP
    centre: np.ndarray  # subtracted from every (one-hot encoded) input: the training inputs' mean
    categories: tuple[tuple[int, int], ...] = ()  # (column of X, number of categories), one-hot encoded

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, *, trend: str | None = "linear",
            init: Hyperparameters | None = None, categories: tuple[tuple[int, int], ...] = ()) -> GaussianProcess:
        """Fit to (X, y); ``trend=None`` for bounded targets such as a 0/1 success
        indicator, which a trend would push outside [0, 1]. ``init``: hyperparameters to
        start the likelihood maximisation from (a warm start, `WARM_MAX_ITER` steps).
        ``categories``: the columns of X holding category indices (module docstring)."""
        X = one_hot(X, categories)
        centre = X.mean(axis=0)
        train_x, train_y = cls._tensors(X, y, centre)
        n = len(train_x)
        subset = np.unique(np.linspace(0, n - 1, min(n, MAX_FIT_POINTS)).round().astype(int))
        with warnings.catch_warnings():
            # Basic space is already the scale we want the kernel to see; BoTorch's advice
            # to normalise inputs to the unit cube does not apply to unbounded searches.
            warnings.simplefilter("ignore", InputDataWarning)
            model = SingleTaskGP(train_x[subset], train_y[subset], covar_module=_kernel(train_x.shape[-1], trend))
            if init is not None:
                _load(model, init)
            mll = ExactMarginalLogLikelihood(model.likelihood, model)
            maxiter = MAX_ITER if init is None else WARM_MAX_ITER
            fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": maxiter}})
        fitted = cls(model, centre)
        if len(subset) < n:
            return cls._encoded_with_hyperparameters(X, y, trend, fitted.hyperparameters(), categories)
        model.eval()
        return cls(model, centre, categories)

    @classmethod
    def with_hyperparameters(cls, X: np.ndarray, y: np.ndarray, *, trend: str | None,
                             hyperparameters: Hyperparameters,
                             categories: tuple[tuple[int, int], ...] = ()) -> GaussianProcess:
        """The GP on (X, y) with the given hyperparameters, without fitting them."""
        return cls._encoded_with_hyperparameters(one_hot(X, categories), y, trend, hyperparameters, categories)

    @classmethod
    def _encoded_with_hyperparameters(cls, X: np.ndarray, y: np.ndarray, trend: str | None,
                                      hyperparameters: Hyperparameters,
                                      categories: tuple[tuple[int, int], ...]) -> GaussianProcess:
        centre = X.mean(axis=0)
        train_x, train_y = cls._tensors(X, y, centre)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputDataWarning)
            model = SingleTaskGP(train_x, train_y, covar_module=_kernel(train_x.shape[-1], trend))
        _load(model, hyperparameters)
        model.eval()
        return cls(model, centre, categories)

    def hyperparameters(self) -> Hyperparameters:
        return {name: p.detach().tolist() for name, p in self.model.named_parameters()}

    @staticmethod
    def _tensors(X: np.ndarray, y: np.ndarray, centre: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        train_x = torch.as_tensor(np.asarray(X, dtype=float) - centre, dtype=torch.float64)
        train_y = torch.as_tensor(np.asarray(y, dtype=float), dtype=torch.float64).unsqueeze(-1)
        return train_x, train_y

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            post = self.model.posterior(self._inputs(X))
            mean = post.mean.squeeze(-1).numpy()
            std = post.variance.clamp_min(1e-12).sqrt().squeeze(-1).numpy()
        return mean, std

    def sample(self, X: np.ndarray, seed: int) -> np.ndarray:
        """One joint posterior draw at X (a Thompson fantasy)."""
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(seed)
            post = self.model.posterior(self._inputs(X))
            return post.rsample().squeeze(0).squeeze(-1).numpy()

    def condition(self, X: np.ndarray, y: np.ndarray) -> GaussianProcess:
        """The GP with (X, y) added as observations, hyperparameters unchanged."""
        if len(X) == 0:
            return self
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", InputDataWarning)
            x = self._inputs(X)
            self.model.posterior(x)  # builds the prediction caches conditioning needs
            new = self.model.condition_on_observations(
                x, torch.as_tensor(np.asarray(y), dtype=torch.float64).unsqueeze(-1)
            )
        return GaussianProcess(new, self.centre, self.categories)

    def _inputs(self, X: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(one_hot(X, self.categories) - self.centre, dtype=torch.float64)


def one_hot(X: np.ndarray, categories: tuple[tuple[int, int], ...]) -> np.ndarray:
    """X (n, d) with each categorical column (index, count) replaced by `count` 0/1 columns."""
    X = np.asarray(X, dtype=float)
    if not categories:
        return X
    counts = dict(categories)
    columns = []
    for j in range(X.shape[1]):
        if j in counts:
            columns.append(np.eye(counts[j])[np.clip(np.rint(X[:, j]).astype(int), 0, counts[j] - 1)])
        else:
            columns.append(X[:, j:j + 1])
    return np.concatenate(columns, axis=1)


def _load(model: SingleTaskGP, hyperparameters: Hyperparameters) -> None:
    """Set a model's raw hyperparameters (as `GaussianProcess.hyperparameters` gives them)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.as_tensor(hyperparameters[name], dtype=p.dtype))
