"""Where CARBS spends its compute on a carbs_compare task, seed by seed, against a peer.

    python benchmarks/carbs_trace.py [--task chinchilla] [--seeds 10] [--budget 1e20] [--max-trials 100] [--peer random]

Per seed and target (carbs_compare's 1% and 0.2% quantiles): the trial that first reaches it,
the compute until then split by suggestion kind (centre, sobol, bayes, resample), the share
spent on trials costing under 1/100 of the hitting trial, and the hitting trial's cost; the
same for the peer (an Optuna sampler of carbs_compare, which has no suggestion kinds). Also
the oracle: the cheapest single run that reaches the target (lr and wd at their optima), the
floor of compute to target for any method that does not know the answer.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import optuna
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from the repo root
sys.path.insert(0, str(Path(__file__).resolve().parent))
from carbs_bench import lr_star  # noqa: E402
from carbs_compare import METHODS, TASKS, Task, epoch_lr_star, quantile_targets  # noqa: E402

from tunescale.search import Carbs, Observation  # noqa: E402


def optimum(task: str, n: float, d: float) -> dict:
    """The configuration of size n and tokens d with the other parameters at their optima."""
    if task == "chinchilla":
        return {"params": n, "tokens": d, "lr": lr_star(n)}
    lr = epoch_lr_star(n)
    return {"params": n, "tokens": d, "lr": lr, "wd": 1.0 / (lr * (d / 2.5e5) / 2)}


def oracle_cost(task: str, target: float, grid: int = 801) -> float:
    """Cheapest run over the box whose true loss at the best other parameters is at most the target."""
    t = TASKS[task]
    n, d = np.meshgrid(np.logspace(6, 9, grid), np.logspace(7, 11, grid))
    loss = np.vectorize(lambda a, b: t.true_loss(optimum(task, a, b)))(n, d)
    cost = np.vectorize(lambda a, b: t.cost({"params": a, "tokens": b}))(n, d)
    return float(cost[loss <= target].min()) if (loss <= target).any() else float("inf")


def carbs_trials(task: Task, seed: int, budget: float, max_trials: int) -> list[tuple[str, float, float]]:
    rng, searcher, spent, out = np.random.default_rng(seed), Carbs(task.space(), seed=seed), 0.0, []
    while spent < budget and len(out) < max_trials:
        s = searcher.suggest()
        loss, cost = task.evaluate(s.config, rng)
        spent += cost
        out.append((s.kind, cost, task.true_loss(s.config)))
        searcher.observe(Observation(s.config, loss, cost, seed=s.seed, suggestion_id=s.suggestion_id))
    return out


def peer_trials(task: Task, name: str, seed: int, budget: float, max_trials: int) -> list[tuple[str, float, float]]:
    trials, _ = METHODS[name](task, seed, budget, max_trials)
    return [("peer", c, y) for c, y in trials]


def breakdown(trials, target):
    spent, by_kind = 0.0, {}
    for i, (kind, cost, loss) in enumerate(trials):
        spent += cost
        by_kind[kind] = by_kind.get(kind, 0.0) + cost
        if loss <= target:
            cheap = sum(c for _, c, _ in trials[:i + 1] if c < cost / 100)
            return i + 1, spent, cost, by_kind, cheap
    return None, spent, None, by_kind, 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="chinchilla", choices=list(TASKS))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=float, default=1e20)
    parser.add_argument("--max-trials", type=int, default=100)
    parser.add_argument("--peer", default="random")
    args = parser.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")
    task = TASKS[args.task]
    targets = quantile_targets(task, (0.01, 0.002), args.budget)
    oracles = [oracle_cost(args.task, t) for t in targets]
    print(f"targets {targets[0]:.4f} {targets[1]:.4f}; oracle single-run cost {oracles[0]:.2e} {oracles[1]:.2e}")
    for seed in range(args.seeds):
        runs = {"carbs": carbs_trials(task, seed, args.budget, args.max_trials),
                args.peer: peer_trials(task, args.peer, seed, args.budget, args.max_trials)}
        for name, trials in runs.items():
            costs = np.array([c for _, c, _ in trials])
            ladder = " ".join(f"{np.log10(c):.1f}{k[0]}" for k, c, _ in trials)
            print(f"seed {seed} {name:7s} {len(trials):3d} trials, spent {costs.sum():.2e}; log10 cost/kind: {ladder}")
            for q, target in zip(("1%", "0.2%"), targets, strict=True):
                i, spent, cost, by_kind, cheap = breakdown(trials, target)
                kinds = " ".join(f"{k}={v / spent:.2f}" for k, v in sorted(by_kind.items()))
                hit = f"trial {i:3d} cost {cost:.2e}" if i else "not reached"
                print(f"    {q:4s} {hit:26s} spent {spent:.2e} (x{spent / oracles[q == '0.2%']:.1f} oracle)"
                      f" hit/spent {0 if cost is None else cost / spent:.2f}; by kind {kinds};"
                      f" cheap {cheap / spent:.2f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
