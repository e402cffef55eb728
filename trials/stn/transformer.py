"""The transformer proxy with per-example regularizers and hyperparameter-gated response paths.

Notations
---------
B, T, d      batch, sequence length, width; H tuned hyperparameters
values (B,4) the values of TRANSFORMER_HYPERS, in that order, in their ranges
h (B, H)     gate input of the H tuned ones: ũ (STN), ũ - u (centred Delta-STN); None = no response path
W            a general weight: the plain proxy's own layer, built by `build_transformer`
W'           its response weight, same shape and parametrization role as W
g(h) = V h   per-unit gate of a response (plus a bias c in the uncentred STN)
t            response scale: y = W x + t · g(h) ⊙ W' x, so dy/dt at t = 0 is the
             Jacobian-vector product J_w y · ΔW of Delta-STN's linearization

The model wraps a plain `TransformerLM` and re-runs its forward (u-μP's unit-scaled ops
included) with three dropouts and the response paths added; with h = None (or a zero gate) and no dropout it computes
exactly the plain proxy's operations, bit for bit, under every parametrization. Response
weights are `RoleLinear`s of the same role as the weight they perturb, so the
parametrization table gives them the same multiplier, init scale and LR as W.

Its regularizers (the columns of `values`):
    emb_dropout      dropout on token + position embeddings
    attn_dropout     dropout on the attention probabilities
    resid_dropout    dropout on each attention and MLP branch before the residual add
    label_smoothing  of the training loss (a loss-side knob; see `smoothed_loss`)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tunescale.trials import parametrization
from tunescale.trials.models.layers import RoleLinear
from tunescale.trials.models.transformer import TransformerLM
from tunescale.trials.stn.layers import _gate

TRANSFORMER_HYPERS = ("emb_dropout", "attn_dropout", "resid_dropout", "label_smoothing")
# Layers that get a response path, per block and at the top. The MLP output and the
# readout carry most of what dropout changes at this size; responses on every matrix
# would double a train step (the compute goal is <= 2x one plain run).
RESPONSE_LAYERS = ("fc_out", "readout")
BLOCK_LAYERS = ("qkv", "proj", "fc", "fc_out")


def _dropout(x: torch.Tensor, rate: torch.Tensor | None) -> torch.Tensor:
    """Inverted dropout with one rate per example (rate: (B,)); None leaves x as it is."""
    if rate is None:
        return x
    keep = (1.0 - rate).reshape(-1, *([1] * (x.dim() - 1)))
    return x * (torch.rand_like(x) < keep).to(x.dtype) / keep


def smoothed_loss(logits: torch.Tensor, targets: torch.Tensor, smoothing: torch.Tensor | None) -> torch.Tensor:
    """Mean cross-entropy with one label-smoothing ε per example: (1-ε)·NLL + ε·mean_v(-log p_v),
    the loss `F.cross_entropy(label_smoothing=ε)` computes for a single ε."""
    logits = logits.float()
    if smoothing is None:
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    logp = F.log_softmax(logits, dim=-1)
    nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    eps = smoothing.unsqueeze(-1)
    return ((1.0 - eps) * nll - eps * logp.mean(-1)).mean()


def _residual(x: torch.Tensor, branch: torch.Tensor, taus: tuple[float, float] | None, which: int) -> torch.Tensor:
    """x + branch, or u-μP's weighted residual (τ·branch + x)/sqrt(1 + τ²), as `Block.forward` adds them."""
    if taus is None:
        return x + branch
    tau = taus[which]
    return (tau * branch + x) * (1 + tau**2) ** -0.5


class _Response(nn.Module):
    """W' (same role as W) and the gate V: adds t · g(h) ⊙ W' x to a layer's output."""

    def __init__(self, layer: RoleLinear, n_hyper: int, centred: bool) -> None:
        super().__init__()
        self.weight = RoleLinear(layer.in_features, layer.out_features, role=layer.role, bias=False)
        self.gate = _gate(n_hyper, layer.out_features, centred)

    def forward(self, x: torch.Tensor, h: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        gate = self.gate(h).reshape(h.shape[0], *([1] * (x.dim() - 2)), -1)
        return t * gate * self.weight(x)


def _block_layers(plain: TransformerLM) -> list[tuple[str, RoleLinear]]:
    """("<block>_<name>", layer) for every matrix of every block."""
    out = []
    for i, block in enumerate(plain.blocks):
        layers = {"qkv": block.attn.qkv, "proj": block.attn.proj, "fc": block.fc, "fc_out": block.fc_out}
        out += [(f"{i}_{name}", layers[name]) for name in BLOCK_LAYERS]
    return out


class HyperTransformer(nn.Module):
    """A plain `TransformerLM` plus response paths; `forward` returns logits (B, T, vocab)."""

    def __init__(
        self,
        plain: TransformerLM,
        par: parametrization.Parametrization,
        n_hyper: int,
        *,
        stn: bool = True,
        centred: bool = True,
    ) -> None:
        super().__init__()
        self.plain = plain
        self.responses = nn.ModuleDict()
        if stn:
            for key, layer in _block_layers(plain):
                if key.split("_", 1)[1] in RESPONSE_LAYERS:
                    self.responses[key] = _Response(layer, n_hyper, centred)
            if "readout" in RESPONSE_LAYERS:
                self.responses["readout"] = _Response(plain.readout, n_hyper, centred)
            parametrization.apply(self.responses, par)

    @staticmethod
    def _col(values: torch.Tensor | None, name: str) -> torch.Tensor | None:
        return None if values is None else values[:, TRANSFORMER_HYPERS.index(name)]

    def _linear(self, layer: RoleLinear, key: str, x: torch.Tensor, h, t) -> torch.Tensor:
        out = layer(x)
        if h is None or key not in self.responses:
            return out
        return out + self.responses[key](x, h, t)

    def _attention(self, i: int, x: torch.Tensor, h, t, rate, manual: bool) -> torch.Tensor:
        attn = self.plain.blocks[i].attn
        b, n, c = x.shape
        q, k, v = self._linear(attn.qkv, f"{i}_qkv", x, h, t).split(c, dim=2)
        q, k, v = (z.view(b, n, attn.n_heads, attn.head_dim).transpose(1, 2) for z in (q, k, v))
        if (rate is None or not bool((rate > 0).any())) and not manual:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=attn.scale)
        else:
            # Written out where SDPA cannot serve: per-example dropout rates, and forward-mode
            # AD (SDPA's CPU kernel has no JVP rule).
            scores = (q @ k.transpose(-2, -1)) * attn.scale
            causal = torch.ones(n, n, dtype=torch.bool, device=x.device).tril()
            probs = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
            y = _dropout(probs, rate) @ v
        if attn.out_scale != 1.0:
            y = y * attn.out_scale
        return self._linear(attn.proj, f"{i}_proj", y.transpose(1, 2).reshape(b, n, c), h, t)

    def forward(
        self,
        idx: torch.Tensor,
        values: torch.Tensor | None,
        h: torch.Tensor | None,
        *,
        regularize: bool,
        t: torch.Tensor | float = 1.0,
        manual_attention: bool = False,
    ) -> torch.Tensor:
        """Logits. With regularize=False (or values=None) no dropout; with h=None no response path."""
        values = values if regularize else None
        m = self.plain
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = m.tok_emb(idx) + m.pos_emb(pos)
        if m.emb_scale != 1.0:
            x = x * m.emb_scale
        x = _dropout(x, self._col(values, "emb_dropout"))
        resid = self._col(values, "resid_dropout")
        for i, block in enumerate(m.blocks):
            a = self._attention(i, block.ln1(x), h, t, self._col(values, "attn_dropout"), manual_attention)
            x = _residual(x, _dropout(a, resid), block.taus, 0)
            y = F.gelu(self._linear(block.fc, f"{i}_fc", block.ln2(x), h, t))
            y = self._linear(block.fc_out, f"{i}_fc_out", y if block.act_scale == 1.0 else y * block.act_scale, h, t)
            x = _residual(x, _dropout(y, resid), block.taus, 1)
        return self._linear(m.readout, "readout", m.ln_f(x), h, t)
