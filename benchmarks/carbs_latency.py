"""CARBS suggestion latency against Optuna's GP sampler, in the same process.

    python benchmarks/carbs_latency.py [--sizes 25,200,500] [--repeats 10] [--sequential 200] [--threads 1]

Problem: the synthetic Chinchilla + moving-lr problem of `carbs_bench.py` (3 searched
parameters). Per size n, both searchers are warm-started with the same n random
observations, asked once (not timed: CARBS's first ask fits its GPs from scratch, which a
sweep does only at its start), then asked `--repeats` times in a row (each answer observed
before the next ask): mean seconds per suggestion. CARBS refits its GP hyperparameters
only at data checkpoints (`Carbs._gp`, at most every 10 observations), so the mean over
10 consecutive asks includes about one refit, as a sequential sweep sees it. Then the cumulative
time of `--sequential` suggestions from scratch (each observed before the next), as a
sweep spends it. Ratios are CARBS / Optuna GP (goal <= 1 at 200 observations, and <= 50 s
cumulative over 200 suggestions). The machine is shared: both methods run under the same
load in one process, so the ratio means more than the seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from the repo root
sys.path.insert(0, str(Path(__file__).resolve().parent))
from carbs_bench import evaluate, space  # noqa: E402

from tunescale.search import Carbs, Observation  # noqa: E402
from tunescale.search.space_convert import to_optuna  # noqa: E402


def random_trials(n: int, rng: np.random.Generator) -> list[tuple[dict, float, float]]:
    sp = space()
    out = []
    for _ in range(n):
        config = sp.from_basic([c + rng.normal(0, 1.0) for c in sp.search_center_in_basic])
        loss, cost = evaluate(config, rng)
        out.append((config, loss, cost))
    return out


class CarbsAsker:
    def __init__(self, trials: list[tuple[dict, float, float]]) -> None:
        self.searcher = Carbs(space(), seed=0)
        for config, loss, cost in trials:
            self.searcher.observe(Observation(config, loss, cost))
        self.searcher.n_suggested = len(trials)  # past the centre and Sobol starts

    def ask_and_tell(self, rng: np.random.Generator) -> float:
        t0 = time.perf_counter()
        s = self.searcher.suggest()
        elapsed = time.perf_counter() - t0
        loss, cost = evaluate(s.config, rng)
        self.searcher.observe(Observation(s.config, loss, cost, seed=s.seed, suggestion_id=s.suggestion_id))
        return elapsed


class OptunaGpAsker:
    def __init__(self, trials: list[tuple[dict, float, float]]) -> None:
        self.dists = to_optuna(space())
        self.study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=0))
        for config, loss, _ in trials:
            self.study.add_trial(optuna.trial.create_trial(params=config, distributions=self.dists, value=loss))

    def ask_and_tell(self, rng: np.random.Generator) -> float:
        t0 = time.perf_counter()
        trial = self.study.ask(self.dists)
        elapsed = time.perf_counter() - t0
        loss, _ = evaluate(trial.params, rng)
        self.study.tell(trial, loss)
        return elapsed


def per_suggestion(asker_cls, n: int, repeats: int) -> float:
    rng = np.random.default_rng(n)
    asker = asker_cls(random_trials(n, rng))
    asker.ask_and_tell(rng)
    return statistics.mean(asker.ask_and_tell(rng) for _ in range(repeats))


def cumulative(asker_cls, n: int) -> float:
    rng = np.random.default_rng(1)
    asker = asker_cls([])
    return sum(asker.ask_and_tell(rng) for _ in range(n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25,200,500")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--sequential", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")
    print(f"seconds per suggestion (mean of {args.repeats} consecutive asks), torch threads {args.threads}")
    print(f"{'observations':>12s} {'CARBS':>8s} {'Optuna GP':>10s} {'ratio':>6s}")
    for n in (int(x) for x in args.sizes.split(",")):
        c = per_suggestion(CarbsAsker, n, args.repeats)
        o = per_suggestion(OptunaGpAsker, n, args.repeats)
        print(f"{n:>12d} {c:>8.3f} {o:>10.3f} {c / o:>6.2f}")
    if args.sequential:
        c = cumulative(CarbsAsker, args.sequential)
        o = cumulative(OptunaGpAsker, args.sequential)
        print(f"\ncumulative over {args.sequential} sequential suggestions: CARBS {c:.1f} s, Optuna GP {o:.1f} s, "
              f"ratio {c / o:.2f} (goal: CARBS <= 50 s)")


if __name__ == "__main__":
    main()
