"""Check trainer config values (a sweep spec's `[fixed]` and `[space]`) before any trial runs.

`trials.train.resolve_config` checks a config when a trial starts, inside a worker: a bad
`[fixed]` key there fails every trial one by one. `config_problems` applies the same
rules to the values a spec gives, without torch, so `tunescale sweep` refuses the spec
up front. A key the rules below do not name is checked against its default's type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunescale.contract.schema import HP_PREFIX
from tunescale.contract.spec_file import is_int, is_number
from tunescale.trials.defaults import DEFAULTS, MODELS, OPTIMIZERS, SCHEDULES, WD_MODES

_CHOICES = {"model": MODELS, "schedule": SCHEDULES, "optimizer": OPTIMIZERS, "wd_mode": WD_MODES}
_POSITIVE_INTS = {"width", "batch_size", "seq_len", "eval_batches", "head_dim", "base_head_dim", "eval_every",
                  "log_every", "steps", "base_width"}
_POSITIVE = {"lr", "eps", "tokens", "tau"}
_NON_NEGATIVE = {"weight_decay", "grad_clip", "momentum"}
_FRACTIONS = {"warmup_frac": (0.0, 1.0, False), "min_lr_frac": (0.0, 1.0, True), "decay_frac": (0.0, 1.0, True)}


def value_problem(key: str, v: Any) -> str | None:
    """Why `v` cannot be the trainer's `key` (None if it can)."""
    if key.startswith(HP_PREFIX):
        return None
    if key not in DEFAULTS:
        return f"the trainer has no key {key!r}; use one of {', '.join(DEFAULTS)} or an 'hp_*' pass-through key"
    if key in _CHOICES:
        return None if v in _CHOICES[key] else f"expected one of {', '.join(_CHOICES[key])}, got {v!r}"
    if key in _POSITIVE_INTS:
        return None if is_int(v) and v >= 1 else f"expected a positive integer, got {v!r}"
    if key in ("depth", "seed"):
        return None if is_int(v) and v >= 0 else f"expected an integer >= 0, got {v!r}"
    if key in _POSITIVE:
        return None if is_number(v) and v > 0 else f"expected a positive number, got {v!r}"
    if key in _NON_NEGATIVE:
        return None if is_number(v) and v >= 0 else f"expected a number >= 0, got {v!r}"
    if key in _FRACTIONS:
        low, high, closed = _FRACTIONS[key]
        ok = is_number(v) and low <= v and (v <= high if closed else v < high)
        return None if ok else f"expected a number in [{low:g}, {high:g}{']' if closed else ')'}, got {v!r}"
    if key == "diverge_factor":
        return None if is_number(v) and v > 1 else f"expected a number > 1, got {v!r}"
    if key == "betas":
        ok = isinstance(v, list | tuple) and len(v) == 2 and all(is_number(b) and 0 <= b < 1 for b in v)
        return None if ok else f"expected two numbers in [0, 1), e.g. [0.9, 0.95], got {v!r}"
    default = DEFAULTS[key]
    if isinstance(default, bool):
        return None if isinstance(v, bool) else f"expected true or false, got {v!r}"
    if is_int(default):
        return None if is_int(v) else f"expected an integer, got {v!r}"
    if isinstance(default, float):
        return None if is_number(v) else f"expected a finite number, got {v!r}"
    if isinstance(default, str) or key in ("cache_dir", "device"):
        return None if isinstance(v, str) and v else f"expected a non-empty string, got {v!r}"
    return None


def config_problems(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, why) for every value of `config` the trainer would refuse."""
    return [(k, why) for k, v in config.items() if (why := value_problem(k, v)) is not None]
