"""A small generated classification set that a small MLP overfits without regularization.

Inputs are Gaussian; labels come from a random two-layer teacher network, then a fixed
fraction of training labels is replaced by random classes. The clean part is learnable,
the noisy part can only be memorised, so an unregularised MLP drives its training loss
toward zero while its validation loss rises again: the setting in which weight decay,
dropout or a Self-Tuning-Networks schedule pays off. Validation labels stay clean.
"""

from __future__ import annotations

import numpy as np
import torch

N_FEATURES = 32
N_CLASSES = 10
N_TRAIN = 1000  # small on purpose: a width-256 MLP has ~10^5 params to memorise it with
N_VAL = 2000
LABEL_NOISE = 0.2  # share of training labels replaced by a uniformly random class
TEACHER_WIDTH = 64


def load_classification(
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_val, y_val): float32 inputs [n, 32], int64 labels in [0, 10)."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((N_FEATURES, TEACHER_WIDTH)) / np.sqrt(N_FEATURES)
    w2 = rng.standard_normal((TEACHER_WIDTH, N_CLASSES)) / np.sqrt(TEACHER_WIDTH)
    x = rng.standard_normal((N_TRAIN + N_VAL, N_FEATURES))
    y = np.argmax(np.tanh(x @ w1) @ w2, axis=1)
    noisy = rng.random(N_TRAIN) < LABEL_NOISE
    y_train = np.where(noisy, rng.integers(0, N_CLASSES, N_TRAIN), y[:N_TRAIN])
    return _x(x[:N_TRAIN]), _y(y_train), _x(x[N_TRAIN:]), _y(y[N_TRAIN:])


def _x(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a.astype(np.float32))


def _y(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a.astype(np.int64))
