"""Decoder-only transformer LM (pre-norm, causal attention, MLP) with width/depth knobs.

Heads scale with width at a fixed head size (n_heads = width / head_dim), as in the muP
width sweeps. Every Linear/Embedding carries a parametrization role; build the model
with `build_transformer`, which applies the parametrization table and, under u-μP,
the unit-scaled ops of `unit_scaling` (every factor here is exactly 1.0 otherwise).

    N (non-embedding params) = all parameters except token and position embeddings
    training FLOPs per token = 6·N + 12·L·width·T   (nanoGPT / PaLM App. B: the second
                                                     term is the attention scores)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tunescale.contract.errors import InputError
from tunescale.contract.schema import FLOPS_PER_PARAM_TOKEN
from tunescale.trials import parametrization
from tunescale.trials.models import unit_scaling
from tunescale.trials.models.layers import RoleEmbedding, RoleLinear

MLP_RATIO = 4  # hidden size of the block MLP, as in GPT-2


class CausalSelfAttention(nn.Module):
    def __init__(self, width: int, head_dim: int) -> None:
        super().__init__()
        self.n_heads = width // head_dim
        self.head_dim = head_dim
        self.qkv = RoleLinear(width, 3 * width, role="hidden", bias=False)
        self.proj = RoleLinear(width, width, role="hidden", bias=False)
        self.scale = head_dim**-0.5  # set by the parametrization (muP: 1/head_dim rule)
        self.out_scale = 1.0  # u-μP: unit-scaled attention output

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        return tuple(z.view(b, t, self.n_heads, self.head_dim).transpose(1, 2) for z in (q, k, v))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The pre-softmax attention scores [b, heads, t, t] (for the coord check)."""
        q, k, _ = self.heads(x)
        return q @ k.transpose(-2, -1) * self.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.heads(x)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        if self.out_scale != 1.0:
            y = y * self.out_scale
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    residual_block = True  # u-μP's depth rule scales the LR of every parameter in here

    def __init__(self, width: int, head_dim: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, head_dim)
        self.ln2 = nn.LayerNorm(width)
        self.fc = RoleLinear(width, MLP_RATIO * width, role="hidden", bias=False)
        self.fc_out = RoleLinear(MLP_RATIO * width, width, role="hidden", bias=False)
        self.act_scale = 1.0  # u-μP: unit-scaled GELU
        self.taus: tuple[float, float] | None = None  # u-μP: weighted residual branches

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.fc(self.ln2(x)))
        return self.fc_out(h if self.act_scale == 1.0 else h * self.act_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.taus is None:
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(x)
        tau_attn, tau_mlp = self.taus
        x = (tau_attn * self.attn(self.ln1(x)) + x) * (1 + tau_attn**2) ** -0.5
        return (tau_mlp * self.mlp(x) + x) * (1 + tau_mlp**2) ** -0.5


class TransformerLM(nn.Module):
    """Byte-level causal LM; `forward(idx, targets)` returns (logits, mean cross-entropy)."""

    def __init__(self, *, width: int, depth: int, seq_len: int, vocab_size: int = 256, head_dim: int = 16) -> None:
        super().__init__()
        if width % head_dim:
            raise InputError(f"width={width} is not a multiple of head_dim={head_dim}; pick width = k·{head_dim}.")
        self.width, self.depth, self.seq_len = width, depth, seq_len
        self.tok_emb = RoleEmbedding(vocab_size, width)
        self.pos_emb = RoleEmbedding(seq_len, width)
        self.blocks = nn.ModuleList(Block(width, head_dim) for _ in range(depth))
        self.ln_f = nn.LayerNorm(width)
        self.readout = RoleLinear(width, vocab_size, role="readout", bias=False)
        self.emb_scale = 1.0  # u-μP: unit-scaled sum of the two embeddings

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(pos)
        if self.emb_scale != 1.0:
            x = x * self.emb_scale
        for block in self.blocks:
            x = block(x)
        logits = self.readout(self.ln_f(x))
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())

    def non_embedding_params(self) -> int:
        embedding = self.tok_emb.weight.numel() + self.pos_emb.weight.numel()
        return sum(p.numel() for p in self.parameters()) - embedding

    def flops_per_token(self) -> float:
        return FLOPS_PER_PARAM_TOKEN * self.non_embedding_params() + 12.0 * self.depth * self.width * self.seq_len


def transformer_from_config(cfg: Mapping[str, Any], par: parametrization.Parametrization) -> TransformerLM:
    """The proxy a resolved trainer config describes: what a trial trains and what a study sizes."""
    return build_transformer(width=cfg["width"], depth=cfg["depth"], seq_len=cfg["seq_len"], par=par,
                             head_dim=cfg["head_dim"], base_head_dim=cfg["base_head_dim"],
                             zero_readout=cfg["zero_readout"])


def build_transformer(
    *,
    width: int,
    depth: int,
    seq_len: int,
    par: parametrization.Parametrization,
    head_dim: int = 16,
    base_head_dim: int | None = None,
    zero_readout: bool = False,
) -> TransformerLM:
    """A TransformerLM with PyTorch-default init, then the parametrization applied."""
    model = TransformerLM(width=width, depth=depth, seq_len=seq_len, head_dim=head_dim)
    scale = par.attention_scale(head_dim, base_head_dim or head_dim)
    for block in model.blocks:
        block.attn.scale = scale
    if par.unit:
        model.emb_scale = unit_scaling.EMBEDDING_SUM_SCALE
        for block, taus in zip(model.blocks, unit_scaling.residual_taus(depth), strict=True):
            block.taus = taus
            block.act_scale = unit_scaling.gelu_scale()
            block.attn.out_scale = unit_scaling.attention_scale(head_dim, seq_len)
    return parametrization.apply(model, par, zero_readout=zero_readout)
