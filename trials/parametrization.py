"""Width parametrizations (SP, muP, u-muP, NTK, MFP) as one table of abc exponents.

The "abc-parametrization" view (Tensor Programs V; Everett et al. 2024, "Scaling
Exponents Across Parameterizations and Optimizers") describes a parametrization by three
exponents per kind of layer. Here they are *relative to a base width* ``n0`` and to plain
PyTorch defaults, with the width multiplier ``m = n / n0``:

    effective weight   W = m^(-a) · w            (parameter multiplier, in the forward pass)
    initialisation     w0 = m^(-b) · w0_torch     (w0_torch: nn.Linear / nn.Embedding default)
    learning rate      lr_layer = lr · m^(-c)     (c_adam for Adam-type, c_sgd for SGD)

so at ``m = 1`` every parametrization is PyTorch's defaults exactly. PyTorch's Linear
init already has std ∝ 1/sqrt(fan_in) (= SP); an exponent b = -1/2 therefore means
"unit-variance raw weights" (NTK, MFP, u-muP), an a = 1/2 multiplier then restores the
1/sqrt(fan_in) forward scale.

Kinds of parameter (`Role`):
    input    embeddings / first layer (fan_in fixed, fan_out = width)
    hidden   width x width matrices
    readout  last layer (fan_in = width, fan_out fixed)
    vector   biases and norm gains

Attention logits are scaled by d_head^(-1/2) · (d_head / base_d_head)^(-attn), so muP's
1/d_head rule (attn = 1/2) equals PyTorch's 1/sqrt(d_head) at the base head size.

Rows (Adam exponents from TP5 Table 3, u-muP from Blake et al. 2024 Table 2; SP, NTK and
MFP train with one global LR, as they are defined):
    sp    standard: PyTorch defaults at every width.
    mup   hidden Adam LR / m, readout multiplier 1/m with unit-scale raw init
          (microsoft/mup's MuReadout + rescale), SGD LR x m for input and vectors.
    umup  unit-variance raw init everywhere, multipliers 1/sqrt(fan_in) (hidden) and
          1/fan_in (readout), Adam LR 1/sqrt(fan_out) (input), 1/sqrt(fan_in) (hidden).
          An equivalent table; unit-scaled ops (scaled residuals) are not applied.
    ntk   unit-variance raw init, multipliers 1/sqrt(fan_in) on hidden and readout.
    mfp   mean field: as NTK but readout multiplier 1/fan_in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tunescale.contract.errors import InputError
from tunescale.contract.schema import PARAMETRIZATIONS

ROLES = ("input", "hidden", "readout", "vector")


@dataclass(frozen=True)
class Exponents:
    """abc exponents of one role: multiplier m^-a, init m^-b, LR m^-c (Adam / SGD)."""

    a: float = 0.0
    b: float = 0.0
    c_adam: float = 0.0
    c_sgd: float = 0.0


_SP = Exponents()

# TABLE[parametrization][role]; plus the attention exponent in ATTENTION.
TABLE: dict[str, dict[str, Exponents]] = {
    "sp": {"input": _SP, "hidden": _SP, "readout": _SP, "vector": _SP},
    "mup": {
        "input": Exponents(c_sgd=-1.0),
        "hidden": Exponents(c_adam=1.0),
        "readout": Exponents(a=1.0, b=-0.5, c_sgd=-1.0),
        "vector": Exponents(c_sgd=-1.0),
    },
    "umup": {
        "input": Exponents(c_adam=0.5, c_sgd=-1.0),
        "hidden": Exponents(a=0.5, b=-0.5, c_adam=0.5),
        "readout": Exponents(a=1.0, b=-0.5, c_sgd=-1.0),
        "vector": Exponents(c_sgd=-1.0),
    },
    "ntk": {
        "input": _SP,
        "hidden": Exponents(a=0.5, b=-0.5),
        "readout": Exponents(a=0.5, b=-0.5),
        "vector": _SP,
    },
    "mfp": {
        "input": _SP,
        "hidden": Exponents(a=0.5, b=-0.5),
        "readout": Exponents(a=1.0, b=-0.5),
        "vector": _SP,
    },
}
ATTENTION: dict[str, float] = {"sp": 0.0, "mup": 0.5, "umup": 0.5, "ntk": 0.0, "mfp": 0.0}


def check_parametrization(name: str) -> str:
    if name not in TABLE:
        raise InputError(
            f"parametrization {name!r} is unknown; expected one of {', '.join(PARAMETRIZATIONS)}."
        )
    return name


@dataclass(frozen=True)
class Parametrization:
    """One parametrization at one width multiplier: the numbers a model and optimizer use."""

    name: str
    width_mult: float

    def exponents(self, role: str) -> Exponents:
        return TABLE[self.name][role]

    def multiplier(self, role: str) -> float:
        return self.width_mult ** -self.exponents(role).a

    def init_scale(self, role: str) -> float:
        return self.width_mult ** -self.exponents(role).b

    def lr_scale(self, role: str, optimizer: str) -> float:
        e = self.exponents(role)
        return self.width_mult ** -(e.c_sgd if optimizer == "sgd" else e.c_adam)

    def attention_scale(self, head_dim: int, base_head_dim: int) -> float:
        return head_dim**-0.5 * (head_dim / base_head_dim) ** -ATTENTION[self.name]


def make(name: str, width: int, base_width: int) -> Parametrization:
    check_parametrization(name)
    if width <= 0 or base_width <= 0:
        raise InputError(f"width={width} and base_width={base_width} must both be positive integers.")
    return Parametrization(name, width / base_width)


def role_of(module: nn.Module, param_name: str) -> str:
    """A parameter's role: its layer's role for weights, 'vector' for biases and norms."""
    if param_name == "weight" and hasattr(module, "role"):
        return module.role
    return "vector"


@torch.no_grad()
def apply(model: nn.Module, par: Parametrization, *, zero_readout: bool = False) -> nn.Module:
    """Set every role layer's multiplier and rescale its PyTorch-default init (in place).

    Scales of exactly 1.0 are skipped, so at the base width the parameters stay the
    PyTorch defaults bit for bit. `zero_readout` zeroes the readout weight (muP option).
    """
    for module in model.modules():
        role = getattr(module, "role", None)
        if role is None:
            continue
        module.multiplier = par.multiplier(role)
        scale = par.init_scale(role)
        if scale != 1.0:
            module.weight.mul_(scale)
        if zero_readout and role == "readout":
            module.weight.zero_()
    return model


def param_groups(
    model: nn.Module,
    par: Parametrization,
    *,
    lr: float,
    optimizer: str = "adamw",
    weight_decay: float = 0.0,
    wd_mode: str = "coupled",
    wd_scaling: bool = False,
) -> list[dict]:
    """Optimizer parameter groups: one per (role, matrix/vector) with its LR and decay.

    Weight decay applies to matrices only. `wd_mode='coupled'` is torch AdamW's
    p -= lr_t·λ·p; `'independent'` sets the group's decay to λ / lr_group so the step is
    p -= (lr_t / lr_peak)·λ·p, independent of the LR. `wd_scaling` is the width rule of
    "Robust Layerwise Scaling Rules by Proper Weight Decay Tuning": hidden matrices
    (LR ∝ 1/width under muP) get λ·sqrt(width_mult).
    """
    if wd_mode not in ("coupled", "independent"):
        raise InputError(f"wd_mode={wd_mode!r}; expected 'coupled' or 'independent'.")
    groups: dict[tuple[str, bool], dict] = {}
    for module_name, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            role = role_of(module, name)
            matrix = p.ndim >= 2
            key = (role, matrix)
            if key not in groups:
                group_lr = lr * par.lr_scale(role, optimizer)
                wd = weight_decay if matrix else 0.0
                if wd_scaling and role == "hidden":
                    wd *= par.width_mult**0.5
                if wd_mode == "independent" and wd:
                    wd /= group_lr
                groups[key] = {
                    "params": [],
                    "names": [],
                    "role": role,
                    "lr": group_lr,
                    "weight_decay": wd,
                }
            groups[key]["params"].append(p)
            groups[key]["names"].append(f"{module_name}.{name}" if module_name else name)
    return list(groups.values())
