"""Decoder-only transformer LM (pre-norm, causal attention, MLP) with width/depth knobs.

Heads scale with width at a fixed head size (n_heads = width / head_dim), as in the muP
width sweeps. Every Linear/Embedding carries a parametrization role; build the model
with `build_transformer`, which applies the parametrization table.

    N (non-embedding params) = all parameters except token and position embeddings
    training FLOPs per token = 6·N + 12·L·width·T   (nanoGPT / PaLM App. B: the second
                                                     term is the attention scores)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tunescale.contract.errors import InputError
from tunescale.contract.schema import FLOPS_PER_PARAM_TOKEN
from tunescale.trials import parametrization
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_heads, self.head_dim).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    def __init__(self, width: int, head_dim: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, head_dim)
        self.ln2 = nn.LayerNorm(width)
        self.fc = RoleLinear(width, MLP_RATIO * width, role="hidden", bias=False)
        self.fc_out = RoleLinear(MLP_RATIO * width, width, role="hidden", bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.fc_out(F.gelu(self.fc(self.ln2(x))))


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

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(pos)
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
    return parametrization.apply(model, par, zero_readout=zero_readout)
