"""Width parametrizations (SP, muP, u-μP, NTK, MFP) as one table of abc exponents.

The "abc-parametrization" view (Tensor Programs V; Everett et al. 2024, "Scaling
Exponents Across Parameterizations and Optimizers") describes a parametrization by three
exponents per kind of layer. Here they are *relative to a base width* ``n0`` and to plain
PyTorch defaults, with the width multiplier ``m = n / n0``:

    effective weight   W = m^(-a) · w            (parameter multiplier, in the forward pass)
    initialisation     w0 = m^(-b) · w0_torch     (w0_torch: nn.Linear / nn.Embedding default)
    learning rate      lr_layer = lr · m^(-c)     (c_adam for Adam-type, c_sgd for SGD)

so at ``m = 1`` every relative parametrization is PyTorch's defaults exactly. PyTorch's
Linear init already has std ∝ 1/sqrt(fan_in) (= SP); an exponent b = -1/2 therefore
means "unit-variance raw weights" (NTK, MFP), an a = 1/2 multiplier then restores the
1/sqrt(fan_in) forward scale.

Kinds of parameter (`Role`):
    input    embeddings / first layer (fan_in fixed, fan_out = width)
    hidden   width x width matrices
    readout  last layer (fan_in = width, fan_out fixed)
    vector   biases and norm gains

Attention logits are scaled by d_head^(-1/2) · (d_head / base_d_head)^(-attn), so muP's
1/d_head rule (attn = 1/2) equals PyTorch's 1/sqrt(d_head) at the base head size.

Rows (Adam exponents from TP5 Table 3):
    sp    standard: PyTorch defaults at every width.
    mup   hidden Adam LR / m, readout multiplier 1/m with unit-scale raw init
          (microsoft/mup's MuReadout + rescale), SGD LR x m for input and vectors; the
          biases of hidden and readout layers keep their base-width init (mup's
          `rescale_linear_bias`: x sqrt(m)).
    ntk   unit-variance raw init, multipliers 1/sqrt(fan_in) on hidden and readout.
    mfp   mean field: as NTK but readout multiplier 1/fan_in.
    umup  u-μP (Blake et al. 2024, Table 2), an *absolute* row: no base width; each
          exponent is of the layer's own fan (`Row.unit`), raw weights N(0, 1), biases
          zero, multipliers fan_in^-1/2 (input, hidden; an embedding's fan_in is 1) and
          1/fan_in (readout), Adam LR fan^-1/2 (input, hidden: fan = the weight's second
          dimension, an embedding's fan_out, a Linear's fan_in), 1
          (readout, vectors), times depth^-1/2 for parameters in residual blocks; the
          unit-scaled ops (residual taus, scaled GELU and attention, embedding sum) are
          in `trials.models.unit_scaling`. At every width its default HPs (all
          multipliers 1) are the paper's, so only the global LR is tuned.

SP, NTK and MFP train with one global LR as they are defined; `per_layer_lr=True` uses
the `c_layer` column instead: Everett et al.'s per-layer Adam exponents under full
alignment (each layer's update moves its output by Θ(1): a + c = 1 for width-fan-in
matrices, c = 0 for the input layer and vectors), with which each of them transfers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from tunescale.contract.errors import InputError
from tunescale.contract.schema import PARAMETRIZATIONS
from tunescale.trials.defaults import WD_MODES

ROLES = ("input", "hidden", "readout", "vector")


@dataclass(frozen=True)
class Exponents:
    """abc exponents of one role: multiplier m^-a, init m^-b, LR m^-c (Adam / SGD).

    `c_layer`: the per-layer Adam LR exponent used with `per_layer_lr=True` (None: c_adam).
    `b_bias`: the bias init exponent of this role's layers (vectors keep their own rule).
    """

    a: float = 0.0
    b: float = 0.0
    c_adam: float = 0.0
    c_sgd: float = 0.0
    c_layer: float | None = None
    b_bias: float = 0.0


@dataclass(frozen=True)
class Row:
    """One parametrization: exponents per role, the attention exponent, and whether the
    exponents are absolute (u-μP: of each layer's own fan, unit-scaled ops, depth factor)."""

    roles: dict[str, Exponents] = field(default_factory=dict)
    attention: float = 0.0
    unit: bool = False
    depth_lr: float = 0.0  # LR x depth^-depth_lr for parameters inside residual blocks


_SP = Exponents()

TABLE: dict[str, Row] = {
    "sp": Row({
        "input": _SP,
        "hidden": Exponents(c_layer=1.0),
        "readout": Exponents(c_layer=1.0),
        "vector": _SP,
    }),
    "mup": Row({
        "input": Exponents(c_sgd=-1.0),
        "hidden": Exponents(c_adam=1.0, b_bias=-0.5),
        "readout": Exponents(a=1.0, b=-0.5, c_sgd=-1.0, b_bias=-0.5),
        "vector": Exponents(c_sgd=-1.0),
    }, attention=0.5),
    "ntk": Row({
        "input": _SP,
        "hidden": Exponents(a=0.5, b=-0.5, c_layer=0.5),
        "readout": Exponents(a=0.5, b=-0.5, c_layer=0.5),
        "vector": _SP,
    }),
    "mfp": Row({
        "input": _SP,
        "hidden": Exponents(a=0.5, b=-0.5, c_layer=0.5),
        "readout": Exponents(a=1.0, b=-0.5, c_layer=0.0),
        "vector": _SP,
    }),
    "umup": Row({
        "input": Exponents(a=0.5, c_adam=0.5),  # an embedding's LR: 1/sqrt(fan_out), the paper's rule
        "hidden": Exponents(a=0.5, c_adam=0.5),
        "readout": Exponents(a=1.0),
        "vector": _SP,
    }, attention=0.5, unit=True, depth_lr=0.5),
}


def check_parametrization(name: str) -> str:
    if name not in TABLE:
        raise InputError(
            f"parametrization {name!r} is unknown; expected one of {', '.join(PARAMETRIZATIONS)}."
        )
    return name


def check_combination(name: str, *, per_layer_lr: bool = False, optimizer: str = "adamw",
                      wd_mode: str = "coupled", wd_scaling: bool = False) -> None:
    """Reject settings that make no sense together, each with one line naming the fix."""
    check_parametrization(name)
    row = TABLE[name]
    if wd_mode not in WD_MODES:
        raise InputError(f"wd_mode={wd_mode!r}; expected one of {', '.join(WD_MODES)}.")
    if per_layer_lr and all(e.c_layer is None for e in row.roles.values()):
        raise InputError(f"per_layer_lr=true with parametrization {name!r}, whose LRs are per layer already; "
                         f"drop per_layer_lr or use sp, ntk or mfp.")
    if per_layer_lr and optimizer != "adamw":
        raise InputError("per_layer_lr=true holds Adam exponents (Everett et al.); use optimizer 'adamw'.")
    if row.unit and optimizer != "adamw":
        raise InputError("parametrization 'umup' with SGD needs unit-scaled gradients; use optimizer 'adamw'.")
    if wd_scaling:
        hidden = row.roles["hidden"]
        c = hidden.c_layer if per_layer_lr and hidden.c_layer is not None else hidden.c_adam
        if row.unit or hidden.a + c != 1.0:
            raise InputError(
                f"wd_scaling=true needs a relative parametrization whose hidden Adam updates shrink as 1/width "
                f"(mup, or sp/ntk/mfp with per_layer_lr); {name!r}"
                f"{' with per_layer_lr' if per_layer_lr else ''} is not one; drop wd_scaling."
            )


@dataclass(frozen=True)
class Parametrization:
    """One parametrization at one width multiplier: the numbers a model and optimizer use.

    Relative rows read `width_mult`; the absolute u-μP row reads each layer's fan
    instead (its base width is 1).
    """

    name: str
    width_mult: float
    per_layer_lr: bool = False

    @property
    def row(self) -> Row:
        return TABLE[self.name]

    @property
    def unit(self) -> bool:
        return self.row.unit

    def exponents(self, role: str) -> Exponents:
        return self.row.roles[role]

    def _scale(self, fan: int | None, exponent: float) -> float:
        if exponent == 0:
            return 1.0
        if not self.unit:
            return self.width_mult**-exponent
        if fan is None:
            raise ValueError(f"parametrization {self.name!r} scales by each layer's fan; pass it.")
        return float(fan) ** -exponent

    def multiplier(self, role: str, fan_in: int | None = None) -> float:
        return self._scale(fan_in, self.exponents(role).a)

    def init_scale(self, role: str) -> float:
        return self.width_mult ** -self.exponents(role).b

    def bias_init_scale(self, role: str) -> float:
        return self.width_mult ** -self.exponents(role).b_bias

    def lr_scale(self, role: str, optimizer: str, fan: int | None = None) -> float:
        """The group LR factor; u-μP reads `fan`, the weight's second dimension (an embedding's
        width, a Linear's fan_in), as unit_scaling.optim does."""
        e = self.exponents(role)
        if optimizer == "sgd":
            c = e.c_sgd
        elif self.per_layer_lr and e.c_layer is not None:
            c = e.c_layer
        else:
            c = e.c_adam
        return self._scale(fan, c)

    def depth_scale(self, depth: int) -> float:
        """LR factor of parameters inside residual blocks (u-μP's depth rule)."""
        return depth**-self.row.depth_lr if self.row.depth_lr and depth > 0 else 1.0

    def attention_scale(self, head_dim: int, base_head_dim: int) -> float:
        base = 1 if self.unit else base_head_dim
        return head_dim**-0.5 * (head_dim / base) ** -self.row.attention


def make(name: str, width: int, base_width: int, *, per_layer_lr: bool = False) -> Parametrization:
    check_parametrization(name)
    if width <= 0 or base_width <= 0:
        raise InputError(f"width={width} and base_width={base_width} must both be positive integers.")
    check_combination(name, per_layer_lr=per_layer_lr)
    return Parametrization(name, width / base_width, per_layer_lr)


def role_of(module: nn.Module, param_name: str) -> str:
    """A parameter's role: its layer's role for weights, 'vector' for biases and norms."""
    if param_name == "weight" and hasattr(module, "role"):
        return module.role
    return "vector"


@torch.no_grad()
def apply(model: nn.Module, par: Parametrization, *, zero_readout: bool = False) -> nn.Module:
    """Set every role layer's multiplier and rescale its PyTorch-default init (in place).

    Scales of exactly 1.0 are skipped, so at the base width a relative parametrization
    leaves the parameters the PyTorch defaults bit for bit. The absolute u-μP row draws
    raw weights N(0, 1) and zero biases instead. `zero_readout` zeroes the readout
    weight (muP option).
    """
    for module in model.modules():
        role = getattr(module, "role", None)
        if role is None:
            continue
        module.multiplier = par.multiplier(role, module.fan_in)
        bias = getattr(module, "bias", None)
        if par.unit:
            nn.init.normal_(module.weight)
            if bias is not None:
                bias.zero_()
        else:
            scale = par.init_scale(role)
            if scale != 1.0:
                module.weight.mul_(scale)
            bias_scale = par.bias_init_scale(role)
            if bias is not None and bias_scale != 1.0:
                bias.mul_(bias_scale)
        if zero_readout and role == "readout":
            module.weight.zero_()
    return model


def group_weight_decay(par: Parametrization, role: str, *, lr: float, group_lr: float, weight_decay: float,
                       wd_mode: str, wd_scaling: bool) -> float:
    """torch's `weight_decay` for a matrix group, whose decay per step at the peak LR is

        coupled         lr · λ         the global LR (mup.MuAdamW): width-free in every row
        coupled_group   lr_group · λ   torch AdamW on the group LR; shrinks as 1/m under muP
        independent     λ              LR-free (unit_scaling.optim's default)

    (torch AdamW decays p by lr_group,t · weight_decay · p). `wd_scaling` (Fan et al. 2025,
    "Robust Layerwise Scaling Rules by Proper Weight Decay Tuning") multiplies the hidden
    matrices' decay by m^-1/2 where their Adam updates shrink as 1/m (`check_combination`).
    """
    factor = {"coupled": lr / group_lr, "coupled_group": 1.0, "independent": 1.0 / group_lr}[wd_mode]
    if wd_scaling and role == "hidden":
        factor *= par.width_mult**-0.5
    return weight_decay * factor


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
    """Optimizer parameter groups: one per (role, matrix/vector, LR) with its LR and decay.

    Weight decay applies to matrices only; each group's torch `weight_decay` is set so
    that the decay per step follows `wd_mode` (see `group_weight_decay`).
    Under u-μP the LR also depends on each layer's fan and, inside residual blocks
    (modules with `residual_block = True`), on the model's `depth`.
    """
    check_combination(par.name, per_layer_lr=par.per_layer_lr, optimizer=optimizer, wd_mode=wd_mode,
                      wd_scaling=wd_scaling)
    in_blocks = {id(p) for m in model.modules() if getattr(m, "residual_block", False) for p in m.parameters()}
    depth_scale = par.depth_scale(getattr(model, "depth", 0))
    groups: dict[tuple, dict] = {}
    for module_name, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            role = role_of(module, name)
            matrix = p.ndim >= 2
            group_lr = lr * par.lr_scale(role, optimizer, p.shape[1] if matrix else None)
            if id(p) in in_blocks:
                group_lr *= depth_scale
            key = (role, matrix, group_lr)
            if key not in groups:
                wd = 0.0
                if matrix and weight_decay:
                    wd = group_weight_decay(par, role, lr=lr, group_lr=group_lr, weight_decay=weight_decay,
                                            wd_mode=wd_mode, wd_scaling=wd_scaling)
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
