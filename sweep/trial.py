"""The trial executor both launch paths share: run one trial in this process, store its row."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from tunescale.contract.errors import EXTRA_MODULES, InputError, first_line
from tunescale.sweep.rows import fallback_row, summary
from tunescale.sweep.spec import DEFAULT_TRAINABLE, STN_TRAINABLE
from tunescale.sweep.storage import worker_store


@dataclass(frozen=True)
class SweepContext:
    """What a worker needs to run and store one trial; small and picklable."""

    sweep: str
    storage: str  # absolute local path of the store directory
    trainable: str  # "module:function" with the train_trial contract
    time_attr: str  # "step" or "tokens": the unit ASHA counts in
    report_evals: bool = False  # report every evaluation to Tune (a scheduler or CARBS's early stopping)
    budget: float | None = None  # every trial's budget in time_attr units: evaluations report their fraction


ENTRY_POINT_GROUP = "tunescale.trainables"
# Shipped with tunescale; a package adds its own under the entry-point group above.
SHIPPED_TRAINABLES = (DEFAULT_TRAINABLE, STN_TRAINABLE, "tunescale.trials.synthetic:quadratic_trial")


def trusted_trainables() -> set[str]:
    """The trainables a spec may name without --allow-any-trainable: shipped or registered."""
    from importlib.metadata import entry_points

    return {*SHIPPED_TRAINABLES, *(ep.value.replace(" ", "") for ep in entry_points(group=ENTRY_POINT_GROUP))}


def check_trainable(path: str, allow_any: bool) -> None:
    """A spec's `trainable` is code the sweep imports and runs: only registered ones unless the user says so."""
    if allow_any or path in trusted_trainables():
        return
    raise InputError(
        f"trainable {path!r}: not a registered trainable, and a spec's trainable is code that runs on every "
        f"worker; if you trust this spec pass --allow-any-trainable, or register the function as a "
        f"'{ENTRY_POINT_GROUP}' entry point of its package."
    )


def load_trainable(path: str) -> Callable:
    module, _, name = path.partition(":")
    try:
        fn = getattr(import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name in EXTRA_MODULES:
            raise  # the CLI names the extra to install
        raise InputError(f"trainable {path!r}: cannot import it ({first_line(exc)}).") from None
    except (ImportError, AttributeError, ValueError) as exc:
        raise InputError(f"trainable {path!r}: cannot import it ({first_line(exc)}).") from None
    if not callable(fn):
        raise InputError(f"trainable {path!r}: {name} is a {type(fn).__name__}, not a function.")
    return fn


def execute(
    ctx: SweepContext,
    trial_id: str,
    config: Mapping[str, Any],
    on_eval: Callable[[dict], None] | None = None,
) -> dict:
    """Run one trial in this process and store its row; return {trial_id, status, loss, flops}.

    An exception from the trainer becomes a `failed` row with the reason; a process
    death (or Tune's SystemExit when a scheduler prunes) leaves no row here.
    """
    store = worker_store(ctx.storage)
    start = time.perf_counter()
    try:
        outcome = load_trainable(ctx.trainable)(dict(config), on_eval=on_eval)
        row, curves = dict(outcome.row), list(outcome.curves)
    except Exception as exc:  # the trainer's bug or bad config: record it, keep the sweep going
        first = first_line(exc)
        row, curves = fallback_row(config, "failed", f"{type(exc).__name__}: {first}"), []
    row.update(trial_id=trial_id, sweep=ctx.sweep)
    row.setdefault("wall_time_s", time.perf_counter() - start)
    store.write(row, curves)
    return summary(trial_id, row)
