"""MLP classifier with width/depth knobs for the classification proxies.

Layout: input Linear(in, width) -> `depth` x [Linear(width, width)] -> readout
Linear(width, classes), ReLU between. N counts every parameter (there is no
embedding); training FLOPs per sample = 6·N.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tunescale.contract.schema import FLOPS_PER_PARAM_TOKEN
from tunescale.trials import parametrization
from tunescale.trials.models import unit_scaling
from tunescale.trials.models.layers import RoleLinear


class MLP(nn.Module):
    """`forward(x, targets)` returns (logits, mean cross-entropy)."""

    def __init__(self, *, in_features: int, n_classes: int, width: int, depth: int) -> None:
        super().__init__()
        self.width, self.depth = width, depth
        self.input = RoleLinear(in_features, width, role="input")
        self.hidden = nn.ModuleList(RoleLinear(width, width, role="hidden") for _ in range(depth))
        self.readout = RoleLinear(width, n_classes, role="readout")
        self.act_scale = 1.0  # u-μP: unit-scaled ReLU

    def act(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x)
        return h if self.act_scale == 1.0 else h * self.act_scale

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None):
        h = self.act(self.input(x))
        for layer in self.hidden:
            h = self.act(layer(h))
        logits = self.readout(h)
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.float(), targets)

    def non_embedding_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self) -> float:
        return FLOPS_PER_PARAM_TOKEN * self.non_embedding_params()


def build_mlp(
    *,
    in_features: int,
    n_classes: int,
    width: int,
    depth: int,
    par: parametrization.Parametrization,
    zero_readout: bool = False,
) -> MLP:
    """An MLP with PyTorch-default init, then the parametrization applied."""
    model = MLP(in_features=in_features, n_classes=n_classes, width=width, depth=depth)
    if par.unit:
        model.act_scale = unit_scaling.relu_scale()
    return parametrization.apply(model, par, zero_readout=zero_readout)
