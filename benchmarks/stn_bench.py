"""STN vs random search on the classification proxy: held-out loss and compute.

    python benchmarks/stn_bench.py [--trials 20] [--seed 0] [--figure out/stn_bench.png]

The proxy is the MLP of `search.stn.model` on `trials.data.classification` (it overfits
without regularization). The shipped validation set is split in two halves: `val`
drives the STN hyper steps and picks the best random-search trial; `test` is touched
by neither, so it shows whether either method overfitted its selection to `val`.

Baseline: random search over the same hyperparameters and ranges (uniform; discrete
ones uniform over integers), each trial a plain MLP (no response paths) trained for the
same epochs with the same optimizer. Compute is matmul FLOPs of forward and backward
passes (torch FlopCounterMode), so "1 run" is one random-search trial. The machine is
shared, so wall times are contended and only FLOPs are compared.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tunescale.trials.data.classification import load_classification  # noqa: E402
from tunescale.trials.stn import StnConfig, fit_fixed, fit_stn  # noqa: E402
from tunescale.trials.stn.run import default_specs, plot_trajectory  # noqa: E402

CONFIG = StnConfig(
    hidden=(256, 256),
    epochs=40,  # the plain MLP's held-out loss bottoms out near epoch 8 and rises after
    batch_size=128,
    lr=1e-3,
    hyper_lr=0.1,  # Adam moves u about this much per hyper step; 0.03 reacts too late here
    warmup_epochs=1,
    train_steps_per_hyper=4,
    tau=1e-3,
    perturb="example",
    response_rank=32,  # factored response path keeps a train step at ~1.35x a plain one
    centred=True,  # Delta-STN; the uncentred STN is reported beside it
)
SPECS = default_specs(len(CONFIG.hidden))


def split(seed: int):
    """(x_train, y_train, x_val, y_val) plus a (x_test, y_test) half carved out of val."""
    x_tr, y_tr, x_va, y_va = load_classification(seed=seed)
    half = len(x_va) // 2
    return (x_tr, y_tr, x_va[:half], y_va[:half]), (x_va[half:], y_va[half:])


def sample_values(rng: np.random.Generator) -> dict[str, float]:
    return {
        s.name: float(rng.integers(int(s.low), int(s.high) + 1)) if s.discrete
        else float(rng.uniform(s.low, s.high))
        for s in SPECS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", default="out/stn_bench.png")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data, test = split(args.seed)
    config = dataclasses.replace(CONFIG, seed=args.seed)

    stn = fit_stn(data, SPECS, config, test=test)
    stn_plain = fit_stn(data, SPECS, dataclasses.replace(config, centred=False), test=test)
    # Ablations: how much comes from tuning, not from the starting values or the perturbation noise.
    stn_frozen = fit_stn(data, SPECS, dataclasses.replace(config, warmup_epochs=config.epochs), test=test)
    at_init = fit_fixed(data, SPECS, {s.name: s.init for s in SPECS}, config, test=test)
    rng = np.random.default_rng(args.seed)
    trials = []
    for i in range(args.trials):
        values = sample_values(rng)
        cfg = dataclasses.replace(config, seed=args.seed + 1 + i)
        trials.append((fit_fixed(data, SPECS, values, cfg, test=test), values))
    none = fit_fixed(data, SPECS, {s.name: s.low for s in SPECS}, config, test=test)
    best, best_values = min(trials, key=lambda t: t[0].loss)
    one_run = float(np.mean([t[0].flops for t in trials]))
    rs_flops = sum(t[0].flops for t in trials)

    print(f"proxy: MLP {config.hidden}, {config.epochs} epochs, {len(data[0])} train / "
          f"{len(data[2])} val / {len(test[0])} test examples, {len(SPECS)} hyperparameters")
    print(f"{'run':<30}{'val loss':>9}{'test loss':>10}{'FLOPs':>11}{'x 1 run':>9}")
    for label, r, flops in (
        ("no regularization", none, none.flops),
        ("Delta-STN (one run)", stn, stn.flops),
        ("STN, uncentred (one run)", stn_plain, stn_plain.flops),
        ("Delta-STN, no hyper steps", stn_frozen, stn_frozen.flops),
        ("plain MLP at STN's init HPs", at_init, at_init.flops),
        (f"random search, best of {args.trials}", best, rs_flops),
    ):
        print(f"{label:<30}{r.loss:>9.4f}{r.test_loss:>10.4f}{flops:>11.3g}{flops / one_run:>9.2f}")
    print(f"Delta-STN val loss / best random: {stn.loss / best.loss:.4f} (goal <= 1.01); "
          f"test: {stn.test_loss / best.test_loss:.4f}")
    print(f"Delta-STN compute / one run: {stn.flops / one_run:.2f} (goal <= 2); "
          f"random search / STN: {rs_flops / stn.flops:.1f}x")
    print(f"STN: {stn.train_steps} train steps, {stn.hyper_steps} hyper steps")
    print("STN final hyperparameters:  ", {k: round(v, 3) for k, v in stn.hyperparameters.items()})
    print("best random hyperparameters:", {k: round(v, 3) for k, v in best_values.items()})
    if args.figure:
        path = plot_trajectory(stn.trajectory, args.figure, title="STN on the classification proxy")
        print(f"trajectory figure: {path.resolve()}")


if __name__ == "__main__":
    main()
