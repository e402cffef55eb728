"""How tight and how safe CARBS's early-stopping forecast is, on real tiny proxy runs.

    python benchmarks/early_stopping_bench.py [--trials 200] [--seed 1]

Trains `--trials` configurations drawn uniformly from carbs_proxy_bench's space in basic
space (log width 16..128, log steps 20..200), with lr log-uniform in 1e-3..0.1, where that
benchmark's fronts lie (its centre trial, at 1e-3, ends at 4.8 nats, far above them), and
records their eval loss at the trainer's 5 evaluations. Leave-one-out, each finished trial's reports are forecast from
every other trial's curve (`search.early_stopping.DropCurves`) and compared with its
true final loss:
- slack = final loss - forecast (how optimistic the bound is; the larger, the later a
  hopeless run is stopped);
- violations = forecasts above the final loss by more than 0.005 (a run that could be
  stopped although it would have ended better).
Baseline in the same process: the rule before comparable costs, where every finished
trial bounds every running one (`largest_drop(fraction, cost=0)`). Dear runs are those
costing more than 5% of carbs_proxy_bench's budget at 300 centre trials, the runs whose
waste decides that benchmark.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from the repo root
sys.path.insert(0, str(Path(__file__).resolve().parent))
from carbs_proxy_bench import space, train  # noqa: E402

from tunescale.search.early_stopping import DropCurves  # noqa: E402

FRACTIONS = (0.2, 0.4, 0.6, 0.8)
DEAR_SHARE_OF_BUDGET_300 = 0.05
LR_FROM = 1e-3


def run_trials(n: int, seed: int) -> list[dict]:
    """n random trials: config, (fraction, eval loss) reports, final loss (None: not completed), FLOPs."""
    s, rng = space(), np.random.default_rng(seed)
    lo, hi = np.array(s.bounds_in_basic).T
    lr = [p.name for p in s.searched].index("lr")
    lo[lr] = s.searched[lr].to_basic(LR_FROM)
    out = []
    for i in range(n):
        config = s.from_basic(s.round_in_basic(rng.uniform(lo, hi)))
        reports: list[tuple[float, float]] = []

        def on_eval(metrics: dict, config=config, reports=reports) -> bool:
            reports.append((metrics["step"] / config["steps"], metrics["eval_loss"]))
            return False

        status, loss, cost = train(config, seed * 1000 + i, on_eval=on_eval)
        out.append({"reports": reports, "final": loss, "cost": cost})
    return out


def slacks(trials: list[dict], dear_cost: float) -> dict[tuple[str, str, float], list[float]]:
    """(rule, "dear"/"all", fraction) -> slack of every forecast that rule could make."""
    finished = [t for t in trials if t["final"] is not None]
    out: dict[tuple[str, str, float], list[float]] = {}
    for i, t in enumerate(finished):
        curves = DropCurves()
        for j, other in enumerate(finished):
            if j != i:
                curves.add(other["reports"], other["final"], other["cost"])
        for fraction, output in t["reports"]:
            near = min(FRACTIONS, key=lambda f: abs(f - fraction))
            if fraction >= 1 or abs(near - fraction) > 0.05:
                continue
            for rule, cost in (("comparable", t["cost"]), ("every trial", 0.0)):
                forecast = curves.forecast(fraction, output, cost)
                if np.isfinite(forecast):
                    for group in ("all", "dear") if t["cost"] > dear_cost else ("all",):
                        out.setdefault((rule, group, near), []).append(t["final"] - forecast)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    centre = space().from_basic(space().search_center_in_basic)
    dear_cost = DEAR_SHARE_OF_BUDGET_300 * 300 * train(centre, 0)[2]
    trials = run_trials(args.trials, args.seed)
    found = slacks(trials, dear_cost)
    n_done = sum(t["final"] is not None for t in trials)
    n_dear = sum(t["final"] is not None and t["cost"] > dear_cost for t in trials)
    print(f"{n_done} of {len(trials)} random trials finished, {n_dear} of them dear (> {dear_cost:.2e} FLOPs)\n")
    print(f"{'runs':5s} {'fraction':>8s} {'rule':>12s} {'forecasts':>9s} {'median slack':>12s} {'violations':>10s}")
    for group in ("dear", "all"):
        for f in FRACTIONS:
            for rule in ("comparable", "every trial"):
                s = np.array(found.get((rule, group, f), []))
                if len(s):
                    print(f"{group:5s} {f:8.1f} {rule:>12s} {len(s):9d} {np.median(s):12.3f} {(s < -0.005).sum():10d}")
            a, b = (np.median(found.get((r, group, f), [np.nan])) for r in ("comparable", "every trial"))
            print(f"{'':5s} {'':8s} {'ratio':>12s} {'':9s} {a / b:12.3f}   (median slack, comparable / every trial)")


if __name__ == "__main__":
    main()
