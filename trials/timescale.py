"""Weight decay as a timescale (Wang & Aitchison 2024, "How to set AdamW's weight decay as you
scale model and dataset size"): τ = 1 / (decay per step · steps), the EMA horizon of AdamW's
weights as a fraction of the run. The optimal τ, not λ, is what stays put as the learning rate,
batch size (hence steps) and model size change, so laws and transfers of weight decay go
through τ. Torch-free: the trainer, the sweep driver and the study's fit share these rules.
"""

from __future__ import annotations


def decay_per_step(lr: float, weight_decay: float, wd_mode: str) -> float:
    """The fraction of a weight decayed per step at the peak LR: lr·λ (AdamW, "coupled"), or λ ("independent")."""
    return weight_decay if wd_mode == "independent" else lr * weight_decay


def timescale(lr: float, weight_decay: float, steps: int, wd_mode: str) -> float | None:
    """τ as a fraction of the run; None without decay, or where each parameter group has its own
    ("coupled_group": the group LRs set it, `trials.train.group_taus`)."""
    if not weight_decay or wd_mode == "coupled_group":
        return None
    return 1.0 / (decay_per_step(lr, weight_decay, wd_mode) * steps)


def weight_decay_for(tau: float, lr: float, steps: int, wd_mode: str) -> float:
    """The λ that gives timescale `tau` at this LR, number of steps and decay mode."""
    per_step = 1.0 / (tau * steps)
    return per_step if wd_mode == "independent" else per_step / lr
