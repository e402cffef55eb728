"""CARBS against Optuna TPE and GP (4 and 10 start-up trials) and random search at equal compute.

    python benchmarks/carbs_compare.py [--seeds 10] [--max-trials 100] [--budget 1e20] [--methods ...] [--jobs 1]

At the defaults no method reaches the trial cap (CARBS crosses the budget after ~27 trials)
and the run takes ~11 min with --jobs 2 on the loaded 2-core machine, mostly CARBS's and
Optuna GP's suggestions; --budget 1e21 (every configuration affordable) needs --max-trials
60 to stay near 15 min, where random search hits the cap.

Problem: the synthetic Chinchilla + moving-lr problem of `carbs_bench.py` (cost 6ND, seed
noise sd 0.005), no HPO table with costs installs here.

Targets: the 1% and 0.2% quantiles of the true loss over the configurations a method can
afford, i.e. uniform draws in log space over the search box (200k) whose one run costs at
most the budget (6ND <= budget); the box's dearer corner is out of reach and would set
targets no method can meet.
Equal compute: every method runs trials one at a time while it has spent less than the
budget and run fewer than --max-trials; the trial that takes it past the budget runs in
full and counts, for every method alike (its result is also what the method may return).
Reported per method and target: compute until the end of the first trial whose true loss
is at or below the target, or all the compute spent (at least the budget) when none is
(geometric mean over seeds with a 90% bootstrap interval, and how many seeds reached it),
and the true loss of the configuration each method returns (CARBS: `best()`; Optuna and
random search: the trial with the best observed loss), mean over seeds.
`carbs_offcentre` starts CARBS from a centre in the worst half of the space (lr 50x below
the optimum at the centre's size): its compute to target / CARBS's is the centre cost.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import optuna
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from the repo root
sys.path.insert(0, str(Path(__file__).resolve().parent))
from carbs_bench import evaluate, lr_star, space, true_loss  # noqa: E402

from tunescale.search import Carbs, Observation  # noqa: E402
from tunescale.search.space import LogParam, Space  # noqa: E402
from tunescale.search.space_convert import to_optuna  # noqa: E402


def offcentre_space() -> Space:
    return Space([LogParam("params", 1e7, min=1e6, max=1e9), LogParam("tokens", 2e8, min=1e7, max=1e11),
                  LogParam("lr", lr_star(1e7) / 50, min=1e-5, max=1.0)])


def quantile_targets(q: tuple[float, ...], budget: float, draws: int = 200_000) -> list[float]:
    """Quantiles of the true loss over the box's configurations whose one run fits the budget."""
    rng = np.random.default_rng(0)
    lo, hi = np.log([1e6, 1e7, 1e-5]), np.log([1e9, 1e11, 1.0])
    n, d, lr = np.exp(rng.uniform(lo, hi, size=(draws, 3))).T
    affordable = 6.0 * n * d <= budget
    losses = [true_loss(*x) for x in zip(n[affordable], d[affordable], lr[affordable], strict=True)]
    return [float(np.quantile(losses, x)) for x in q]


def run_carbs(seed, budget, max_trials, sp=None):
    rng, searcher = np.random.default_rng(seed), Carbs(sp or space(), seed=seed)
    trials, spent = [], 0.0
    while spent < budget and len(trials) < max_trials:
        s = searcher.suggest()
        loss, cost = evaluate(s.config, rng)
        spent += cost
        trials.append((cost, true_loss(s.config["params"], s.config["tokens"], s.config["lr"])))
        searcher.observe(Observation(s.config, loss, cost, seed=s.seed, suggestion_id=s.suggestion_id))
    c = searcher.best().config
    return trials, true_loss(c["params"], c["tokens"], c["lr"])


def run_optuna(sampler, seed, budget, max_trials):
    rng, dists = np.random.default_rng(seed), to_optuna(space())
    study, trials, spent = optuna.create_study(sampler=sampler), [], 0.0
    while spent < budget and len(trials) < max_trials:
        t = study.ask(dists)
        loss, cost = evaluate(t.params, rng)
        spent += cost
        trials.append((cost, true_loss(t.params["params"], t.params["tokens"], t.params["lr"])))
        study.tell(t, loss)
    p = study.best_params
    return trials, true_loss(p["params"], p["tokens"], p["lr"])


S = optuna.samplers
METHODS = {
    "carbs": run_carbs,
    "carbs_offcentre": lambda s, b, m: run_carbs(s, b, m, offcentre_space()),
    "tpe4": lambda s, b, m: run_optuna(S.TPESampler(seed=s, n_startup_trials=4), s, b, m),
    "tpe10": lambda s, b, m: run_optuna(S.TPESampler(seed=s, n_startup_trials=10), s, b, m),
    "gp4": lambda s, b, m: run_optuna(S.GPSampler(seed=s, n_startup_trials=4), s, b, m),
    "gp10": lambda s, b, m: run_optuna(S.GPSampler(seed=s, n_startup_trials=10), s, b, m),
    "random": lambda s, b, m: run_optuna(S.RandomSampler(seed=s), s, b, m),
}


def to_target(trials, target, budget) -> tuple[float, bool]:
    """(compute until the end of the first trial whose true loss is at or below the target,
    True), or (all the compute spent, at least the budget, False) when none is."""
    spent = 0.0
    for cost, loss in trials:
        spent += cost
        if loss <= target:
            return spent, True
    return max(spent, budget), False


def geomean_interval(xs: list[float], draws: int = 2000) -> tuple[float, float, float]:
    rng, logs = np.random.default_rng(0), np.log(xs)
    boot = [np.exp(rng.choice(logs, len(logs)).mean()) for _ in range(draws)]
    lo, hi = np.percentile(boot, [5, 95])
    return float(np.exp(logs.mean())), float(lo), float(hi)


def run_method(job: tuple[str, int, float, int]) -> tuple[list, float]:
    name, seed, budget, max_trials = job
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")
    return METHODS[name](seed, budget, max_trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--max-trials", type=int, default=100)
    parser.add_argument("--budget", type=float, default=1e20)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--jobs", type=int, default=1, help="seeds run in parallel processes")
    args = parser.parse_args()
    targets = quantile_targets((0.01, 0.002), args.budget)
    print(f"targets: 1% quantile {targets[0]:.4f}, 0.2% quantile {targets[1]:.4f} (over configurations costing "
          f"<= the budget); budget {args.budget:.0e} FLOPs, <= {args.max_trials} trials, {args.seeds} seeds")
    results = {}
    with ProcessPoolExecutor(args.jobs) as pool:
        for name in args.methods.split(","):
            t0 = time.perf_counter()
            results[name] = list(pool.map(run_method, [(name, s, args.budget, args.max_trials)
                                                       for s in range(args.seeds)]))
            print(f"  ran {name:16s} in {time.perf_counter() - t0:6.1f} s", flush=True)
    print(f"\n{'method':16s} " + " ".join(f"{f'FLOPs to {q} (90%) reached':>42s}" for q in ("1%", "0.2%"))
          + f" {'returned true loss':>19s} {'trials':>7s} {'spent/budget':>13s}")
    summary = {}
    for name, runs in results.items():
        cells = []
        for j, target in enumerate(targets):
            hits = [to_target(t, target, args.budget) for t, _ in runs]
            g, lo, hi = geomean_interval([h for h, _ in hits])
            summary[(name, j)] = g
            cells.append(f"{g:.2e} ({lo:.1e}-{hi:.1e}) {sum(r for _, r in hits):>2d}/{len(runs)}")
        returned = [r for _, r in runs]
        summary[(name, "ret")] = float(np.mean(returned))
        spent = np.mean([sum(c for c, _ in t) / args.budget for t, _ in runs])
        print(f"{name:16s} " + " ".join(f"{c:>42s}" for c in cells)
              + f" {np.mean(returned):>10.4f} +- {np.std(returned) / np.sqrt(len(returned)):.4f}"
              + f" {np.mean([len(t) for t, _ in runs]):>7.1f} {spent:>13.2f}")
    peers = [m for m in results if not m.startswith("carbs")]
    for j, q in enumerate(("1%", "0.2%")):
        if "carbs" in results and peers:
            best = min(peers, key=lambda m: summary[(m, j)])
            print(f"{q} target: CARBS / best peer ({best}) = {summary[('carbs', j)] / summary[(best, j)]:.2f} "
                  f"(goal <= 0.5)", end="")
            if "carbs_offcentre" in results:
                print(f"; off-centre / centred = {summary[('carbs_offcentre', j)] / summary[('carbs', j)]:.2f} "
                      f"(goal <= 1.2)", end="")
            print()
    if "carbs" in results and peers:
        best = min(peers, key=lambda m: summary[(m, "ret")])
        print(f"returned configuration: CARBS {summary[('carbs', 'ret')]:.4f} vs best peer ({best}) "
              f"{summary[(best, 'ret')]:.4f}")


if __name__ == "__main__":
    main()
