"""Random-search run tables drawn from a known joint law: the known answers for tests and benchmarks.

Notations
---------
N, D       params log-uniform in `params_range`, tokens = N · (tokens per param, log-uniform in 5..200)
lr*        1.79 · N^-0.713 · D^0.307 (Step Law, Li et al. 2025)
B*         0.58 · D^0.571 tokens per batch (Step Law)
wd*        0.5 · N^-0.1 (an assumed law, to give weight decay a known answer)
L          (E + A/N^α + B/D^β) · exp(basin) · exp(ε): the Chinchilla replication's law
           (E 1.82, A 482, B 2085, α 0.348, β 0.366), a quadratic basin in ln lr, ln B, ln wd
           with an lr-B cross term, ε ~ Normal(0, `noise`) in ln L
diverged   a `diverged` share of runs whose loss is 2.5–4× the law's (an unstable run that
           blew up); no status column says so
checkpoints  with `checkpoints` > 1, each run is also logged at earlier fractions of its
           tokens (loss from the law at those tokens, basin and noise of the run): rows repeat
           the run's `run_id`
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TRUE_LAWS = {
    "lr": {"c": 1.79, "params": -0.713, "tokens": 0.307},
    "batch_size": {"c": 0.58, "params": 0.0, "tokens": 0.571},
    "weight_decay": {"c": 0.5, "params": -0.1, "tokens": 0.0},
}
TRUE_LOSS = {"E": 1.82, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
# basin Hessian in (ln lr, ln B, ln wd), per unit of ln loss: lr 10x off costs ~10% of the loss
TRUE_CURVATURE = np.array([[0.020, 0.006, 0.0], [0.006, 0.010, 0.0], [0.0, 0.0, 0.004]])


def optimum(hp: str, params, tokens) -> np.ndarray:
    law = TRUE_LAWS[hp]
    return law["c"] * np.asarray(params, float) ** law["params"] * np.asarray(tokens, float) ** law["tokens"]


def tuned_loss(params, tokens) -> np.ndarray:
    c = TRUE_LOSS
    return c["E"] + c["A"] / np.asarray(params, float) ** c["alpha"] + c["B"] / np.asarray(tokens, float) ** c["beta"]


def random_search_table(
    n_runs: int,
    *,
    seed: int = 0,
    noise: float = 0.005,
    diverged: float = 0.10,
    params_range: tuple[float, float] = (2e7, 1e9),
    checkpoints: int = 1,
) -> pd.DataFrame:
    """A table of `n_runs` random-search runs (rows per run = `checkpoints`), columns
    run_id, params, tokens, lr, batch_size, weight_decay, loss."""
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(*np.log(params_range), n_runs))
    D = N * np.exp(rng.uniform(np.log(5.0), np.log(200.0), n_runs))
    # one fixed search box for every scale, as a random search over a sweep spec draws it
    lr = np.exp(rng.uniform(np.log(1e-4), np.log(3e-2), n_runs))
    bs = np.exp(rng.uniform(np.log(2e4), np.log(4e6), n_runs))
    wd = np.exp(rng.uniform(np.log(3e-3), np.log(1.0), n_runs))
    dev = np.column_stack([np.log(lr / optimum("lr", N, D)), np.log(bs / optimum("batch_size", N, D)),
                           np.log(wd / optimum("weight_decay", N, D))])
    basin = np.einsum("ij,jk,ik->i", dev, TRUE_CURVATURE, dev)
    eps = rng.normal(0.0, noise, n_runs)
    blown = rng.random(n_runs) < diverged
    blow = np.where(blown, rng.uniform(2.5, 4.0, n_runs), 1.0)
    frames = []
    for k in range(checkpoints, 0, -1):
        frac = k / checkpoints
        loss = tuned_loss(N, D * frac) * np.exp(basin + eps) * blow
        frames.append(pd.DataFrame({"run_id": np.arange(n_runs), "params": N, "tokens": D * frac, "lr": lr,
                                    "batch_size": bs, "weight_decay": wd, "loss": loss}))
    return pd.concat(frames[::-1], ignore_index=True)
