"""The unit-scaled operations of u-μP (Blake et al. 2024), as plain forward scale factors.

Each op is scaled so that its output has unit scale when its inputs do, at every width.
Graphcore's `unit-scaling` package (0.3.5) also rescales gradients; with its default
"to_output_scale" constraint the backward scale equals the forward one, except uniform
gradient factors that Adam divides out, so plain autograd through these factors trains
the same model. The formulas are the package's, with every `mult` hyperparameter at its
default 1 (the paper's out-of-the-box setting):

    linear            x·Wᵀ / sqrt(fan_in)   (readout: / fan_in)  -> `parametrization` table
    embedding sum     (tok + pos) / sqrt(2)
    GELU              gelu(x) · s_gelu                          (empirical std model)
    attention         softmax(q·kᵀ / d_head) · v  ·  1 / s_attn(d_head, T)
    residual          x <- (τ_l · f(x) + x) / sqrt(1 + τ_l²),   τ_l from the depth rule
"""

from __future__ import annotations

import math

EMBEDDING_SUM_SCALE = 2**-0.5


def log_interpolation(alpha: float, lower: float, upper: float) -> float:
    """exp(alpha·log(upper) + (1 - alpha)·log(lower)): a constant-ratio blend."""
    return math.exp(alpha * math.log(upper) + (1 - alpha) * math.log(lower))


def gelu_scale(mult: float = 1.0) -> float:
    """1 / std of gelu(mult·x)/mult for x ~ N(0, 1): between 2 (mult -> 0) and sqrt(2/(1-1/π))."""
    return log_interpolation(1 / (1 + 0.25 / mult**2), 2.0, (2 / (1 - 1 / math.pi)) ** 0.5)


def relu_scale() -> float:
    """1 / rms of relu(x) for x ~ N(0, 1)."""
    return 2**0.5


def attention_scale(head_dim: int, seq_len: int, mult: float = 1.0, causal: bool = True) -> float:
    """1 / std of causal attention's output for unit q, k, v at logit scale mult/head_dim."""
    flat = ((math.log(seq_len) if causal else 1.0) / seq_len) ** 0.5
    return 1 / log_interpolation(1 / (1 + 4 * head_dim / mult**2), flat, 1.0)


def residual_taus(depth: int, residual_mult: float = 1.0, attn_ratio: float = 1.0) -> list[tuple[float, float]]:
    """(τ_attn, τ_mlp) per block: every branch contributes equally, as much as the embedding
    (u-μP Appendix G, `transformer_residual_scaling_rule`)."""
    alpha_mlp = residual_mult * (2 / (1 + attn_ratio**2)) ** 0.5
    alpha_attn = attn_ratio * alpha_mlp
    layers = 2 * depth

    def tau(index: int) -> float:
        n_attn, n_mlp = (index + 1) // 2, index // 2
        alpha = alpha_attn if index % 2 == 0 else alpha_mlp
        return alpha / (layers / 2 + n_attn * alpha_attn**2 + n_mlp * alpha_mlp**2) ** 0.5

    return [(tau(2 * i), tau(2 * i + 1)) for i in range(depth)]
