"""Delta-STN vs random search vs Optuna TPE on the transformer proxy: held-out loss and compute.

    python benchmarks/stn_transformer_bench.py [--seeds 0 1 2] [--trials 20] [--steps 150]

The proxy (`BASE`) is the byte-level transformer trained on the first `train_bytes` of the
stdlib corpus: small enough that it overfits within the run without regularization. The
knobs are the same for every method: embedding, attention and residual dropout and label
smoothing over `trials.stn.lm.RANGES`. Each random/TPE trial is the plain proxy with the
knobs held (`stn_variant = "fixed"`), same init, data order, optimizer and steps as the STN.

Held-out data (`trials.stn.lm`): the validation half drives the STN hyper steps and picks
the best search trial (`val`); the test half is touched by neither (`test`).

Protocol: the STN's hyper LR and where its knobs start (PyTorch-style small rates, or the
centre of each range, where a uniform random search is centred) are chosen on the first
seed (centred variant, by val loss, that selection's runs counted separately); both
Delta-STN variants then run with that choice on every seed. Compute is matmul FLOPs
(FlopCounterMode) of all forward/backward passes and evaluations; "1 run" is the mean FLOPs
of one search trial. The machine is shared, so wall times are contended and only printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tunescale.search.base import Observation  # noqa: E402
from tunescale.search.optuna_search import OptunaSearch  # noqa: E402
from tunescale.search.random_search import RandomSearch  # noqa: E402
from tunescale.search.space import Space  # noqa: E402
from tunescale.search.space_convert import bounded_param  # noqa: E402
from tunescale.trials.stn.lm import RANGES, train_stn_trial  # noqa: E402

BASE = {
    "width": 32,
    "depth": 1,
    "seq_len": 32,
    "batch_size": 16,
    "lr": 1e-2,  # the unregularized proxy's held-out loss bottoms out near step 80 and rises after
    "schedule": "constant",
    "warmup_frac": 0.05,
    "eval_batches": 8,  # 4096 held-out tokens per evaluation
    "eval_every": 30,
    "train_bytes": 3000,
    "device": "cpu",
}
STN = {"stn_steps_per_hyper": 4, "stn_warmup_frac": 0.2, "stn_tau": 1e-3}
HYPER_LRS = (0.03, 0.1, 0.3)  # candidates for the choice made on the first seed
STARTS = {"small": {}, "centre": {k: (low + high) / 2 for k, (low, high) in RANGES.items()}}


def run(config: dict) -> dict:
    outcome = train_stn_trial(config)
    row = outcome.row
    test = next(c["value"] for c in outcome.curves if c["metric"] == "test_loss")
    return {"val": row["loss"], "test": test, "flops": row["flops"], "wall": row["wall_time_s"],
            "hps": {k: row[f"hp_{k}"] for k in RANGES}}


def search(kind: str, seed: int, trials: int, base: dict) -> list[dict]:
    space = Space([bounded_param(n, low, high, log=False) for n, (low, high) in RANGES.items()])
    searcher = (RandomSearch if kind == "random" else OptunaSearch)(space, seed=seed)
    results = []
    for _ in range(trials):
        suggestion = searcher.suggest()
        result = run({**base, **suggestion.config, "stn_variant": "fixed"})
        searcher.observe(Observation(suggestion.config, result["val"], result["flops"],
                                     suggestion_id=suggestion.suggestion_id))
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--steps", type=int, default=150)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    base = {**BASE, "steps": args.steps}

    choice = {(lr, where): run({**base, **STN, **STARTS[where], "stn_variant": "centred", "stn_hyper_lr": lr,
                                "seed": args.seeds[0]})
              for lr in HYPER_LRS for where in STARTS}
    hyper_lr, origin = min(choice, key=lambda c: choice[c]["val"])
    print(f"proxy: width {base['width']}, depth {base['depth']}, {args.steps} steps of {base['batch_size']}x"
          f"{base['seq_len']} tokens on {base['train_bytes']} training bytes; knobs {', '.join(RANGES)}")
    print("hyper LR and start chosen on seed", args.seeds[0], ":", {c: round(r["val"], 4) for c, r in choice.items()},
          "->", (hyper_lr, origin), f"({sum(r['flops'] for r in choice.values()):.3g} FLOPs of selection runs)")

    ratios: dict[str, list[float]] = {}
    for seed in args.seeds:
        seeded = {**base, "seed": seed}
        random_trials = search("random", seed, args.trials, seeded)
        tpe_trials = search("tpe", seed, args.trials, seeded)
        none = run({**seeded, "stn_variant": "fixed", **dict.fromkeys(RANGES, 0.0)})
        stns = {v: run({**seeded, **STN, **STARTS[origin], "stn_variant": v, "stn_hyper_lr": hyper_lr})
                for v in ("centred", "linearized")}
        one_run = float(np.mean([r["flops"] for r in random_trials]))
        best_rs = min(random_trials, key=lambda r: r["val"])
        best_tpe = min(tpe_trials, key=lambda r: r["val"])
        print(f"\nseed {seed}\n{'run':<30}{'val loss':>9}{'test loss':>10}{'FLOPs':>11}{'x 1 run':>9}{'wall s':>8}")
        lines = [("no regularization", none, none["flops"], none["wall"])]
        lines += [(f"Delta-STN {v} (one run)", r, r["flops"], r["wall"]) for v, r in stns.items()]
        lines += [(f"random, best of {args.trials}", best_rs, sum(r["flops"] for r in random_trials),
                   sum(r["wall"] for r in random_trials)),
                  (f"TPE, best of {args.trials}", best_tpe, sum(r["flops"] for r in tpe_trials),
                   sum(r["wall"] for r in tpe_trials))]
        for label, r, flops, wall in lines:
            print(f"{label:<30}{r['val']:>9.4f}{r['test']:>10.4f}{flops:>11.3g}{flops / one_run:>9.2f}{wall:>8.1f}")
        for v, r in stns.items():
            print(f"{v}: final", {k: round(x, 3) for k, x in r["hps"].items()})
            for key, value in ((f"{v} val/best random", r["val"] / best_rs["val"]),
                               (f"{v} test/best random", r["test"] / best_rs["test"]),
                               (f"{v} val/best TPE", r["val"] / best_tpe["val"]),
                               (f"{v} compute/one run", r["flops"] / one_run)):
                ratios.setdefault(key, []).append(value)
        print("best random:", {k: round(x, 3) for k, x in best_rs["hps"].items()})
    print(f"\nover seeds {args.seeds} (goal: val/best random <= 1.01 at compute/one run <= 2)")
    for key, values in ratios.items():
        print(f"  {key:<32} " + " ".join(f"{v:.4f}" for v in values) + f"   mean {np.mean(values):.4f}")
    print(f"total wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
