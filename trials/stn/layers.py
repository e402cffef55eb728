"""Hyperparameter-conditioned layers: a compact best-response approximation per unit.

Notations
---------
x  (B, …, d_in)   layer input; h (B, H) the hyperparameter input of each example
y  (B, …, d_out)  output, y = general(x) + g(h) ⊙ response(x)
g(h) = V h + c    per-unit gate (d_out,), the only place the hyperparameters enter

STN (MacKay et al. 2019, sec. 4.2) writes the best response as w(λ) = w_elem + (V λ) ⊙_row w_hyper,
so one layer evaluates two paths and gates the second per output unit. The Delta-STN
centred variant (Bae & Grosse 2020, sec. 4.1) feeds h = ũ - u (the perturbation, not
the value) and drops the gate bias c, so at the current hyperparameters the response
path is exactly zero and the general weights alone are the current best response.

`response_rank` (optional) factors the response path through r units, which cuts its
cost from d_in·d_out to r·(d_in + d_out) multiply-adds per position (used only where
that is smaller).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _gate(n_hyper: int, d_out: int, centred: bool) -> nn.Linear:
    gate = nn.Linear(n_hyper, d_out, bias=not centred)
    # Small gates: the network starts close to its general path and learns how far to bend.
    nn.init.normal_(gate.weight, std=0.1 / math.sqrt(n_hyper))
    if gate.bias is not None:
        nn.init.zeros_(gate.bias)
    return gate


def _broadcast(gate: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B, d) gate → (B, 1, …, 1, d) so it scales every position of a sequence input."""
    return gate.reshape(gate.shape[0], *([1] * (like.dim() - 2)), gate.shape[-1])


class StnLinear(nn.Module):
    """A linear layer whose weights respond to the hyperparameters h: y = W x + b + g(h) ⊙ (W' x + b')."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        n_hyper: int,
        *,
        centred: bool = False,
        response_rank: int | None = None,
    ) -> None:
        super().__init__()
        self.general = nn.Linear(in_features, out_features)
        # A factored path only where it is cheaper than the full one.
        full_cost = in_features * out_features
        if response_rank is None or response_rank * (in_features + out_features) >= full_cost:
            self.response = nn.Linear(in_features, out_features)
        else:
            self.response = nn.Sequential(
                nn.Linear(in_features, response_rank, bias=False),
                nn.Linear(response_rank, out_features),
            )
        self.gate = _gate(n_hyper, out_features, centred)
        self.centred = centred

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.general(x) + _broadcast(self.gate(h), x) * self.response(x)


class StnEmbedding(nn.Module):
    """Token embedding with a hyperparameter-gated response table, for transformer proxies."""

    def __init__(self, num_embeddings: int, dim: int, n_hyper: int, *, centred: bool = False) -> None:
        super().__init__()
        self.general = nn.Embedding(num_embeddings, dim)
        self.response = nn.Embedding(num_embeddings, dim)
        nn.init.normal_(self.response.weight, std=0.02)
        self.gate = _gate(n_hyper, dim, centred)
        self.centred = centred

    def forward(self, tokens: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        general = self.general(tokens)
        return general + _broadcast(self.gate(h), general) * self.response(tokens)
