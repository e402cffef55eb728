"""Where CARBS spends its compute on a carbs_compare task, seed by seed, against a peer.

    python benchmarks/carbs_trace.py [--task chinchilla] [--seeds 10] [--budget 1e20] [--max-trials 100] [--peer random]

Per seed and target (carbs_compare's 1% and 0.2% quantiles): the trial that first reaches it,
the compute until then split by suggestion kind (centre, sobol, bayes, resample), the share
spent on trials costing under 1/100 of the hitting trial, and the hitting trial's cost; the
same for the peer (an Optuna sampler of carbs_compare, which has no suggestion kinds). Also
the oracle: the cheapest single run that reaches the target (lr and wd at their optima), the
floor of compute to target for any method that does not know the answer.
At the end, over the seeds where CARBS reached the 1% target, the mean share of its compute
to target that went to the hitting trial, to rungs (trials dearer than every earlier one),
to fill-in (the other Bayesian trials), to resamples and to the centre and Sobol starts; and
the mean HP penalty (true loss above that of the same size and tokens with the other
parameters at their optima) of its trials within a decade below the hitting trial.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import optuna
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from the repo root
sys.path.insert(0, str(Path(__file__).resolve().parent))
from carbs_compare import METHODS, TASKS, Task, quantile_targets  # noqa: E402

from tunescale.search import Carbs, Observation  # noqa: E402


def carbs_trials(task_name: str, seed: int, budget: float, max_trials: int) -> list[tuple[str, float, float, float]]:
    """(kind, cost, true loss, HP penalty) per trial."""
    task = TASKS[task_name]
    rng, searcher, spent, out = np.random.default_rng(seed), Carbs(task.space(), seed=seed), 0.0, []
    while spent < budget and len(out) < max_trials:
        s = searcher.suggest()
        loss, cost = task.evaluate(s.config, rng)
        spent += cost
        y = task.true_loss(s.config)
        out.append((s.kind, cost, y, y - task.true_loss(task.optimum(s.config["params"], s.config["tokens"]))))
        searcher.observe(Observation(s.config, loss, cost, seed=s.seed, suggestion_id=s.suggestion_id))
    return out


def peer_trials(task: Task, name: str, seed: int, budget: float, max_trials: int) -> list[tuple[str, float, float]]:
    trials, _ = METHODS[name](task, seed, budget, max_trials)
    return [("peer", c, y, math.nan) for c, y in trials]


def breakdown(trials, target):
    spent, by_kind = 0.0, {}
    for i, (kind, cost, loss, _) in enumerate(trials):
        spent += cost
        by_kind[kind] = by_kind.get(kind, 0.0) + cost
        if loss <= target:
            cheap = sum(t[1] for t in trials[:i + 1] if t[1] < cost / 100)
            return i + 1, spent, cost, by_kind, cheap
    return None, spent, None, by_kind, 0.0


def shares(trials, hit: int) -> dict[str, float]:
    """Shares of the compute up to trial `hit` (1-based, the first to reach the target) by role."""
    out, top = dict.fromkeys(("hit", "rungs", "fill-in", "resamples", "starts"), 0.0), 0.0
    for kind, cost, _, _ in trials[:hit - 1]:
        role = {"resample": "resamples", "centre": "starts", "sobol": "starts"}.get(kind)
        out[role or ("rungs" if cost > top else "fill-in")] += cost
        top = max(top, cost)
    out["hit"] = trials[hit - 1][1]
    total = sum(out.values())
    return {k: v / total for k, v in out.items()}


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
    oracles = [TASKS[args.task].oracle_cost(t) for t in targets]
    print(f"targets {targets[0]:.4f} {targets[1]:.4f}; oracle single-run cost {oracles[0]:.2e} {oracles[1]:.2e}")
    role_shares, penalties = [], []
    for seed in range(args.seeds):
        runs = {"carbs": carbs_trials(args.task, seed, args.budget, args.max_trials),
                args.peer: peer_trials(task, args.peer, seed, args.budget, args.max_trials)}
        for name, trials in runs.items():
            costs = np.array([t[1] for t in trials])
            ladder = " ".join(f"{np.log10(t[1]):.1f}{t[0][0]}" for t in trials)
            print(f"seed {seed} {name:7s} {len(trials):3d} trials, spent {costs.sum():.2e}; log10 cost/kind: {ladder}")
            for q, target in zip(("1%", "0.2%"), targets, strict=True):
                i, spent, cost, by_kind, cheap = breakdown(trials, target)
                kinds = " ".join(f"{k}={v / spent:.2f}" for k, v in sorted(by_kind.items()))
                hit = f"trial {i:3d} cost {cost:.2e}" if i else "not reached"
                print(f"    {q:4s} {hit:26s} spent {spent:.2e} (x{spent / oracles[q == '0.2%']:.1f} oracle)"
                      f" hit/spent {0 if cost is None else cost / spent:.2f}; by kind {kinds};"
                      f" cheap {cheap / spent:.2f}")
                if name == "carbs" and q == "1%" and i:
                    role_shares.append(shares(trials, i))
                    penalties += [t[3] for t in trials[:i] if t[1] >= cost / 10]
        sys.stdout.flush()
    if role_shares:
        mean = {k: np.mean([r[k] for r in role_shares]) for k in role_shares[0]}
        print(f"CARBS compute to the 1% target over {len(role_shares)} seeds that reached it: "
              + " ".join(f"{k} {v:.2f}" for k, v in mean.items())
              + f"; mean HP penalty of trials within a decade below the hit {np.mean(penalties):.4f}"
              + f" (n={len(penalties)})")


if __name__ == "__main__":
    main()
