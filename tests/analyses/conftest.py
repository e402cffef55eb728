"""A study directory whose trials follow a known loss surface, for testing the report alone.

The proxy and target rows are computed from L(N, D, lr) = E + A/N^α + B/D^β + k·ln²(lr/lr0)
(muP-like: the LR optimum lr0 does not move with width), written through the real store,
fitted with the real `study.fit.fit_study` and judged with the real `study.verdict.judge`;
only the training is replaced by the formula, so the report can be tested without waiting
for proxies to train.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunescale.contract.schema import FLOPS_PER_PARAM_TOKEN
from tunescale.contract.store import TrialStore
from tunescale.study.fit import fit_study
from tunescale.study.results import FIT_JSON, STUDY_JSON, StudyFit, Target
from tunescale.study.verdict import judge

LR0 = 3e-3
WIDTHS = (32, 64, 128, 256)
TOKENS = (1e6, 4e6)
LRS = tuple(LR0 * 2.0 ** k for k in range(-3, 4))


def params_of(width: int) -> int:
    return 12 * 2 * width * width


def surface(params, tokens, lr, rng) -> float:
    return 1.8 + 40.0 / params**0.3 + 300.0 / tokens**0.3 + 0.05 * math.log(lr / LR0) ** 2 + rng.normal(0, 1e-3)


def _row(i, sweep, width, tokens, lr, rng, status="completed"):
    p = params_of(width)
    loss = surface(p, tokens, lr, rng) if status == "completed" else None
    return {"trial_id": f"{sweep}-{i:04d}", "sweep": sweep, "status": status, "params": p, "tokens": tokens,
            "width": width, "depth": 2, "parametrization": "mup", "lr": lr, "batch_size": 16,
            "weight_decay": 0.0, "loss": loss, "train_loss": loss, "seed": 0, "wall_time_s": 1.5}


def write_synthetic_study(run_dir, seed: int = 0) -> StudyFit:
    rng = np.random.default_rng(seed)
    proxies = TrialStore(run_dir / "proxies")
    i = 0
    for width in WIDTHS:
        for tokens in TOKENS:
            for lr in LRS:
                proxies.write(_row(i, "proxies", width, tokens, lr, rng))
                i += 1
            proxies.write(_row(i, "proxies", width, tokens, LR0 * 64, rng, status="diverged"))
            i += 1
    target = Target(width=512, params=params_of(512), tokens=8e6, flops=FLOPS_PER_PARAM_TOKEN * params_of(512) * 8e6)
    fit = fit_study(run_dir / "proxies", target, {"batch_size": 16, "weight_decay": 0.0}, n_bootstrap=50)
    fit.save(run_dir / FIT_JSON)
    lr = fit.prediction.settings["lr"]
    store = TrialStore(run_dir / "target")
    for j, mult in enumerate((0.5, 0.71, 1.0, 1.41, 2.0)):
        store.write(_row(j, "target", 512, 8e6, lr * mult, rng))
    store.write(_row(9, "target", 512, 8e6, lr * 64, rng, status="failed"))
    judge(run_dir, fit).save(run_dir / STUDY_JSON)
    return fit


@pytest.fixture(scope="session")
def synthetic_study(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("study")
    write_synthetic_study(run_dir)
    return run_dir
