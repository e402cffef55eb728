"""The sweep spec: one TOML file that says what a `tunescale sweep` runs.

`load_spec(path)` parses and validates the whole file before anything starts and
raises one `SpecError` that lists every problem with its key name, so a user fixes
a spec in one pass. The result is a tree of frozen dataclasses.

    name = "tiny"                  # sweep name, written to every row
    algorithm = "random"           # grid | random | optuna (TPE through Optuna's ask/tell)
                                   #   | carbs (cost-aware CARBS; every space type); see sweep/searchers.py
                                   #   | stn (a grid of Self-Tuning-Network runs, trials.stn.lm)
    num_samples = 8                # random/optuna/carbs: configs per model shape (grid: the grid)
    early_stopping = true          # carbs: stop trials that cannot join the front (false: every trial finishes)
    concurrency = 2                # trials running at once
    mode = "transfer"              # optional: same search at every width (muTransfer)
    [model]    family, widths, depths, parametrization, base_width
    [budget]   steps = 50  (or tokens = 1e6)
    [space.lr] type = "log", low = 1e-4, high = 1e-1, num = 4 (grid points)
    [scheduler] type = "asha" | "hyperband", grace_period, reduction_factor
    [resources] cpus = 1, gpus = 0.25
    [fixed]    any other trainer key (seq_len, schedule, ...), passed to every trial
    trainable = "module:function"  # optional; default the built-in trainer

A spec is code: `trainable` names a function every worker imports and runs. The CLI
runs only shipped or registered trainables unless given --allow-any-trainable
(sweep/trial.py `check_trainable`). With the built-in trainer, `[fixed]` and the searched
values are checked against its config rules here (trials/config_check.py), not in
every trial.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from tunescale.contract.errors import TunescaleError
from tunescale.contract.schema import PARAMETRIZATIONS
from tunescale.contract.spec_file import (
    Problems,
    int_field,
    is_int,
    is_name,
    is_number,
    read_toml,
    table_field,
)

ALGORITHMS = ("grid", "random", "optuna", "carbs", "stn")
# Algorithms that run every point of the space's grid: "stn" is a grid over STN settings
# (hyper LR, tau, variant, seed) whose trials each tune their regularizers online.
GRIDDED = ("grid", "stn")
ADAPTIVE = ("optuna", "carbs")  # searchers that pick each config from the results so far
SCHEDULERS = ("asha", "hyperband")
SPACE_TYPES = ("log", "linear", "int", "choice")
MODES = ("standard", "transfer")
FAMILIES = ("transformer", "mlp")
DEFAULT_TRAINABLE = "tunescale.trials.train:train_trial"
STN_TRAINABLE = "tunescale.trials.stn.lm:train_stn_trial"

_TOP_KEYS = {
    "name", "algorithm", "num_samples", "concurrency", "mode", "seed", "storage",
    "max_retries", "trials_per_task", "trainable", "model", "budget", "space",
    "scheduler", "resources", "fixed", "early_stopping",
}
_MODEL_KEYS = {"family", "widths", "depths", "parametrization", "base_width"}
_BUDGET_KEYS = {"steps", "tokens"}
_SPACE_KEYS = {"type", "low", "high", "num", "values", "step"}
_SCHEDULER_KEYS = {"type", "grace_period", "reduction_factor", "max_t", "brackets"}
_RESOURCE_KEYS = {"cpus", "gpus"}


class SpecError(TunescaleError):
    """The sweep spec has one or more problems; the message lists them all."""


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter: its space type and bounds (or choices)."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    num: int | None = None  # grid points for log/linear under algorithm = "grid"
    step: int = 1  # int spaces: spacing of the grid
    values: tuple = ()

    def grid(self) -> list:
        """The values `algorithm = "grid"` visits, in order."""
        if self.type == "choice":
            return list(self.values)
        if self.type == "int":
            return list(range(int(self.low), int(self.high) + 1, self.step))
        n = self.num
        if n == 1:
            return [self.low]
        if self.type == "log":
            a, b = math.log(self.low), math.log(self.high)
            return [math.exp(a + (b - a) * i / (n - 1)) for i in range(n)]
        return [self.low + (self.high - self.low) * i / (n - 1) for i in range(n)]


@dataclass(frozen=True)
class ModelSpec:
    family: str
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    parametrization: str
    base_width: int | None
    base_width_defaulted: bool = False  # True: the spec gave none and the sweep took min(widths)


@dataclass(frozen=True)
class SchedulerSpec:
    type: str
    grace_period: int = 1
    reduction_factor: int = 3
    max_t: float | None = None  # in the budget's unit (steps or tokens); default: the budget
    brackets: int = 1


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec (see the module docstring for the TOML layout)."""

    name: str
    model: ModelSpec
    budget_key: str  # "steps" or "tokens"
    budget: float
    space: tuple[Dimension, ...]
    algorithm: str = "random"
    num_samples: int = 8
    concurrency: int = 2
    mode: str = "standard"
    seed: int = 0
    storage: str = ""
    max_retries: int = 2
    trials_per_task: int = 1
    early_stopping: bool = True  # carbs: stop the trials it gives up on (search.early_stopping)
    trainable: str = DEFAULT_TRAINABLE
    scheduler: SchedulerSpec | None = None
    cpus: float = 1.0
    gpus: float = 0.0
    fixed: dict = field(default_factory=dict)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """Every (width, depth) the search runs at; the same HP configs visit each."""
        return [(w, d) for w in self.model.widths for d in self.model.depths]

    @property
    def batched(self) -> bool:
        return self.trials_per_task > 1


def _int_list(raw: dict, key: str, p: Problems, where: str) -> tuple[int, ...]:
    v = raw.get(key)
    values = v if isinstance(v, list) else [v]
    if v is None or not values or not all(is_int(x) and x >= 1 for x in values):
        p.add(where + key, f"expected a positive integer or a list of them, got {v!r}")
        return ()
    return tuple(values)


def _dimension(name: str, raw: Any, algorithm: str, p: Problems) -> Dimension | None:
    key = f"space.{name}"
    if not isinstance(raw, dict):
        p.add(key, f"expected a table with 'type' (one of {', '.join(SPACE_TYPES)}), got {raw!r}")
        return None
    p.unknown(raw, _SPACE_KEYS, key + ".")
    kind = raw.get("type")
    if kind not in SPACE_TYPES:
        p.add(key + ".type", f"expected one of {', '.join(SPACE_TYPES)}, got {kind!r}")
        return None
    if kind == "choice":
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            p.add(key + ".values", f"a choice needs a non-empty list of values, got {values!r}")
            return None
        return Dimension(name, kind, values=tuple(values))
    low, high = raw.get("low"), raw.get("high")
    ok = True
    for bound, v in (("low", low), ("high", high)):
        if not is_number(v) or (kind == "int" and not is_int(v)):
            p.add(f"{key}.{bound}", f"expected a finite {'integer' if kind == 'int' else 'number'}, got {v!r}")
            ok = False
    if ok and not low < high:
        p.add(key, f"needs low < high, got low={low!r} high={high!r}")
        ok = False
    if ok and kind == "log" and low <= 0:
        p.add(f"{key}.low", f"a log space needs low > 0, got {low!r}; use type = \"linear\" for ranges from 0")
        ok = False
    num = raw.get("num")
    if kind in ("log", "linear") and algorithm in GRIDDED and (not is_int(num) or num < 1):
        p.add(f"{key}.num",
              f"algorithm = \"{algorithm}\" needs the number of grid points (an integer >= 1), got {num!r}")
        ok = False
    step = int_field(raw, "step", 1, p, minimum=1, where=key + ".")
    if not ok:
        return None
    return Dimension(name, kind, low=low, high=high, num=num, step=step)


def _scheduler(raw: dict, p: Problems) -> SchedulerSpec | None:
    if not raw:
        return None
    p.unknown(raw, _SCHEDULER_KEYS, "scheduler.")
    kind = raw.get("type")
    if kind not in SCHEDULERS:
        p.add("scheduler.type", f"expected one of {', '.join(SCHEDULERS)}, got {kind!r}")
        return None
    max_t = raw.get("max_t")
    if max_t is not None and (not is_number(max_t) or max_t <= 0):
        p.add("scheduler.max_t", f"expected a positive number, got {max_t!r}")
        max_t = None
    return SchedulerSpec(
        type=kind,
        grace_period=int_field(raw, "grace_period", 1, p, minimum=1, where="scheduler."),
        reduction_factor=int_field(raw, "reduction_factor", 3, p, minimum=2, where="scheduler."),
        max_t=max_t,
        brackets=int_field(raw, "brackets", 1, p, minimum=1, where="scheduler."),
    )


def _trainer_problems(
    trainable: Any,
    family: str,
    widths: tuple[int, ...],
    fixed: dict,
    reserved: set[str],
    space: list[Dimension],
    p: Problems,
) -> None:
    """The built-in trainer's rules for `[fixed]` and the searched values, checked now
    rather than in every trial; any trainable's row must keep the schema's number columns numbers."""
    from tunescale.contract.schema import TRIAL_SCHEMA

    def values(dim: Dimension) -> list:
        return list(dim.values) if dim.type == "choice" else [dim.low, dim.high]

    numeric = {f.name for f in TRIAL_SCHEMA if pa_is_number(f.type)}
    if trainable != DEFAULT_TRAINABLE:
        for dim in space:
            bad = [v for v in values(dim) if dim.name in numeric and not is_number(v)]
            if bad:
                p.add(f"space.{dim.name}", f"the trial column {dim.name!r} holds numbers, got {bad[0]!r}")
        return
    from tunescale.trials.config_check import value_problem
    from tunescale.trials.defaults import DEFAULTS

    for key, v in fixed.items():
        if key not in reserved and (why := value_problem(key, v)) is not None:
            p.add(f"fixed.{key}", why)
    for dim in space:
        why = next((w for v in values(dim) if (w := value_problem(dim.name, v)) is not None), None)
        if why is not None:
            p.add(f"space.{dim.name}", why)
    head_dim = fixed.get("head_dim", DEFAULTS["head_dim"])
    if family == "transformer" and is_int(head_dim) and head_dim >= 1:
        odd = [w for w in widths if w % head_dim]
        if odd:
            p.add(
                "model.widths",
                f"width {odd[0]} is not a multiple of head_dim {head_dim}; the transformer "
                f"splits its width into heads of head_dim (set [fixed] head_dim or change widths)",
            )


def pa_is_number(t) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t) or pa.types.is_floating(t)


def parse_spec(raw: dict, source: str = "spec") -> SweepSpec:
    """Validate a parsed TOML mapping; raise SpecError listing every problem."""
    p = Problems()
    p.unknown(raw, _TOP_KEYS)

    name = raw.get("name")
    if not is_name(name):
        p.add("name", f"expected a non-empty name of letters, digits, '-' or '_', got {name!r}")
    algorithm = raw.get("algorithm", "random")
    if algorithm not in ALGORITHMS:
        p.add("algorithm", f"expected one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    mode = raw.get("mode", "standard")
    if mode not in MODES:
        p.add("mode", f"expected one of {', '.join(MODES)}, got {mode!r}")
    num_samples = int_field(raw, "num_samples", 8, p, minimum=1)
    if algorithm in GRIDDED and "num_samples" in raw:
        p.add("num_samples", f'algorithm = "{algorithm}" runs the whole grid; remove num_samples')
    concurrency = int_field(raw, "concurrency", 2, p, minimum=1)
    seed = int_field(raw, "seed", 0, p, minimum=0)
    max_retries = int_field(raw, "max_retries", 2, p, minimum=0)
    trials_per_task = int_field(raw, "trials_per_task", 1, p, minimum=1)
    storage = raw.get("storage", os.path.join("runs", name) if isinstance(name, str) else "")
    if not isinstance(storage, str) or not storage:
        p.add("storage", f"expected a directory path or URI, got {storage!r}")
    trainable = raw.get("trainable", STN_TRAINABLE if algorithm == "stn" else DEFAULT_TRAINABLE)
    if not isinstance(trainable, str) or trainable.count(":") != 1:
        p.add("trainable", f"expected 'package.module:function', got {trainable!r}")

    model_raw = table_field(raw, "model", p)
    p.unknown(model_raw, _MODEL_KEYS, "model.")
    family = model_raw.get("family", "transformer")
    if family not in FAMILIES:
        p.add("model.family", f"expected one of {', '.join(FAMILIES)}, got {family!r}")
    elif algorithm == "stn" and family != "transformer":
        p.add("model.family", f'algorithm = "stn" tunes the transformer proxy\'s regularizers, got {family!r}')
    widths = _int_list(model_raw, "widths", p, "model.")
    depths = _int_list({"depths": model_raw.get("depths", 2)}, "depths", p, "model.")
    parametrization = model_raw.get("parametrization", "sp")
    if parametrization not in PARAMETRIZATIONS:
        p.add("model.parametrization", f"expected one of {', '.join(PARAMETRIZATIONS)}, got {parametrization!r}")
    base_width = model_raw.get("base_width")
    if base_width is not None and (not is_int(base_width) or base_width < 1):
        p.add("model.base_width", f"expected a positive integer, got {base_width!r}")
    if mode == "transfer" and len(widths) < 2:
        p.add("model.widths", f'mode = "transfer" sweeps several widths; give at least 2, got {list(widths)}')
    # Multipliers relative to the smallest proxy: without a shared base width every trial
    # would be its own base, and muP, NTK, MFP (any row but SP) would silently equal SP.
    base_width_defaulted = base_width is None and len(widths) > 1 and (mode == "transfer" or parametrization != "sp")
    if base_width_defaulted:
        base_width = min(widths)

    budget_raw = table_field(raw, "budget", p)
    p.unknown(budget_raw, _BUDGET_KEYS, "budget.")
    given = [k for k in ("steps", "tokens") if k in budget_raw]
    budget_key, budget = "steps", 0.0
    if len(given) != 1:
        p.add("budget", f"give exactly one of budget.steps or budget.tokens, got {given or 'neither'}")
    else:
        budget_key, budget = given[0], budget_raw[given[0]]
        if budget_key == "steps" and (not is_int(budget) or budget < 1):
            p.add("budget.steps", f"expected an integer >= 1, got {budget!r}")
        if budget_key == "tokens" and (not is_number(budget) or budget <= 0):
            p.add("budget.tokens", f"expected a positive number, got {budget!r}")

    space_raw = table_field(raw, "space", p)
    space = []
    for hp, dim_raw in space_raw.items():
        dim = _dimension(hp, dim_raw, algorithm, p)
        if dim is not None:
            space.append(dim)
    if not space_raw:
        p.add("space", 'the search space is empty; add e.g. [space.lr] type = "log", low = 1e-4, high = 1e-1')

    scheduler = _scheduler(table_field(raw, "scheduler", p), p)
    resources = table_field(raw, "resources", p)
    p.unknown(resources, _RESOURCE_KEYS, "resources.")
    cpus, gpus = resources.get("cpus", 1), resources.get("gpus", 0)
    if not is_number(cpus) or cpus <= 0:
        p.add("resources.cpus", f"expected a positive number, got {cpus!r}")
    if not is_number(gpus) or gpus < 0 or (gpus > 1 and not float(gpus).is_integer()):
        p.add("resources.gpus", f"expected 0, a fraction below 1, or a whole number of GPUs, got {gpus!r}")
    fixed = table_field(raw, "fixed", p)
    reserved = {"model", "width", "depth", "parametrization", "base_width", "steps", "tokens", "seed"}
    for key in fixed:
        if key in reserved:
            p.add(f"fixed.{key}", "is set by [model], [budget] or seed; remove it from [fixed]")
        if key in space_raw:
            p.add(f"fixed.{key}", f"is also searched in [space.{key}]; keep one")

    _trainer_problems(trainable, family, widths, fixed, reserved, space, p)
    if "lr" not in space_raw and "lr" not in fixed:
        p.add("space.lr", "every trial needs a learning rate; search it in [space.lr] or set it in [fixed]")
    if trials_per_task > 1 and algorithm in ADAPTIVE:
        p.add(
            "trials_per_task",
            f"batched mode runs planned configs (grid/random); use trials_per_task = 1 with {algorithm}",
        )
    if algorithm == "carbs" and scheduler is not None:
        p.add(
            "scheduler",
            "carbs learns from each trial's final loss at its FLOPs and stops hopeless trials "
            "itself; drop [scheduler] or use optuna",
        )
    if trials_per_task > 1 and scheduler is not None:
        p.add("trials_per_task", "batched mode cannot prune early; drop [scheduler] or set trials_per_task = 1")
    early_stopping = raw.get("early_stopping", True)
    if not isinstance(early_stopping, bool):
        p.add("early_stopping", f"expected true or false, got {early_stopping!r}")
    elif "early_stopping" in raw and algorithm != "carbs":
        p.add("early_stopping", f'only carbs stops trials itself; algorithm = "{algorithm}" prunes with [scheduler]')

    if p.items:
        n = len(p.items)
        raise SpecError(f"{source}: {n} problem{'s' * (n > 1)}: " + "; ".join(p.items))
    return SweepSpec(
        name=name,
        model=ModelSpec(family, widths, depths, parametrization, base_width, base_width_defaulted),
        budget_key=budget_key,
        budget=budget,
        space=tuple(space),
        algorithm=algorithm,
        num_samples=num_samples,
        concurrency=concurrency,
        mode=mode,
        seed=seed,
        storage=storage,
        max_retries=max_retries,
        trials_per_task=trials_per_task,
        early_stopping=early_stopping,
        trainable=trainable,
        scheduler=scheduler,
        cpus=float(cpus),
        gpus=float(gpus),
        fixed=dict(fixed),
    )


def load_spec(path: str | os.PathLike) -> SweepSpec:
    """Read and validate a TOML sweep spec file."""
    return parse_spec(read_toml(path, SpecError), source=str(path))
