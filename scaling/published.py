"""Published hyperparameter laws, for `--compare` overlays and checks against our fits.

Notations
---------
N        non-embedding parameters;  D  training tokens;  C  training compute (FLOPs)
lr*      optimal peak learning rate;  B*  optimal batch size in TOKENS per step

Step Law (Li et al. 2025, "Predictable Scale: Part I", arXiv:2503.04715, Eq. 1-2):
    lr* = 1.79 · N^-0.713 · D^0.307        B* = 0.58 · D^0.571
DeepSeek LLM (DeepSeek-AI 2024, arXiv:2401.02954, Eq. 1):
    lr* = 0.3118 · C^-0.1250               B* = 0.2920 · C^0.3271
    (their C = M·D with M the non-embedding FLOPs per token; 6·N·D is used here when M is
    not known, which shifts the prefactor but not the exponents)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tunescale.contract.errors import InputError


@dataclass(frozen=True)
class PublishedLaw:
    """y = prefactor · Π x^exponent, as the paper states it."""

    source: str
    target: str
    prefactor: float
    exponents: dict[str, float]
    note: str

    def predict(self, **x) -> np.ndarray:
        missing = [k for k in self.exponents if k not in x]
        if missing:
            raise InputError(
                f"{self.source} {self.target} law needs {', '.join(self.exponents)}; missing {', '.join(missing)}."
            )
        out = np.full(np.broadcast(*[np.asarray(x[k], float) for k in self.exponents]).shape, self.prefactor)
        for k, e in self.exponents.items():
            out = out * np.asarray(x[k], float) ** e
        return out

    def formula(self) -> str:
        return f"{self.target}* = {self.prefactor:g} · " + " · ".join(f"{k}^{e:g}" for k, e in self.exponents.items())

    def summary(self) -> dict:
        return {
            "source": self.source,
            "target": self.target,
            "prefactor": self.prefactor,
            "exponents": dict(self.exponents),
            "formula": self.formula(),
            "note": self.note,
        }


PUBLISHED = {
    "steplaw": (
        PublishedLaw("Step Law", "lr", 1.79, {"params": -0.713, "tokens": 0.307}, "arXiv:2503.04715 Eq. 1"),
        PublishedLaw("Step Law", "batch_size", 0.58, {"tokens": 0.571}, "arXiv:2503.04715 Eq. 2; batch size in tokens"),
    ),
    "deepseek": (
        PublishedLaw("DeepSeek LLM", "lr", 0.3118, {"flops": -0.125}, "arXiv:2401.02954 Eq. 1; C = M·D"),
        PublishedLaw(
            "DeepSeek LLM", "batch_size", 0.2920, {"flops": 0.3271}, "arXiv:2401.02954 Eq. 1; tokens, C = M·D"
        ),
    ),
}


def reference_laws(name: str) -> tuple[PublishedLaw, ...]:
    try:
        return PUBLISHED[name]
    except KeyError:
        raise InputError(f"--compare {name!r}: unknown; choose one of {', '.join(PUBLISHED)}.") from None
