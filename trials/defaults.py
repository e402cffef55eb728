"""The trainer's config keys and their defaults (`trials.train.train_trial`).

Apart from the trainer so that the sweep driver can read them (to size rows of trials
that never reported) without importing torch.
"""

from __future__ import annotations

from typing import Any

SCHEDULES = ("cosine", "wsd", "constant")
OPTIMIZERS = ("adamw", "sgd")
MODELS = ("transformer", "mlp")
WD_MODES = ("coupled", "coupled_group", "independent")  # see parametrization.group_weight_decay

DEFAULTS: dict[str, Any] = {
    "model": "transformer",
    "width": 32,
    "depth": 2,
    "base_width": None,  # None: the trial's own width (muP then equals SP)
    "parametrization": "sp",
    "lr": None,  # required: peak LR before per-layer multipliers
    "batch_size": 16,
    "per_layer_lr": False,  # sp/ntk/mfp: Everett et al.'s per-layer Adam LR exponents
    "weight_decay": 0.0,  # λ; or give `tau` instead
    "tau": None,  # weight-decay timescale 1/(lr·λ) as a fraction of `steps` (Wang & Aitchison 2024)
    "wd_mode": None,  # None: "independent" under umup (as unit_scaling), else "coupled" (as mup.MuAdamW)
    "wd_scaling": False,  # hidden decay x m^-1/2 where hidden Adam updates shrink as 1/m (Fan et al. 2025)
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
    "eval_batch_size": None,  # None: batch_size; fix it to compare runs of several batch sizes on one eval set
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
