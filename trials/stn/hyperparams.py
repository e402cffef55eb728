"""Hyperparameters of a Self-Tuning Network, held in an unconstrained space.

Notations
---------
H            number of tuned hyperparameters
B            examples in a batch
u  (H,)      hyperparameters in the unconstrained space (what the hyper optimizer moves)
s  (H,)      perturbation scale, s = exp(log_s), learned alongside u
ũ  (B, H)    a perturbed draw, ũ = u + s ⊙ ε with ε ~ N(0, I), one row per example
             (perturb="example") or one row repeated (perturb="batch")
λ            the value a regularizer uses: λ = low + (high - low) · sigmoid(ũ), rounded for
             discrete hyperparameters, so every value lies in [low, high] whatever u is
τ            weight of the entropy of the perturbation, H = Σ log s + const, which keeps s
             from collapsing to zero (MacKay et al. 2019, eq. 8)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from tunescale.contract.errors import InputError

PERTURB_MODES = ("example", "batch")


@dataclass(frozen=True)
class HyperSpec:
    """One tuned hyperparameter: its name, range and starting value (in the constrained space)."""

    name: str
    low: float
    high: float
    init: float
    discrete: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise InputError(
                f"hyperparameter '{self.name}': need low < high, got low={self.low}, high={self.high}."
            )
        if not self.low < self.init < self.high:
            raise InputError(
                f"hyperparameter '{self.name}': init={self.init} must lie strictly inside "
                f"({self.low}, {self.high}); the sigmoid map cannot reach the ends."
            )
        if self.discrete and not (float(self.low).is_integer() and float(self.high).is_integer()):
            raise InputError(
                f"hyperparameter '{self.name}': a discrete range needs integer ends, got "
                f"[{self.low}, {self.high}]."
            )

    def to_unconstrained(self, value: float) -> float:
        """The u whose sigmoid map gives `value`: the inverse of `HyperParameters.constrain`."""
        frac = (value - self.low) / (self.high - self.low)
        return math.log(frac / (1.0 - frac))


class HyperParameters(nn.Module):
    """The tuned hyperparameters u and their perturbation scales, as trainable parameters.

    Only the hyper step's optimizer holds `u` and `log_scale`; a train step samples
    detached draws (`sample(..., grad=False)`), so weight updates never move them.
    """

    def __init__(
        self,
        specs: Sequence[HyperSpec],
        *,
        perturb: str = "example",
        init_scale: float = 0.5,
    ) -> None:
        super().__init__()
        if perturb not in PERTURB_MODES:
            raise InputError(f"perturb={perturb!r}; expected one of {', '.join(PERTURB_MODES)}.")
        if not init_scale > 0:
            raise InputError(f"init_scale={init_scale}; the perturbation scale must be > 0.")
        names = [s.name for s in specs]
        if len(set(names)) != len(names) or not names:
            raise InputError(f"hyperparameter names {names} must be non-empty and distinct.")
        self.specs = tuple(specs)
        self.perturb = perturb
        self.u = nn.Parameter(torch.tensor([s.to_unconstrained(s.init) for s in specs]))
        self.log_scale = nn.Parameter(torch.full((len(specs),), math.log(init_scale)))
        self.register_buffer("low", torch.tensor([s.low for s in specs]))
        self.register_buffer("high", torch.tensor([s.high for s in specs]))
        self.register_buffer("discrete", torch.tensor([s.discrete for s in specs]))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specs)

    def sample(self, batch_size: int, *, grad: bool) -> torch.Tensor:
        """A perturbed draw ũ (B, H); reparameterized, so with grad=True it is differentiable in u, s."""
        rows = batch_size if self.perturb == "example" else 1
        eps = torch.randn(rows, len(self.specs), device=self.u.device)
        u_tilde = (self.u + self.log_scale.exp() * eps).expand(batch_size, -1)
        return u_tilde if grad else u_tilde.detach()

    def current(self, batch_size: int) -> torch.Tensor:
        """The unperturbed u repeated per example (B, H), detached: what evaluation uses."""
        return self.u.detach().expand(batch_size, -1)

    def constrain(self, u: torch.Tensor) -> torch.Tensor:
        """Map unconstrained values (…, H) into each range; discrete ones rounded."""
        value = self.low + (self.high - self.low) * torch.sigmoid(u)
        return torch.where(self.discrete, value.round(), value)

    def entropy(self) -> torch.Tensor:
        """Entropy of the Gaussian perturbation up to a constant: Σ log s."""
        return self.log_scale.sum()

    def values(self) -> dict[str, float]:
        """Current hyperparameter values in their ranges (what a user reads)."""
        with torch.no_grad():
            vals = self.constrain(self.u).tolist()
        return dict(zip(self.names, vals, strict=True))

    def scales(self) -> dict[str, float]:
        with torch.no_grad():
            return dict(zip(self.names, self.log_scale.exp().tolist(), strict=True))

    def fixed(self, values: Mapping[str, float], batch_size: int) -> torch.Tensor:
        """Constrained values (B, H) for hand-set hyperparameters, e.g. a random-search trial."""
        missing = [n for n in self.names if n not in values]
        if missing:
            raise InputError(f"fixed hyperparameters lack {missing}; give a value for each of {list(self.names)}.")
        for spec in self.specs:
            v = float(values[spec.name])
            if not spec.low <= v <= spec.high:
                raise InputError(
                    f"hyperparameter '{spec.name}' = {v}; expected a value in [{spec.low}, {spec.high}]."
                )
        row = torch.tensor([float(values[n]) for n in self.names])
        return torch.where(self.discrete, row.round(), row).expand(batch_size, -1)
