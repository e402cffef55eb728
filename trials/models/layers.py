"""Linear and embedding layers that carry a parametrization role and a forward multiplier.

A layer is built with PyTorch's default init; `trials.parametrization.apply` then sets
its role's multiplier and rescales its init. A multiplier of exactly 1.0 is skipped, so
at the base width the forward pass is the plain PyTorch one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RoleLinear(nn.Linear):
    """nn.Linear with `role` (input / hidden / readout) and a weight multiplier."""

    def __init__(self, in_features: int, out_features: int, *, role: str, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.role = role
        self.multiplier = 1.0
        self.fan_in = in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.multiplier == 1.0:
            return super().forward(x)
        out = F.linear(x, self.weight) * self.multiplier
        return out if self.bias is None else out + self.bias


class RoleEmbedding(nn.Embedding):
    """nn.Embedding with `role` (input) and a multiplier."""

    def __init__(self, num_embeddings: int, embedding_dim: int, *, role: str = "input") -> None:
        super().__init__(num_embeddings, embedding_dim)
        self.role = role
        self.multiplier = 1.0
        self.fan_in = 1  # a lookup is a matmul with a one-hot row

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        out = super().forward(idx)
        return out if self.multiplier == 1.0 else out * self.multiplier
