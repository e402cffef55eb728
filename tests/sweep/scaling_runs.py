"""A small grid of runs with a known answer, for import round trips: 3 scales × 5 learning rates.

The loss is a Chinchilla-style law plus a learning-rate basin whose optimum moves with
N (`search.testing.scaling_loss`); every importer test writes the same runs directly
through the store and through the foreign tool, and the fits must agree.
"""

from __future__ import annotations

import math

from tunescale.contract.store import TrialStore
from tunescale.scaling import fit_scaling, load
from tunescale.search.testing import scaling_loss

SCALES = (100_000, 1_000_000, 10_000_000)
TOKENS_PER_PARAM = 20
LR_FACTORS = (0.1, 0.3, 1.0, 3.0, 10.0)


def grid() -> list[dict]:
    """Configurations: params, tokens and lr around the optimum of each scale."""
    out = []
    for n in SCALES:
        lr_star = 3e-3 * (n / 1e6) ** -0.3
        out += [{"params": n, "tokens": float(TOKENS_PER_PARAM * n), "lr": lr_star * f, "batch_size": 32,
                 "weight_decay": 0.1}
                for f in LR_FACTORS]
    return out


def curve(config: dict, steps: int = 3) -> list[float]:
    """Loss after each of `steps` evaluations, ending at the law's value."""
    final = scaling_loss(config)
    return [final + 0.5 * math.exp(-2.0 * k) for k in range(1, steps)] + [final]


def write_direct(store_dir, sweep: str) -> None:
    """The same runs written by tunescale itself."""
    store = TrialStore(store_dir)
    for i, config in enumerate(grid()):
        store.write({"trial_id": f"t{i:02d}", "sweep": sweep, "status": "completed", **config,
                     "loss": curve(config)[-1]})


def fit_summary(store_dir) -> dict:
    """What fit-scaling finds in a store, without the path it read."""
    summary = fit_scaling(load(store_dir), n_bootstrap=50, seed=0).summary()
    summary["input"].pop("source")
    return summary
