"""A trivial trainable with the `train_trial` contract, for orchestration benchmarks.

`quadratic_trial(config, on_eval=...)` trains nothing: its loss is a smooth bowl in
log10(lr) with its minimum at lr = 10**-2.5, decaying towards that value over the
steps, so sweep machinery (launch, store, resume, pruning) can be timed and checked
without the cost of a model. `hp_sleep_s` adds a pause per evaluation to stand in
for training time. Rows and curves have the same columns as the real trainer's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tunescale.contract.schema import hp_columns
from tunescale.contract.store import default_flops

OPTIMAL_LOG10_LR = -2.5
EVALS = 5  # evaluations per trial, as the real trainer's default


@dataclass
class SyntheticOutcome:
    """Same shape as trials.train.TrialOutcome: the row (minus trial_id/sweep) and curves."""

    row: dict
    curves: list[dict] = field(default_factory=list)


def final_loss(lr: float, width: int) -> float:
    """The bowl: 2 + 0.3·(log10 lr + 2.5)² + 8/width (wider is better, as a real law)."""
    return 2.0 + 0.3 * (math.log10(lr) - OPTIMAL_LOG10_LR) ** 2 + 8.0 / width


def quadratic_trial(
    config: Mapping[str, Any], *, on_eval: Callable[[dict], None] | None = None
) -> SyntheticOutcome:
    start = time.perf_counter()
    width, depth = int(config.get("width", 32)), int(config.get("depth", 2))
    batch_size = int(config.get("batch_size", 16))
    steps = int(config.get("steps") or math.ceil(config.get("tokens", 50 * batch_size) / batch_size))
    lr = float(config["lr"])
    params = 12 * depth * width * width  # a transformer's non-embedding count (Kaplan et al. 2020)
    target = final_loss(lr, width)
    diverged = lr >= 1.0  # a real run at lr >= 1 blows up; so does this one
    curves = []
    loss = train_loss = float("nan")
    for k in range(1, EVALS + 1):
        step = max(1, steps * k // EVALS)
        if config.get("hp_sleep_s"):
            time.sleep(float(config["hp_sleep_s"]))
        loss = float("nan") if diverged else target + 3.0 * math.exp(-5.0 * step / steps)
        train_loss = loss - 0.01
        tokens = float(step * batch_size)
        curves += [
            {"step": step, "tokens": tokens, "metric": "eval_loss", "value": loss},
            {"step": step, "tokens": tokens, "metric": "train_loss", "value": train_loss},
        ]
        if on_eval is not None:
            on_eval({"step": step, "tokens": tokens, "flops": default_flops({"params": params, "tokens": tokens}),
                     "train_loss": train_loss, "eval_loss": loss})
        if diverged:
            break
    row = {
        "status": "diverged" if diverged else "completed",
        "params": params,
        "tokens": tokens,
        "width": width,
        "depth": depth,
        "parametrization": config.get("parametrization", "sp"),
        "lr": lr,
        "batch_size": batch_size,
        "weight_decay": float(config.get("weight_decay", 0.0)),
        "loss": loss,
        "train_loss": train_loss,
        "seed": int(config.get("seed", 0)),
        "wall_time_s": time.perf_counter() - start,
    }
    return SyntheticOutcome(row | hp_columns(config), curves)
