"""The trainer's config keys and their defaults (`trials.train.train_trial`).

Apart from the trainer so that the sweep driver can read them (to size rows of trials
that never reported) without importing torch.
"""

from __future__ import annotations

from typing import Any

SCHEDULES = ("cosine", "wsd", "constant")
OPTIMIZERS = ("adamw", "sgd")
MODELS = ("transformer", "mlp")
WD_MODES = ("coupled", "independent")

DEFAULTS: dict[str, Any] = {
    "model": "transformer",
    "width": 32,
    "depth": 2,
    "base_width": None,  # None: the trial's own width (muP then equals SP)
    "parametrization": "sp",
    "lr": None,  # required: peak LR before per-layer multipliers
    "batch_size": 16,
    "weight_decay": 0.0,
    "wd_mode": "coupled",  # "coupled" (torch AdamW: lr·λ) or "independent" (λ, LR-free)
    "wd_scaling": False,  # hidden matrices λ·sqrt(width_mult) (robust layerwise WD rule)
    "steps": None,  # None: from `tokens`, or 50 when neither is given
    "tokens": None,
    "seq_len": 64,
    "schedule": "cosine",
    "warmup_frac": 0.1,
    "min_lr_frac": 0.1,  # cosine floor as a fraction of the peak (Chinchilla-style)
    "decay_frac": 0.2,  # WSD: share of steps spent decaying linearly to zero
    "optimizer": "adamw",
    "betas": (0.9, 0.95),  # GPT-3 / nanoGPT values for LM training
    "eps": 1e-8,
    "momentum": 0.9,  # SGD only
    "grad_clip": 1.0,  # max global grad norm; 0 disables clipping
    "eval_every": None,  # None: 5 evaluations over the run
    "eval_batches": 4,
    "seed": 0,
    "device": "auto",  # "auto" picks CUDA when available
    "compile": False,
    "head_dim": 16,
    "base_head_dim": None,  # None: head_dim (heads scale with width at fixed head size)
    "zero_readout": False,
    "diverge_factor": 3.0,  # loss above 3x its first value = blown up (ln 256 -> 16.6 nats)
    "log_every": None,  # None: ~100 train-loss/LR curve points per run
    "cache_dir": None,
}
