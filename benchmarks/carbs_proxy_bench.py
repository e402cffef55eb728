"""(b) CARBS against Optuna TPE, Optuna GP, random search and ASHA on real tiny proxy training.

    python benchmarks/carbs_proxy_bench.py [--seeds 10] [--first-seed 0] [--max-trials 400] [--budget-centres 150]
        [--methods carbs,asha] [--carbs-config '{"search_radius_in_basic": 0.8}'] [--json runs.json] [--target 2.20]
    python benchmarks/carbs_proxy_bench.py --from-json peers.json carbs.json more_peers.json more_carbs.json \
        [--target 2.20]

Each trial trains a tiny transformer with `trials.train.train_trial` on CPU (one thread)
and costs its reported training FLOPs (6·N·D). Searched: width (16..128, multiples of the
16-wide head), steps (20..200) and lr (1e-4..0.1, log). Every method gets the same compute
budget, `--budget-centres` times the FLOPs of the search-centre trial (the widest, longest
trial costs ~52 of those, an average random one ~6, so 150 leaves room for a search), and
at most --max-trials. A method starts trials while it has spent less than the budget;
the trial that takes it past the budget is not counted (equal total compute).
ASHA searches width and lr at random with steps as its resource (see `run_asha`); a trial
it prunes is charged the FLOPs it trained and has no final loss. CARBS's trials report at
the trainer's 5 evaluations and CARBS stops those that cannot join its front
(`search.early_stopping`), charged the same way; Optuna's samplers and random search run
every trial to the end.
The answer is not known here, so the target loss is the best final loss any counted run
reached plus 0.05; reported: FLOPs to reach it (geometric mean over seeds, a run that
never does counts as the whole budget), the mean best final loss over the seeds that
finished a trial (how many, when not all did) and the Pareto hypervolume in
(log10 FLOPs, loss) with reference (budget, 6.0).
Seeds: one configuration's final loss has a seed standard deviation of 0.02-0.06
(width 128, 200 steps, lr 6e-3..3e-2, 3 seeds each), as large as the target's margin,
so reaching it in one seed more or less is within noise; 10 seeds by default (one
CARBS version's ratio at budget 300 was 1.10 on seeds 0-4 and 1.23 on seeds 0-9), and
the ratio comes with a 90% bootstrap interval over seeds (20 seeds: about +-0.1 at
budget 150, -0.2..+0.25 at 300; 40 seeds: +-0.07 and +-0.14, and the two 20-seed halves
of those 40 gave 1.04 and 1.23 at 300, so compare variants on 40). Seed sets run apart
(--first-seed, --json) are scored together with --from-json: the target is then the
best of all pooled runs, which one outlier run moves (a CARBS variant's own best among
them); --target fixes it, so variants pooled in separate calls meet the same target.
Timings are contended.
"""

from __future__ import annotations

import argparse
import functools
import json
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
from tunescale.search.space import FixedParam, LogParam, Space
from tunescale.search.space_convert import DECADE_IN_BASIC, to_optuna
from tunescale.trials.train import train_trial

REF_LOSS = 6.0
FIXED = {"model": "transformer", "depth": 1, "seq_len": 32, "batch_size": 16, "eval_batches": 2}
ASHA_MAX_STEPS = 200  # the space's largest step count: ASHA's full resource
ASHA_MIN_STEPS = 20  # its first rung: the space's smallest step count, also the eval interval


def space() -> Space:
    # One basic unit per decade for every log parameter, as `search.space_convert` gives
    # `tunescale sweep` (the CARBS reference convention): the default radius 0.3 is a
    # factor of 2. Optuna, random search and ASHA see only the bounds.
    return Space(
        [
            LogParam("width", 32, scale=DECADE_IN_BASIC, min=16, max=128, is_integer=True, rounding_factor=16),
            LogParam("steps", 40, scale=DECADE_IN_BASIC, min=20, max=200, is_integer=True),
            LogParam("lr", 1e-3, scale=DECADE_IN_BASIC, min=1e-4, max=0.1),
            *[FixedParam(k, v) for k, v in FIXED.items()],
        ]
    )


def within_budget(trials: list[tuple[float, float | None]], budget: float) -> list[tuple[float, float | None]]:
    """The trials that finished before the method's spend passed the budget.

    Every method may start a trial while under budget, so its last one can overshoot by
    up to one whole trial (for a random draw at the widest, longest corner, several times
    the budget); counting it would compare methods at unequal compute.
    """
    spent, out = 0.0, []
    for cost, loss in trials:
        spent += cost
        if spent > budget:
            break
        out.append((cost, loss))
    return out


def train(config: dict, seed: int, on_eval=None) -> tuple[str, float | None, float]:
    """(status, final loss or None, FLOPs trained) of one trial; `on_eval` may stop it."""
    row = train_trial({**config, "seed": seed}, on_eval=on_eval).row
    loss = row["loss"] if row["status"] == "completed" else None
    return row["status"], loss, float(row["flops"])


def run_carbs(
    seed: int, budget: float, max_trials: int, config: dict | None = None
) -> list[tuple[float, float | None]]:
    """CARBS with 3 Sobol starts, plus the `config` fields (--carbs-config). Each trial
    reports its eval loss and FLOPs at the trainer's 5 evaluations (`Carbs.report`) and is
    stopped where CARBS says so; a stopped trial is charged the FLOPs it trained and has
    no final loss, as ASHA's pruned trials."""
    searcher = Carbs(space(), seed=seed, config=CarbsConfig(**{"n_sobol": 3, **(config or {})}))
    trials, spent = [], 0.0
    while spent < budget and len(trials) < max_trials:
        s = searcher.suggest()

        def report(metrics: dict, s=s) -> bool:
            return searcher.report(
                s.suggestion_id, metrics["step"] / s.config["steps"], metrics["eval_loss"], metrics["flops"]
            )

        status, loss, cost = train(s.config, s.seed, on_eval=report)
        spent += cost
        trials.append((cost, loss))
        searcher.observe(Observation(s.config, loss, cost, status, s.seed, s.suggestion_id))
    return trials


def run_optuna(sampler, seed: int, budget: float, max_trials: int) -> list[tuple[float, float | None]]:
    study, dists, trials, spent = optuna.create_study(sampler=sampler), to_optuna(space()), [], 0.0
    while spent < budget and len(trials) < max_trials:
        t = study.ask(dists)
        status, loss, cost = train(t.params, seed * 1000 + len(trials))
        spent += cost
        trials.append((cost, loss))
        if loss is None:
            study.tell(t, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(t, loss)
    return trials


def run_asha(seed: int, budget: float, max_trials: int) -> list[tuple[float, float | None]]:
    """ASHA: random width and lr; steps is the resource, so every trial is planned for the
    space's largest step count, evaluated every `ASHA_MIN_STEPS` steps, and stopped at a
    rung unless its eval loss is in the top 1/4 of the trials that reached that rung
    (Optuna's successive-halving pruner, default reduction factor 4). Trials run one at a
    time here, so a rung stops every trial until 3 others have reached it: otherwise the
    first trial, alone at every rung, would always train to the end, which parallel ASHA
    never does. A pruned trial is charged the FLOPs it trained and has no final loss."""
    dists = {k: d for k, d in to_optuna(space()).items() if k != "steps"}
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=ASHA_MIN_STEPS, reduction_factor=4, bootstrap_count=3)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed), pruner=pruner)
    trials, spent = [], 0.0
    while spent < budget and len(trials) < max_trials:
        t = study.ask(dists)

        def report(metrics: dict, t=t) -> bool:
            t.report(metrics["eval_loss"], metrics["step"])
            return t.should_prune()

        config = {**t.params, "steps": ASHA_MAX_STEPS, "eval_every": ASHA_MIN_STEPS}
        status, loss, cost = train(config, seed * 1000 + len(trials), on_eval=report)
        spent += cost
        trials.append((cost, loss))
        if status == "completed":
            study.tell(t, loss)
        else:
            study.tell(t, state=optuna.trial.TrialState.PRUNED if status == "pruned" else optuna.trial.TrialState.FAIL)
    return trials


METHODS = {
    "carbs": run_carbs,
    "optuna_tpe": lambda s, b, m: run_optuna(optuna.samplers.TPESampler(seed=s, n_startup_trials=4), s, b, m),
    "optuna_gp": lambda s, b, m: run_optuna(optuna.samplers.GPSampler(seed=s, n_startup_trials=4), s, b, m),
    "random": lambda s, b, m: run_optuna(optuna.samplers.RandomSampler(seed=s), s, b, m),
    "asha": run_asha,
}


def ratio_interval(spent: list[float], peer_spent: list[float], draws: int = 2000) -> tuple[float, float]:
    """90% bootstrap interval of the ratio of geometric means, seeds resampled per method.

    Whether a seed reaches the target is close to a coin flip at these budgets, so the
    ratio moves by tenths between seed sets; the interval says how much.
    """
    rng = np.random.default_rng(0)
    a, b = np.log(spent), np.log(peer_spent)
    ratios = [np.exp(rng.choice(a, len(a)).mean() - rng.choice(b, len(b)).mean()) for _ in range(draws)]
    lo, hi = np.percentile(ratios, [5, 95])
    return float(lo), float(hi)


def load_runs(paths: list[Path]) -> tuple[float, dict[str, list[list[tuple[float, float | None]]]]]:
    """Pool the runs of earlier --json files (seed sets run apart, e.g. with --first-seed),
    so the common target and the ratio come from all of them at once. A seed pooled twice
    for one method (the same file passed twice, overlapping --first-seed ranges) would
    count one run as two, and methods over different seeds would not be compared on the
    same problems: both are refused."""
    budget, by_seed = None, {}
    for path in paths:
        try:
            data = json.loads(path.read_text())
            file_budget, file_runs, seeds = float(data["budget"]), data["runs"], [int(s) for s in data["seeds"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"--from-json {path}: not a runs file written by --json ({type(exc).__name__}: {exc}); "
                f"pass one written by this benchmark (a file from before --json recorded its "
                f"'seeds' needs them added: \"seeds\": [first, ..., last])."
            ) from None
        if budget is not None and not math.isclose(file_budget, budget, rel_tol=1e-9):
            raise ValueError(
                f"--from-json {path}: budget {file_budget:.4e} FLOPs differs from {budget:.4e} in the "
                f"files before it; pool only runs made with the same --budget-centres."
            )
        budget = file_budget
        for name, rs in file_runs.items():
            if len(rs) != len(seeds):
                raise ValueError(
                    f"--from-json {path}: method {name} has {len(rs)} runs for {len(seeds)} seeds; "
                    f"pass the file as --json wrote it."
                )
            pooled = by_seed.setdefault(name, {})
            twice = sorted(set(seeds) & set(pooled))
            if twice:
                raise ValueError(
                    f"--from-json {path}: seeds {_seed_ranges(twice)} of method {name} are already in "
                    f"an earlier file; pass each seed set once."
                )
            pooled.update(zip(seeds, rs, strict=True))
    covered = {name: sorted(pooled) for name, pooled in by_seed.items()}
    if len({tuple(seeds) for seeds in covered.values()}) > 1:
        cover = ", ".join(f"{name} {_seed_ranges(seeds)}" for name, seeds in covered.items())
        raise ValueError(
            f"--from-json: methods cover different seeds ({cover}); pool files that cover the same "
            f"seeds for every method."
        )
    return budget, {name: [by_seed[name][s] for s in seeds] for name, seeds in covered.items()}


def _seed_ranges(seeds: list[int]) -> str:
    """Sorted seeds as compact ranges, e.g. 0-19,40-44."""
    spans = [[seeds[0], seeds[0]]]
    for seed in seeds[1:]:
        if seed == spans[-1][1] + 1:
            spans[-1][1] = seed
        else:
            spans.append([seed, seed])
    return ",".join(f"{a}-{b}" if b > a else f"{a}" for a, b in spans)


def report(runs: dict[str, list[list[tuple[float, float | None]]]], budget: float, target: float | None = None) -> None:
    """Print the comparison; the target is the best pooled loss + 0.05 unless given."""
    # equal total compute: a trial that takes a method past the budget is not counted
    runs = {name: [within_budget(r, budget) for r in rs] for name, rs in runs.items()}
    best = min(loss for rs in runs.values() for r in rs for _, loss in r if loss is not None)
    given = target is not None
    target = target if given else best + 0.05

    def to_target(trials) -> float:
        spent = 0.0
        for cost, loss in trials:
            spent += cost
            if loss is not None and loss <= target:
                return spent
        return budget

    def hv(trials) -> float:
        ok = [(c, y) for c, y in trials if y is not None]
        return hypervolume_2d([c for c, _ in ok], [y for _, y in ok], budget, REF_LOSS) if ok else 0.0

    def geomean(xs) -> float:
        return float(np.exp(np.mean(np.log(xs))))

    print(
        f"target loss {target:.4f} "
        + (f"(--target; best of all runs {best:.4f})\n" if given else f"(best of all runs {best:.4f} + 0.05)\n")
    )
    print(
        f"{'method':12s} {'reached':>8s} {'FLOPs to target (geomean)':>26s} {'per seed':>32s} {'best loss':>10s} "
        f"{'hypervolume':>12s} {'trials':>7s}"
    )
    summary = {}
    for name, rs in runs.items():
        reached = sum(any(y is not None and y <= target for _, y in r) for r in rs)
        spent = [to_target(r) for r in rs]
        g = geomean(spent)
        h = statistics.mean(hv(r) for r in rs)
        bests = [min(y for _, y in r if y is not None) for r in rs if any(y is not None for _, y in r)]
        bl = f"{statistics.mean(bests):.4f}" if bests else "nan"
        if len(bests) < len(rs):
            bl += f" ({len(bests)}/{len(rs)})"
        summary[name] = (spent, h)
        per_seed = " ".join(f"{x:.2e}" for x in spent)
        print(
            f"{name:12s} {reached:>5d}/{len(rs)} {g:>26.3e} {per_seed:>32s} {bl:>10s} {h:>12.3f} "
            f"{statistics.mean(len(r) for r in rs):>7.1f}"
        )
    peers = [m for m in summary if m != "carbs"]
    if "carbs" in summary and peers:
        best_peer = min(peers, key=lambda m: geomean(summary[m][0]))
        lo, hi = ratio_interval(summary["carbs"][0], summary[best_peer][0])
        print(
            f"\nCARBS compute to target / best peer ({best_peer}): "
            f"{geomean(summary['carbs'][0]) / geomean(summary[best_peer][0]):.3f}"
            f"  (goal <= 1; 90% over seeds {lo:.2f}-{hi:.2f})"
        )
        hv_peer = max(peers, key=lambda m: summary[m][1])
        ratio = (
            f"{summary['carbs'][1] / summary[hv_peer][1]:.3f}"
            if summary[hv_peer][1] > 0
            else "n/a (no peer finished a trial within budget)"
        )
        print(f"CARBS hypervolume / best peer's ({hv_peer}): {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run are first-seed .. first-seed + seeds - 1")
    parser.add_argument("--max-trials", type=int, default=400)
    parser.add_argument("--budget-centres", type=float, default=150.0)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--json", type=Path, help="write every method's (cost, loss) per trial here")
    parser.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        help="train nothing: pool these --json files (same budget, same seeds per method) and report",
    )
    parser.add_argument(
        "--target",
        type=float,
        help="score against this loss instead of the best pooled loss + 0.05, which moves with "
        "one outlier run: compare variants pooled in different --from-json calls at one target",
    )
    parser.add_argument(
        "--carbs-config",
        type=json.loads,
        default={},
        help="CarbsConfig fields as JSON, e.g. '{\"search_radius_in_basic\": 0.8}'",
    )
    args = parser.parse_args()
    if args.from_json:
        ignored = [
            f"--{d.replace('_', '-')}"
            for d in ("seeds", "first_seed", "max_trials", "budget_centres", "methods", "json", "carbs_config")
            if getattr(args, d) != parser.get_default(d)
        ]
        if ignored:
            parser.error(
                f"--from-json trains nothing, so {', '.join(ignored)} would be ignored; drop them "
                f"(the budget, seeds and methods come from the files)."
            )
        try:
            budget, runs = load_runs(args.from_json)
        except ValueError as exc:
            parser.error(str(exc))
        print(f"(b) real tiny proxy training; budget {budget:.3e} FLOPs, pooled from {len(args.from_json)} file(s)")
        report(runs, budget, args.target)
        return
    torch.set_num_threads(1)
    methods = {**METHODS, "carbs": functools.partial(run_carbs, config=args.carbs_config)}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    centre = space().from_basic(space().search_center_in_basic)
    budget = args.budget_centres * train(centre, 0)[2]
    print(
        f"(b) real tiny proxy training; budget {budget:.3e} FLOPs ({args.budget_centres} x centre trial), "
        f"<= {args.max_trials} trials, seeds {args.first_seed}..{args.first_seed + args.seeds - 1}"
    )
    runs: dict[str, list[list[tuple[float, float | None]]]] = {}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for name in args.methods.split(","):
        t0 = time.perf_counter()
        runs[name] = [methods[name](seed, budget, args.max_trials) for seed in seeds]
        print(f"  ran {name:11s} in {time.perf_counter() - t0:6.1f} s")

    if args.json:
        args.json.write_text(json.dumps({"budget": budget, "seeds": list(seeds), "runs": runs}))
    report(runs, budget, args.target)


if __name__ == "__main__":
    main()
