"""CARBS: Cost-Aware pareto-Region Bayesian Search (Fetterman et al., "Tune As You Scale", 2023).

Glossary
- output: the objective, lower is better (held-out loss). cost: what a trial spends
  (FLOPs or seconds), > 0. success: the trial completed with a finite output.
- basic space: see `search.space`; every model below works there.
- Pareto set / front: see `search.pareto` (the search uses the conservative set). The
  search is *local to the front*: new candidates are drawn from N(member, radius^2)
  around Pareto members (clipped to the bounds), so an unbounded space is explored
  outward from what already works, at every cost.
- surrogates: three GPs in basic space — output (as normal scores, `OutputWarp`, with a
  quadratic trend by default: `output_trend`), log cost (linear trend), and P(success)
  (a GP on the 0/1 indicator, clipped to [0, 1]; fitted only once a failure has been seen).
- acquisition(x) = EI(x; target - bias) * P(success | x) * P(cost(x) < max_cost) * locality(x),
  in normal scores, where target = min(front(predicted log cost of x), front(t)) for a
  log-cost threshold t drawn uniformly over the front's cost range each suggestion.
  Cheap candidates must therefore beat the front at t, which spreads suggestions across
  the whole cost range (the paper's clamp); the bias (`exploration_bias`) rewards
  uncertain candidates over near-copies of members. locality(x) is the
  search-distribution density, max over members.
- outstanding suggestions enter the output GP as fantasies: the posterior mean
  ("believer", kriging believer) or a posterior draw ("thompson"), so concurrent asks
  see each other and come back distinct.

- early stopping: a running trial reports its output and cost at fractions of its run
  (`report`); CARBS says stop once it cannot join the front (`search.early_stopping`).

- parameter types: ordered ones (real, integer, `OrderedParam`) move by the search radius
  in basic space (at least to the next allowed value); an unordered `ChoiceParam` is
  one-hot in the GPs and switched at random around the members.

Suggestion order: the search centre, then `n_sobol` scrambled-Sobol points in a box of
half-width `sobol_half_width_in_basic` around it, then Bayesian suggestions; every
`resample_frequency`-th of those may re-run the Pareto member a new seed is worth most for
(`search.pareto.resample_priority`). The front the search starts from holds each run at
most `resample_confidence` standard errors below the output model (`CarbsConfig.shrink_to_model`);
`best` recommends a configuration by the model's prediction.

The configuration users change is in `CarbsConfig`: `search_radius_in_basic`,
`max_suggestion_cost`, and `resample_frequency`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import norm, qmc

from tunescale.contract.errors import InputError
from tunescale.search.base import FAILURE_STATUSES, PRUNED, AskTellSearcher, Observation
from tunescale.search.early_stopping import DropCurves
from tunescale.search.pareto import (
    ParetoFront,
    ParetoGroup,
    config_key,
    group_observations,
    noise_sd,
    pareto_groups,
    resample_priority,
)
from tunescale.search.space import Space

if TYPE_CHECKING:
    from tunescale.search.surrogates import GaussianProcess, Hyperparameters, OutputWarp


class CarbsWarning(UserWarning):
    """CARBS fell back from its model (the reason is in the message)."""


@dataclass(frozen=True)
class CarbsConfig:
    # One basic unit is one "typical change" of a parameter; 0.3 is the paper's default radius.
    search_radius_in_basic: float = 0.3
    # Soft cap on the predicted cost of a suggestion (None: uncapped).
    max_suggestion_cost: float | None = None
    # After the initial points, every k-th suggestion may re-run a Pareto member with a new
    # seed (0: never), so the front is not built on lucky seeds: the member a lucky seed
    # would distort most, while its lead is under `resample_confidence` standard errors of
    # the seed noise (`search.pareto.resample_priority`); when no member needs a seed, the
    # slot goes to a Bayesian suggestion.
    resample_frequency: int = 5
    resample_confidence: float = 2.0
    # Quasi-random starts after the centre, to give the first GPs some spread (None: twice
    # the number of searched parameters, so the phase grows with what the GPs must learn).
    n_sobol: int | None = None
    sobol_half_width_in_basic: float = 1.0
    # When this many results in a row (None: 3 per searched parameter) have not moved the
    # front, the search radius doubles, up to `max_radius_growth` times: a search started
    # from a poor centre widens its steps instead of circling it.
    stall_patience: int | None = None
    max_radius_growth: float = 4.0
    # The GPs' hyperparameters are fitted by maximum likelihood at checkpoints of the data
    # (every observation at first, then every 25% more, at most every this many), each fit
    # warm-started from the last; in between, the GPs reuse them on all the data.
    gp_refit_every: int = 10
    # Candidates scored per suggestion, per searched dimension.
    n_candidates_per_dim: int = 100
    # An unordered choice (`ChoiceParam`) has no radius: a candidate takes another of its
    # values, drawn uniformly, with this probability, else keeps its origin's; the
    # locality counts a switch like a move of about two radii when there are 3 values.
    category_switch_probability: float = 0.2
    # The cheapest 20% of configurations form one bucket on the front (paper's default).
    min_pareto_cost_fraction: float = 0.2
    # "believer" (posterior mean) or "thompson" (posterior draw) fantasies.
    outstanding_fantasy: str = "believer"
    # Margin a candidate must beat the front by, in normal scores of the outputs (the
    # paper's default 1.0): with noisy outputs, EI without it keeps re-trying near the
    # incumbent; with it, EI comes from the uncertainty, i.e. from unexplored candidates.
    exploration_bias: float = 1.0
    # Raise each group's output to the output model's prediction at it before it can join the
    # front the search starts from and must beat (`search.pareto`): one lucky seed cannot flatten it.
    shrink_to_model: bool = True
    # Search from the conservative Pareto set (see `search.pareto`); resamples still
    # pick from the plain one, which is how a lucky single run gets checked.
    conservative_pareto: bool = True
    # Parametric part of the output model's kernel (`search.surrogates.TRENDS`): the paper's
    # code uses "linear"; "quadratic" also holds the learning-rate basin and how its optimum
    # moves with the cost parameters, so the search carries the learning rate along as it
    # extrapolates to dearer runs (benchmarks/carbs_bench.py, carbs_proxy_bench.py).
    output_trend: str | None = "quadratic"

    def __post_init__(self) -> None:
        if self.outstanding_fantasy not in ("believer", "thompson"):
            raise ValueError(f"outstanding_fantasy = {self.outstanding_fantasy!r}, expected 'believer' or 'thompson'.")
        if not 0 < self.category_switch_probability < 1:
            raise ValueError(f"category_switch_probability = {self.category_switch_probability!r}, expected 0 < p < 1.")
        from tunescale.search.surrogates import (
            TRENDS,  # torch and BoTorch load only once a search is built
        )

        if self.output_trend not in TRENDS:
            raise ValueError(f"output_trend = {self.output_trend!r}, expected one of {TRENDS}.")


@dataclass(frozen=True)
class Recommendation:
    """A configuration CARBS recommends (`Carbs.best`)."""

    config: dict[str, Any]
    predicted_output: float  # the output model's estimate of its mean output over seeds
    interval: tuple[float, float]  # 90% interval of that mean (the model's uncertainty)
    mean_output: float  # the mean of its runs
    cost: float  # the mean cost of its runs
    runs: int


class Carbs(AskTellSearcher):
    """Cost-aware Pareto-local Bayesian search; see the module docstring for the glossary."""

    def __init__(self, space: Space, *, seed: int = 0, config: CarbsConfig | dict | None = None) -> None:
        super().__init__(space, seed=seed)
        self.config = CarbsConfig(**config) if isinstance(config, dict) else (config or CarbsConfig())
        self._lo = np.array([b[0] for b in space.bounds_in_basic])
        self._hi = np.array([b[1] for b in space.bounds_in_basic])
        # suggestion id -> its reports (fraction of the run, output, cost so far), kept
        # after it is observed: finished trials' reports are what early stopping learns from.
        self.progress: dict[str, list[tuple[float, float, float]]] = {}
        # model name -> (fit checkpoint, its hyperparameters); see `_gp`
        self.gp_hyperparameters: dict[str, tuple[int, Hyperparameters]] = {}

    def _options(self) -> dict[str, Any]:
        return {"config": asdict(self.config)}

    # -- early stopping ---------------------------------------------------------------------
    def report(self, suggestion_id: str, fraction: float, output: float, cost: float) -> bool:
        """Record an outstanding trial's output and cost so far at `fraction` (0 < f <= 1)
        of its run. True: stop it (it cannot join the front; `search.early_stopping`), then
        observe it with status "pruned" and the cost it spent. A resample is never stopped."""
        if suggestion_id not in self.outstanding:
            raise InputError(f"report for suggestion {suggestion_id!r}, which is not outstanding; report only "
                             f"trials suggested and not yet observed.")
        if not 0 < fraction <= 1:
            raise InputError(f"report fraction = {fraction!r}, expected the share of the run done, in (0, 1].")
        if not (math.isfinite(cost) and cost > 0):
            raise InputError(f"report cost = {cost!r}, expected the finite cost spent so far, > 0.")
        if not math.isfinite(output):
            return False  # the trainer ends a diverged run itself and it is observed as such
        self.progress.setdefault(suggestion_id, []).append((float(fraction), float(output), float(cost)))
        if fraction >= 1 or self.outstanding[suggestion_id].kind == "resample":
            return False  # a resample is there to measure the member's final output again
        front_groups = self.pareto_set()
        if not front_groups:
            return False
        forecast = self._stopping_model()[0].forecast(fraction, output, cost / fraction)
        front = ParetoFront.from_groups(front_groups)
        return bool(forecast > front.predict(np.array([math.log(cost / fraction)]))[0])

    def observe_reported(self, observation: Observation, reports: Sequence[tuple[float, float, float]]) -> None:
        """Observe a trial together with what it reported while running ((fraction, output,
        cost so far) each, as `report` takes them), e.g. a resumed sweep's stored curves:
        a finished trial's reports teach early stopping, a stopped one's last gives its forecast."""
        if observation.suggestion_id is None:
            raise InputError("observe_reported needs the observation's suggestion_id (an id unique in this search).")
        self.progress[observation.suggestion_id] = [(float(f), float(y), float(c)) for f, y, c in reports]
        self.observe(observation)

    def forget(self, suggestion_id: str) -> None:
        super().forget(suggestion_id)
        self.progress.pop(suggestion_id, None)

    def _stopping_model(self) -> tuple[DropCurves, list[tuple[dict, float, float]]]:
        """Drop curves of the finished trials that reported progress, and (config, forecast
        output, full cost) of the stopped ones, in observation order: a stopped trial's
        forecast uses the trials finished before it, as when it was stopped."""
        curves, stopped = DropCurves(), []
        for obs in self.observations:
            points = self.progress.get(obs.suggestion_id or "")
            if not points:
                continue
            if obs.success:
                curves.add([(f, y) for f, y, _ in points], obs.output, obs.cost)
            elif obs.status == PRUNED:
                fraction, output, cost = points[-1]
                forecast = curves.forecast(fraction, output, cost / fraction)
                if math.isfinite(forecast):
                    stopped.append((obs.config, forecast, cost / fraction))
        return curves, stopped

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "progress": {k: [list(p) for p in v] for k, v in self.progress.items()},
                "gp_hyperparameters": {k: [m, h] for k, (m, h) in self.gp_hyperparameters.items()}}

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> Carbs:
        searcher = super().from_state_dict(state)
        searcher.progress = {k: [tuple(p) for p in v] for k, v in state.get("progress", {}).items()}
        searcher.gp_hyperparameters = {k: (int(m), h) for k, (m, h) in state.get("gp_hyperparameters", {}).items()}
        return searcher

    # -- public views -----------------------------------------------------------------------
    def pareto_set(self, conservative: bool | None = None) -> list[ParetoGroup]:
        """The current Pareto groups, cheapest first (after bucketing the cheapest);
        conservative as configured unless told."""
        groups = group_observations(self.observations, self.space)
        conservative = self.config.conservative_pareto if conservative is None else conservative
        return pareto_groups(groups, self.config.min_pareto_cost_fraction, conservative=conservative)

    @property
    def n_sobol(self) -> int:
        return 2 * self.space.dim if self.config.n_sobol is None else self.config.n_sobol

    def best(self, cost_max: float | None = None) -> Recommendation:
        """The configuration run so far with the best *predicted* output among those whose
        mean cost is at most `cost_max` (None: any), with a 90% interval of its mean output.

        The last Pareto member (`pareto_set()[-1]`) is the dearest configuration whose
        observed mean beat every cheaper one: on a noisy task that is often one lucky seed,
        and it ignores a cost cap. Here each configuration is ranked by the output model,
        which pools its repeats with what its neighbours ran, so a lucky run counts for what
        the model believes of it, and the cap picks the best affordable configuration.
        """
        groups = group_observations(self.observations, self.space)
        if not groups:
            raise InputError("best(): no successful observation yet; observe a completed trial first.")
        affordable = [g for g in groups if cost_max is None or g.cost <= cost_max]
        if not affordable:
            raise InputError(f"best(cost_max={cost_max!r}): no configuration run so far costs that little; the "
                             f"cheapest cost {min(g.cost for g in groups):.4g}. Raise cost_max.")
        warp, out_gp, _ = self._models()
        mean, std = out_gp.predict(np.array([g.vector_in_basic for g in affordable]))
        i = int(np.argmin(mean))
        lo, hi = warp.inverse(np.array([mean[i] - 1.645 * std[i], mean[i] + 1.645 * std[i]]))
        g = affordable[i]
        return Recommendation(g.config, float(warp.inverse(mean[i:i + 1])[0]), (float(lo), float(hi)),
                              g.mean_output, g.cost, len(g.observations))

    # -- suggestion -------------------------------------------------------------------------
    def _suggest(self, rng: np.random.Generator) -> tuple[str, list[float], dict[str, float]]:
        n_started = len(self.observations) + len(self.outstanding)
        centre = np.array(self.space.search_center_in_basic)
        if n_started == 0:
            return "centre", centre.tolist(), {}
        if n_started <= self.n_sobol or not self.successes:
            if not self.successes and n_started > self.n_sobol:
                warnings.warn(
                    f"CARBS: none of {len(self.observations)} observations succeeded yet; suggesting "
                    f"quasi-random points around the search centre until one does.",
                    CarbsWarning, stacklevel=3,
                )
            return "sobol", self._sobol_point(centre, n_started).tolist(), {}
        if self._resample_due():
            member = self._resample_member()
            if member is not None:
                return "resample", list(member.vector_in_basic), {"resampled_output": member.output}
        return self._bayes(rng)

    def _sobol_point(self, centre: np.ndarray, index: int) -> np.ndarray:
        sobol = qmc.Sobol(self.space.dim, scramble=True, seed=self.seed)
        sobol.fast_forward(index)
        u = sobol.random(1)[0]
        point = centre + (2 * u - 1) * self.config.sobol_half_width_in_basic
        for j, count in self.space.categories:  # categories have no neighbourhood: spread over all of them
            point[j] = min(int(u[j] * count), count - 1)
        return np.array(self.space.round_in_basic(np.clip(point, self._lo, self._hi)))

    def _resample_due(self) -> bool:
        """Every k-th suggestion after the initial centre + Sobol ones may be a resample."""
        k = self.config.resample_frequency
        after_initial = (self.n_suggested - 1) - (1 + self.n_sobol)  # this suggestion's index
        return k > 0 and after_initial >= 0 and (after_initial + 1) % k == 0

    def _resample_member(self) -> ParetoGroup | None:
        """The plain Pareto member a new seed is worth most for (`search.pareto.resample_priority`);
        None when none needs one. A member with a run outstanding waits for its result."""
        groups = group_observations(self.observations, self.space)
        front = pareto_groups(groups, self.config.min_pareto_cost_fraction)
        pending = {config_key(self.space.to_basic(s.config)) for s in self.outstanding.values()}
        worth = resample_priority(front, noise_sd(groups), self.config.resample_confidence)
        worth = [0.0 if config_key(g.vector_in_basic) in pending else w for w, g in zip(worth, front, strict=True)]
        best = int(np.argmax(worth)) if worth else 0
        return front[best] if worth and worth[best] > 0 else None

    def _radius_growth(self) -> float:
        """2^(results in a row that did not move the front // patience), capped: see
        `CarbsConfig.stall_patience`. A result moves the front when no earlier result was
        both cheaper (or as cheap) and better (or as good)."""
        ok = self.successes
        if not ok:
            return 1.0
        patience = self.config.stall_patience or 3 * self.space.dim
        cost = np.array([o.cost for o in ok])
        out = np.array([o.output for o in ok])
        earlier = np.tri(len(ok), k=-1, dtype=bool)
        dominated = (earlier & (cost[None, :] <= cost[:, None]) & (out[None, :] <= out[:, None])).any(axis=1)
        moved = np.flatnonzero(~dominated)
        stall = len(ok) - 1 - int(moved[-1])
        return float(min(2.0 ** (stall // patience), self.config.max_radius_growth))

    def _radii(self, origins: np.ndarray) -> np.ndarray:
        """Per-origin, per-dimension standard deviation of the search distribution.

        An integer parameter whose neighbouring values are farther apart than the search
        radius (width 16 -> 32 on a log scale) would almost never move, so along that
        dimension the radius widens to the gap: the next value is one deviation away.
        """
        radius = self.config.search_radius_in_basic * self._radius_growth()
        gaps = np.array([self.space.integer_gaps_in_basic(o) for o in origins])
        return np.maximum(radius, gaps)

    def _candidates(self, rng: np.random.Generator, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Candidates around the origins (rounded, clipped) and their locality weight.

        Clipped to the bounds, where the paper's code rejects draws outside them: clipping
        puts draws exactly on a bound, which keeps a front that reached the lr bound early
        there, but also on the size and length bounds, so the search reaches the dearest
        runs sooner (rejecting draws costs more compute to target on carbs_proxy_bench).
        The locality is the search-distribution density of the raw draw, before rounding
        (as in the paper), relative to its peak, max over origins. It weights the
        acquisition as well as shaping the draws, which keeps the search local where the
        surrogate extrapolates poorly. An unordered choice is not moved by a radius but
        switched (`CarbsConfig.category_switch_probability`).
        """
        n = self.config.n_candidates_per_dim * self.space.dim
        radii = self._radii(origins)
        pick = rng.integers(len(origins), size=n)
        raw = np.clip(origins[pick] + rng.normal(size=(n, self.space.dim)) * radii[pick], self._lo, self._hi)
        real = np.ones(self.space.dim, dtype=bool)
        log_ratio = np.zeros((n, len(origins)))  # categorical part of the log locality, per origin
        p = self.config.category_switch_probability
        for j, count in self.space.categories:
            real[j] = False
            if count == 1:
                continue
            switch = rng.random(n) < p
            other = (origins[pick, j] + rng.integers(1, count, size=n)) % count  # a uniformly drawn other one
            raw[:, j] = np.where(switch, other, origins[pick, j])
            # density of the draw from each origin, relative to staying: 1, or p / (k - 1) / (1 - p)
            differs = raw[:, j, None] != origins[None, :, j]
            log_ratio += np.where(differs, math.log(p / (count - 1) / (1 - p)), 0.0)
        X = np.array([self.space.round_in_basic(x) for x in raw])
        z2 = (((raw[:, None, real] - origins[None, :, real]) / radii[None, :, real]) ** 2).sum(axis=-1)
        locality = np.exp(-0.5 * z2 + log_ratio).max(axis=1)
        return X, locality

    def _bayes(self, rng: np.random.Generator) -> tuple[str, list[float], dict[str, float]]:
        # Every observation and outstanding suggestion in basic space, converted once here.
        X_obs = np.array([self.space.to_basic(o.config) for o in self.observations])
        ran = np.array([o.status not in FAILURE_STATUSES for o in self.observations])  # stopped trials ran fine
        X_pending = np.array([self.space.to_basic(s.config) for s in self.outstanding.values()])
        try:
            models = self._models()
            front_groups = self._search_front(models)
        except (RuntimeError, ValueError, np.linalg.LinAlgError) as exc:
            models, front_groups = None, self.pareto_set()
            failure = exc
        origins = np.array([g.vector_in_basic for g in front_groups])
        X, locality = self._candidates(rng, origins)
        taken = {config_key(x) for x in (*X_obs, *X_pending)}
        fresh = np.array([config_key(x) not in taken for x in X])
        try:
            if models is None:
                raise failure
            score, parts = self._acquisition(rng, X, front_groups, models, X_obs, ran, X_pending)
        except (RuntimeError, ValueError, np.linalg.LinAlgError) as exc:
            # GP fitting can fail numerically (e.g. a singular kernel on repeated points).
            warnings.warn(
                f"CARBS: surrogate fit failed ({type(exc).__name__}: {exc}); suggesting the most local "
                f"untried candidate around the Pareto set instead.",
                CarbsWarning, stacklevel=3,
            )
            score, parts = np.ones(len(X)), {}
        score = score * locality
        if fresh.any():
            score = np.where(fresh, score, -np.inf)
        else:
            warnings.warn(
                "CARBS: every candidate repeats a tried or outstanding configuration; the search radius "
                "is too small for the integer rounding. Raise search_radius_in_basic.",
                CarbsWarning, stacklevel=3,
            )
        best = int(np.argmax(score))
        info = {k: float(v[best]) for k, v in parts.items()}
        info["locality"] = float(locality[best])
        return "bayes", X[best].tolist(), info

    # -- surrogates -------------------------------------------------------------------------
    def _model_data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X, output, log cost) the output and cost models learn from: the results, then
        the trials stopped early at their forecast output and full cost."""
        stopped, ok = self._stopping_model()[1], self.successes
        X = np.array([self.space.to_basic(o.config) for o in ok] + [self.space.to_basic(c) for c, _, _ in stopped])
        y_out = np.array([o.output for o in ok] + [y for _, y, _ in stopped])
        y_logc = np.log([o.cost for o in ok] + [c for _, _, c in stopped])
        return X, y_out, y_logc

    def _models(self) -> tuple[OutputWarp, GaussianProcess, GaussianProcess]:
        """The output model (normal scores of the outputs, `OutputWarp`, and a GP on them)
        and the log-cost GP, on all the model data."""
        from tunescale.search.surrogates import OutputWarp

        X, y_out, y_logc = self._model_data()
        warp = OutputWarp.fit(y_out)
        out_gp = self._gp("output", X, y_out, self.config.output_trend, warped=True)
        cost_gp = self._gp("cost", X, y_logc, "linear")
        return warp, out_gp, cost_gp

    def _gp(self, name: str, X: np.ndarray, y: np.ndarray, trend: str | None, *, warped: bool = False
            ) -> GaussianProcess:
        """A GP on all of (X, y) with the hyperparameters of the latest fit checkpoint.

        Checkpoints: m = 1, 2, ... growing by max(1, min(gp_refit_every, m // 4)); the fit at
        checkpoint m sees only the first m points (warped on their own when `warped`), and
        starts from the previous fit, so a checkpoint's hyperparameters depend on the data
        alone, not on when a suggestion or a `best` asked for them. They are kept in the
        saved state, so a loaded search resumes with the same models.
        """
        from tunescale.search.surrogates import GaussianProcess, OutputWarp

        def transform(values: np.ndarray) -> np.ndarray:
            return OutputWarp.fit(values)(values) if warped else values

        n, (fitted_at, hypers) = len(X), self.gp_hyperparameters.get(name, (0, None))
        m = fitted_at
        while True:
            nxt = m + max(1, min(self.config.gp_refit_every, m // 4))
            if nxt > n:
                break
            m = nxt
        categories = self.space.categories
        if m != fitted_at or hypers is None:
            m = max(m, 1)
            gp = GaussianProcess.fit(X[:m], transform(y[:m]), trend=trend, init=hypers, categories=categories)
            hypers = gp.hyperparameters()
            self.gp_hyperparameters[name] = (m, hypers)
            if m == n:
                return gp
        return GaussianProcess.with_hyperparameters(X, transform(y), trend=trend, hyperparameters=hypers,
                                                    categories=categories)

    def _search_front(self, models: tuple[OutputWarp, GaussianProcess, GaussianProcess]) -> list[ParetoGroup]:
        """The conservative Pareto set with each group's output raised to the output model's
        posterior mean at it (`search.pareto`): the front the search starts from and must beat."""
        warp, out_gp, _ = models
        groups = group_observations(self.observations, self.space)
        if not groups or not self.config.shrink_to_model:
            return pareto_groups(groups, self.config.min_pareto_cost_fraction,
                                 conservative=self.config.conservative_pareto)
        noise = noise_sd(groups)
        if noise is None:
            return pareto_groups(groups, self.config.min_pareto_cost_fraction,
                                 conservative=self.config.conservative_pareto)
        mean, _ = out_gp.predict(np.array([g.vector_in_basic for g in groups]))
        bound = self.config.resample_confidence * noise
        shrunk = [replace(g, predicted_output=float(p) - bound / math.sqrt(len(g.observations)))
                  for g, p in zip(groups, warp.inverse(mean), strict=True)]
        return pareto_groups(shrunk, self.config.min_pareto_cost_fraction, conservative=self.config.conservative_pareto)

    def _acquisition(
        self, rng: np.random.Generator, X: np.ndarray, front_groups: list[ParetoGroup],
        models: tuple[OutputWarp, GaussianProcess, GaussianProcess],
        X_obs: np.ndarray, ran: np.ndarray, X_pending: np.ndarray,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Score candidates X; X_obs are the observations in basic space, ran their mask of
        runs that were not failures, X_pending the outstanding suggestions (see `_bayes`)."""
        warp, out_gp, cost_gp = models
        if len(X_pending):
            if self.config.outstanding_fantasy == "believer":
                fantasy = out_gp.predict(X_pending)[0]
            else:
                fantasy = out_gp.sample(X_pending, seed=int(rng.integers(2**31)))
            out_gp = out_gp.condition(X_pending, fantasy)
        mu, sigma = out_gp.predict(X)
        logc, logc_std = cost_gp.predict(X)
        p_success = self._success_probability(X, X_obs, ran)

        # target: the front at the candidate's cost, clamped by the front at a random cost
        front = ParetoFront.from_groups(front_groups)
        lo_c, hi_c = front.log_cost[0], front.log_cost[-1]
        if self.config.max_suggestion_cost is not None:
            hi_c = max(lo_c, min(hi_c, math.log(self.config.max_suggestion_cost)))
        threshold = rng.uniform(lo_c, hi_c)
        target = np.minimum(front.predict(logc), front.predict(np.array([threshold]))[0])

        # expected improvement below the target (minimisation), in normal scores
        z = (warp(target) - self.config.exploration_bias - mu) / sigma
        ei = sigma * (z * norm.cdf(z) + norm.pdf(z))

        # soft cost cap through the cost model
        p_cheap = np.ones(len(X))
        if self.config.max_suggestion_cost is not None:
            p_cheap = norm.cdf((math.log(self.config.max_suggestion_cost) - logc) / np.maximum(logc_std, 1e-6))
        parts = {
            "predicted_output": warp.inverse(mu), "predicted_score": mu, "predicted_score_std": sigma,
            "predicted_cost": np.exp(logc),
            "target_output": target, "expected_improvement": ei, "success_probability": p_success,
        }
        return ei * p_success * p_cheap, parts

    def _success_probability(self, X: np.ndarray, X_obs: np.ndarray, ran: np.ndarray) -> np.ndarray:
        if ran.all():
            return np.ones(len(X))
        mean, _ = self._gp("success", X_obs, ran.astype(float), None).predict(X)
        # A small floor keeps the ranking informative where every candidate looks risky.
        return np.clip(mean, 1e-3, 1.0)
