"""Per-trial orchestration overhead of `tunescale sweep` on a trivial trainable.

Run: python benchmarks/sweep_overhead.py [--trials 30] [--repeats 3]

Every method runs the same 30 trials of the synthetic bowl (trials/synthetic.py,
microseconds of work each) on one local loopback Ray with 2 CPUs, so wall time per
trial is orchestration overhead. Baselines in the same process: plain Ray Tune with
default settings, plain Ray Tune with reuse_actors=True, and a plain Optuna loop.
Goals: default `tunescale sweep` <= 0.1 s/trial, batched <= 0.01 s/trial.
Ray startup is excluded (one shared instance); each Ray method gets a warm-up run, and
every figure is the median over --repeats runs, so one slow worker start does not set it.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled


def _objective(config):
    from ray import tune

    from tunescale.trials.synthetic import final_loss

    tune.report({"eval_loss": final_loss(config["lr"], 32)})


def plain_tune(n: int, reuse: bool) -> float:
    from ray import tune

    tuner = tune.Tuner(
        _objective,
        param_space={"lr": tune.grid_search([10 ** (-4 + 3 * i / n) for i in range(n)])},
        tune_config=tune.TuneConfig(metric="eval_loss", mode="min", reuse_actors=reuse),
        run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(), verbose=0),
    )
    start = time.perf_counter()
    tuner.fit()
    return (time.perf_counter() - start) / n


def plain_optuna(n: int) -> float:
    import optuna

    from tunescale.trials.synthetic import final_loss

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    start = time.perf_counter()
    study.optimize(lambda t: final_loss(t.suggest_float("lr", 1e-4, 1e-1, log=True), 32), n_trials=n)
    return (time.perf_counter() - start) / n


def tunescale(n: int, trials_per_task: int) -> float:
    from tunescale.sweep.engine import run_sweep
    from tunescale.sweep.spec import parse_spec

    spec = parse_spec({
        "name": "bench", "algorithm": "grid", "trainable": "tunescale.trials.synthetic:quadratic_trial",
        "storage": tempfile.mkdtemp(), "concurrency": 2, "trials_per_task": trials_per_task,
        "model": {"widths": 32}, "budget": {"steps": 10},
        "space": {"lr": {"type": "log", "low": 1e-4, "high": 1e-1, "num": n}},
    })
    start = time.perf_counter()
    result = run_sweep(spec, out=None)
    assert result.statuses.get("completed") == n, result.statuses
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = args.trials
    import ray

    ray.init(_node_ip_address="127.0.0.1", num_cpus=2, include_dashboard=False,
             configure_logging=False, log_to_driver=False)
    batch = math.ceil(n / 2)  # one task per CPU
    # Warm-up: the same run once, so worker processes have imported what they need.
    for warm in (lambda: tunescale(n, 1), lambda: tunescale(n, batch), lambda: plain_tune(n, True)):
        warm()
    methods = {
        "tunescale sweep (default, Ray Tune path)": lambda: tunescale(n, 1),
        f"tunescale sweep (batched, {batch} trials/task)": lambda: tunescale(n, batch),
        "plain Ray Tune, default settings": lambda: plain_tune(n, False),
        "plain Ray Tune, reuse_actors=True": lambda: plain_tune(n, True),
        "plain Optuna loop (no Ray)": lambda: plain_optuna(n),
    }
    figures = {name: statistics.median(run() for _ in range(args.repeats)) for name, run in methods.items()}
    ray.shutdown()
    print(f"{n} trivial trials, 2-CPU local Ray, median of {args.repeats} runs each")
    for name, s in figures.items():
        print(f"  {name:<45} {s:9.4f} s/trial")
    default = figures["tunescale sweep (default, Ray Tune path)"]
    batched = figures[f"tunescale sweep (batched, {batch} trials/task)"]
    print(f"default path vs goal 0.1 s/trial:      {default / 0.1:6.2f}x of goal")
    print(f"batched vs goal 0.01 s/trial:          {batched / 0.01:6.2f}x of goal")
    print(f"default path vs plain Tune default:    {default / figures['plain Ray Tune, default settings']:6.3f}x")
    print(f"default path vs plain Tune reuse:      {default / figures['plain Ray Tune, reuse_actors=True']:6.2f}x")
    print(f"batched vs plain Optuna loop:          {batched / figures['plain Optuna loop (no Ray)']:6.1f}x")


if __name__ == "__main__":
    main()
