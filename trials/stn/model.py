"""The MLP proxy with per-example regularizers, built from STN layers or plain ones.

The same class serves both sides of the benchmark: `stn=True` conditions every linear
layer on the hyperparameters (a Self-Tuning Network); `stn=False` uses plain
`nn.Linear` layers and fixed hyperparameter values (one random-search trial), so
both run the very same regularizers.

Hyperparameter names it understands (each optional; a missing one is simply not applied):
    cutout          zero a contiguous window of this many input features (discrete, the
                    augmentation knob: random erasing on a feature vector)
    input_noise     std of Gaussian noise added to the inputs
    input_dropout   dropout rate on the inputs
    dropout_<i>     dropout rate after hidden layer i (1-based)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tunescale.contract.errors import InputError
from tunescale.trials.stn.layers import StnLinear


def mlp_hyper_names(depth: int) -> tuple[str, ...]:
    return ("cutout", "input_noise", "input_dropout", *(f"dropout_{i + 1}" for i in range(depth)))


def _dropout(x: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """Inverted dropout with one rate per example (rate: (B,))."""
    keep = 1.0 - rate.unsqueeze(-1)
    mask = (torch.rand_like(x) < keep).to(x.dtype)
    return x * mask / keep


def _cutout(x: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """Zero a window of `width` consecutive features (one width per example) at a random start."""
    d = x.shape[-1]
    width = width.clamp(0, d)
    start = (torch.rand(x.shape[0], device=x.device) * (d - width + 1)).floor()
    pos = torch.arange(d, device=x.device)
    inside = (pos >= start.unsqueeze(-1)) & (pos < (start + width).unsqueeze(-1))
    return x.masked_fill(inside, 0.0)


class HyperMLP(nn.Module):
    """MLP classifier whose regularization strengths are per-example hyperparameter values."""

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        n_classes: int,
        hyper_names: Sequence[str],
        *,
        stn: bool = True,
        centred: bool = False,
        response_rank: int | None = None,
    ) -> None:
        super().__init__()
        known = set(mlp_hyper_names(len(hidden)))
        unknown = [n for n in hyper_names if n not in known]
        if unknown:
            raise InputError(
                f"hyperparameters {unknown} do not apply to an MLP with {len(hidden)} hidden "
                f"layers; use names from {sorted(known)}."
            )
        self.hyper_names = tuple(hyper_names)
        self.stn = stn
        widths = [in_features, *hidden, n_classes]
        n_hyper = len(hyper_names)
        self.layers = nn.ModuleList(
            StnLinear(a, b, n_hyper, centred=centred, response_rank=response_rank)
            if stn
            else nn.Linear(a, b)
            for a, b in zip(widths[:-1], widths[1:], strict=True)
        )

    def _col(self, values: torch.Tensor, name: str) -> torch.Tensor | None:
        return values[:, self.hyper_names.index(name)] if name in self.hyper_names else None

    def forward(
        self, x: torch.Tensor, values: torch.Tensor, h: torch.Tensor | None, *, regularize: bool
    ) -> torch.Tensor:
        """Logits. values (B, H): hyperparameters in their ranges; h (B, H): the gate input
        (ignored by a plain MLP). With regularize=False no noise, cutout or dropout is applied."""
        if regularize:
            cutout = self._col(values, "cutout")
            if cutout is not None:
                x = _cutout(x, cutout)
            noise = self._col(values, "input_noise")
            if noise is not None:
                x = x + noise.unsqueeze(-1) * torch.randn_like(x)
            rate = self._col(values, "input_dropout")
            if rate is not None:
                x = _dropout(x, rate)
        for i, layer in enumerate(self.layers):
            x = layer(x, h) if self.stn else layer(x)
            if i == len(self.layers) - 1:
                break
            x = torch.relu(x)
            rate = self._col(values, f"dropout_{i + 1}") if regularize else None
            if rate is not None:
                x = _dropout(x, rate)
        return x
