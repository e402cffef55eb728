"""CARBS against Optuna TPE, Optuna GP, random search and ASHA on a cost-aware problem.

    python benchmarks/carbs_bench.py [--seeds 3] [--max-trials 60] [--budget 1e20]

(a) Synthetic problem with a known answer: loss follows the Chinchilla law (Hoffmann et
al. 2022, Approach 3 constants: E=1.69, A=406.4, alpha=0.34, B=410.7, beta=0.28) in
model size N and tokens D, plus a learning-rate basin k*ln(lr/lr*(N))^2 whose optimum
lr*(N) = 3e-3 * (N/1e7)^-0.3 moves with N, plus Gaussian noise (sd 0.005).
Cost = 6*N*D FLOPs. Every method gets the same total compute (--budget) and at most
--max-trials trials, one trial at a time.

Figures per method, over seeds:
- compute to target: cumulative FLOPs spent until the first trial whose loss is at
  most the target (the compute-optimal loss at C = 1e18 FLOPs plus 0.02), and its
  ratio to the best peer (geometric mean over seeds; a value is capped at the budget:
  a run that never reaches the target, or whose last trial overshoots the budget,
  counts as the whole budget, which favours the peer);
- Pareto hypervolume in (log10 cost, loss) with reference point (budget, 5.0).
ASHA is Optuna's SuccessiveHalvingPruner (asynchronous successive halving, Li et al.
2020) over random configurations, with tokens as the resource: a pruned trial pays
only for the tokens it trained on. Ray Tune's ASHAScheduler would need one Ray trial per
configuration, which on this 2-core shared machine costs more wall time than the whole
comparison; the pruning rule is the same.
Also: CARBS suggestion latency with 500 observations (goal <= 1 s).
The machine is shared with other engineers, so timings are contended.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from the repo root
from tunescale.search import Carbs, CarbsConfig, Observation, hypervolume_2d
from tunescale.search.space import LogParam, Space
from tunescale.search.space_convert import to_optuna

E, A, ALPHA, B, BETA = 1.69, 406.4, 0.34, 410.7, 0.28
LR_BASIN = 0.05  # loss added per unit of ln(lr / lr*)^2
NOISE_SD = 0.005
TARGET_COMPUTE = 1e18
TARGET_MARGIN = 0.02
REF_LOSS = 5.0


def lr_star(n: float) -> float:
    return 3e-3 * (n / 1e7) ** -0.3


def true_loss(n: float, d: float, lr: float) -> float:
    return E + A / n**ALPHA + B / d**BETA + LR_BASIN * math.log(lr / lr_star(n)) ** 2


def compute_optimal_loss(c: float) -> float:
    n = np.logspace(5, 11, 4001)
    return float(np.min(E + A / n**ALPHA + B / (c / (6 * n)) ** BETA))


def space() -> Space:
    return Space([
        # Continuous N: Optuna's GP sampler enumerates integer choices, and 1e9 of them exhaust memory.
        LogParam("params", 1e7, min=1e6, max=1e9),
        LogParam("tokens", 2e8, min=1e7, max=1e11),
        LogParam("lr", 1e-3, min=1e-5, max=1.0),
    ])


class Run:
    """Books one method's trials against the compute budget."""

    def __init__(self, budget: float, max_trials: int, target: float) -> None:
        self.budget, self.max_trials, self.target = budget, max_trials, target
        self.spent, self.trials, self.to_target = 0.0, [], math.inf
        self.searcher: Carbs | None = None  # kept for the learned-scaling figures

    @property
    def open(self) -> bool:
        return self.spent < self.budget and len(self.trials) < self.max_trials

    def record(self, cost: float, loss: float) -> None:
        self.spent += cost
        self.trials.append((cost, loss))
        if loss <= self.target and math.isinf(self.to_target):
            self.to_target = self.spent

    def hypervolume(self) -> float:
        costs, losses = zip(*self.trials, strict=True)
        return hypervolume_2d(costs, losses, self.budget, REF_LOSS)


def evaluate(config: dict, rng: np.random.Generator) -> tuple[float, float]:
    n, d = config["params"], config["tokens"]
    return true_loss(n, d, config["lr"]) + rng.normal(0, NOISE_SD), 6.0 * n * d


def run_carbs(seed: int, run: Run) -> None:
    rng = np.random.default_rng(seed)
    searcher = Carbs(space(), seed=seed, config=CarbsConfig())
    run.searcher = searcher
    while run.open:
        s = searcher.suggest()
        loss, cost = evaluate(s.config, rng)
        run.record(cost, loss)
        searcher.observe(Observation(s.config, loss, cost, seed=s.seed, suggestion_id=s.suggestion_id))


def run_optuna(sampler: optuna.samplers.BaseSampler, seed: int, run: Run) -> None:
    rng = np.random.default_rng(seed)
    dists = to_optuna(space())
    study = optuna.create_study(sampler=sampler)
    while run.open:
        trial = study.ask(dists)
        loss, cost = evaluate(trial.params, rng)
        run.record(cost, loss)
        study.tell(trial, loss)


def run_asha(seed: int, run: Run) -> None:
    rng = np.random.default_rng(seed)
    dists = to_optuna(space())
    rungs = (1 / 27, 1 / 9, 1 / 3, 1.0)  # token fractions, reduction factor 3
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed), pruner=pruner)
    while run.open:
        trial = study.ask(dists)
        n, d, lr = trial.params["params"], trial.params["tokens"], trial.params["lr"]
        pruned = False
        for step, frac in enumerate(rungs):
            loss = true_loss(n, d * frac, lr) + rng.normal(0, NOISE_SD)
            trial.report(loss, step=3**step)
            if frac < 1.0 and trial.should_prune():
                pruned = True
                break
        run.record(6.0 * n * d * frac, loss)
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, loss)


METHODS = {
    "carbs": run_carbs,
    # 4 random startup trials (not Optuna's 10): at this budget a cost-unaware sampler runs only
    # ~12 trials, and with 10 startups TPE and GP would be random search under another name.
    "optuna_tpe": lambda seed, run: run_optuna(optuna.samplers.TPESampler(seed=seed, n_startup_trials=4), seed, run),
    "optuna_gp": lambda seed, run: run_optuna(optuna.samplers.GPSampler(seed=seed, n_startup_trials=4), seed, run),
    "random": lambda seed, run: run_optuna(optuna.samplers.RandomSampler(seed=seed), seed, run),
    "asha": run_asha,
}


def learned_scaling_report(searcher: Carbs, figures: Path) -> None:
    """Fit each HP against cost on the Pareto set and compare with the known optimum laws."""
    from tunescale.search.learned_scaling import fit_learned_scaling
    from tunescale.search.plots import plot_learned_scaling, plot_pareto

    # Known answer: minimising the Chinchilla law at fixed C = 6ND gives N* ~ C^(beta/(alpha+beta)),
    # D* ~ C^(alpha/(alpha+beta)), and lr*(N*) ~ C^(-0.3 * beta/(alpha+beta)).
    truth = {"params": BETA / (ALPHA + BETA), "tokens": ALPHA / (ALPHA + BETA), "lr": -0.3 * BETA / (ALPHA + BETA)}
    front = searcher.pareto_set()
    learned = fit_learned_scaling(front)
    print(f"\nlearned HP-vs-cost laws on the CARBS seed-0 Pareto set ({len(front)} members):")
    for name, law in learned.laws.items():
        lo, hi = law.intervals["cost"]
        print(f"  {name:7s} exponent {law.coef['cost']:+.3f}  [{lo:+.3f}, {hi:+.3f}]"
              f"   known optimum {truth[name]:+.3f}")
    figures.mkdir(parents=True, exist_ok=True)
    plot_pareto(searcher, front, figures / "carbs_pareto.png", cost_label="cost (FLOPs = 6ND)")
    plot_learned_scaling(front, learned, figures / "carbs_learned_scaling.png")
    print(f"  figures: {figures / 'carbs_pareto.png'}, {figures / 'carbs_learned_scaling.png'}")


def suggestion_latency(n_obs: int = 500, repeats: int = 5) -> float:
    """Median seconds per CARBS suggestion once n_obs observations are in."""
    rng = np.random.default_rng(0)
    searcher = Carbs(space(), seed=0)
    sp = space()
    for _ in range(n_obs):
        basic = [c + rng.normal(0, 1.0) for c in sp.search_center_in_basic]
        config = sp.from_basic(basic)
        loss, cost = evaluate(config, rng)
        searcher.observe(Observation(config, loss, cost))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        searcher.suggest()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-trials", type=int, default=60)
    parser.add_argument("--budget", type=float, default=1e20)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--figures", type=Path, default=Path("runs/carbs_bench"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    target = compute_optimal_loss(TARGET_COMPUTE) + TARGET_MARGIN
    print(
        f"(a) synthetic Chinchilla + moving-lr problem; target loss {target:.4f} "
        f"(compute-optimal at {TARGET_COMPUTE:.0e} FLOPs + {TARGET_MARGIN}); budget {args.budget:.0e} FLOPs, "
        f"<= {args.max_trials} trials, {args.seeds} seeds"
    )
    results: dict[str, list[Run]] = {}
    for name in args.methods.split(","):
        results[name] = []
        t0 = time.perf_counter()
        for seed in range(args.seeds):
            run = Run(args.budget, args.max_trials, target)
            METHODS[name](seed, run)
            results[name].append(run)
        print(f"  ran {name:11s} in {time.perf_counter() - t0:6.1f} s")

    def to_target(runs: list[Run]) -> list[float]:
        return [min(r.to_target, r.budget) for r in runs]

    def geomean(xs: list[float]) -> float:
        return float(np.exp(np.mean(np.log(xs))))

    mean_hv = {name: statistics.mean(r.hypervolume() for r in runs) for name, runs in results.items()}
    peers = [m for m in results if m != "carbs"]
    best_peer = min(peers, key=lambda m: geomean(to_target(results[m]))) if peers else None
    print(
        f"\n{'method':12s} {'reached':>8s} {'FLOPs to target (geomean)':>26s} {'per seed':>40s} "
        f"{'hypervolume':>12s} {'trials':>7s}"
    )
    for name, runs in results.items():
        reached = sum(not math.isinf(r.to_target) for r in runs)
        per_seed = " ".join(
            f"{x:.2e}" if not math.isinf(r.to_target) else "not" for x, r in zip(to_target(runs), runs, strict=True)
        )
        print(
            f"{name:12s} {reached:>5d}/{len(runs)} {geomean(to_target(runs)):>26.3e} {per_seed:>40s} "
            f"{mean_hv[name]:>12.3f} {statistics.mean(len(r.trials) for r in runs):>7.1f}"
        )
    if best_peer and "carbs" in results:
        ratio = geomean(to_target(results["carbs"])) / geomean(to_target(results[best_peer]))
        hv_peer = max(peers, key=mean_hv.__getitem__)
        hv_ratio = mean_hv["carbs"] / mean_hv[hv_peer]
        print(f"\nCARBS compute to target / best peer ({best_peer}): {ratio:.3f}  (goal <= 0.5)")
        print(f"CARBS hypervolume / best peer's ({hv_peer}): {hv_ratio:.3f}")
    if "carbs" in results:
        learned_scaling_report(results["carbs"][0].searcher, args.figures)
    print(
        f"\nCARBS suggestion latency with 500 observations: {suggestion_latency():.3f} s (goal <= 1 s; "
        f"shared 2-core machine, contended)"
    )


if __name__ == "__main__":
    main()
