"""From a sweep spec to trial configs and their deterministic trial ids.

A trial id is `<sweep>-<index>-<hash>` for planned (grid/random) trials and
`<sweep>-<hash>` for adaptive (optuna, carbs) ones, where the hash covers the whole trial
config. The same spec always yields the same ids, so a resumed sweep can subtract
the ids the store already holds; a spec edited between runs yields new ids instead
of silently reusing old rows.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tunescale.contract.schema import HP_PREFIX
from tunescale.sweep.searchers import make_searcher
from tunescale.sweep.spec import GRIDDED, SweepSpec


@dataclass(frozen=True)
class PlannedTrial:
    trial_id: str
    config: dict


def config_hash(config: Mapping[str, Any]) -> str:
    """Eight hex digits of a canonical JSON of the config (key order does not matter)."""
    blob = json.dumps(dict(config), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


def adaptive_trial_id(sweep: str, config: Mapping[str, Any]) -> str:
    """The id of an adaptive (optuna, carbs) trial: no index, so the config alone decides it."""
    return f"{sweep}-{config_hash(config)}"


def base_config(spec: SweepSpec, width: int, depth: int) -> dict:
    """The trainer config every trial at this shape shares: model, budget, seed, [fixed]."""
    config = {
        "model": spec.model.family,
        "width": width,
        "depth": depth,
        "parametrization": spec.model.parametrization,
        spec.budget_key: spec.budget,
        "seed": spec.seed,
        **spec.fixed,
    }
    if spec.model.base_width is not None:
        config["base_width"] = spec.model.base_width
    return config


def hp_points(spec: SweepSpec) -> list[dict]:
    """The hyperparameter settings a planned sweep visits at every shape, in order: the
    suggestions of its grid or random searcher (`sweep.searchers`)."""
    searcher = make_searcher(spec, spec.seed)
    count = searcher.size if spec.algorithm in GRIDDED else spec.num_samples
    return [searcher.suggest().config for _ in range(count)]


def describe(spec: SweepSpec) -> list[str]:
    """What a sweep will run, as lines a driver prints before it starts."""
    model = spec.model
    lines = [f"sweep {spec.name}: {spec.algorithm}, {model.family} widths {list(model.widths)} "
             f"depths {list(model.depths)}, parametrization {model.parametrization}"]
    if model.base_width is None:
        lines.append("base_width: each trial's own width")
    elif model.base_width_defaulted:
        lines.append(f"base_width = {model.base_width}: the smallest width, as the spec sets none "
                     f"(set [model] base_width to choose another)")
    else:
        lines.append(f"base_width = {model.base_width}, from the spec")
    return lines


def own_rows(spec: SweepSpec, rows: list[dict]) -> list[dict]:
    """The stored rows run with this spec's pass-through settings (its [fixed] `hp_*` keys, which every row
    keeps as given): one store may hold several plans under one sweep name (a study runs one per token budget
    and tags each), and an adaptive search, whose trial ids name no plan, continues from its own plan's rows."""
    tags = {k: v for k, v in spec.fixed.items() if k.startswith(HP_PREFIX)}
    return [r for r in rows if all(r.get(k) == v for k, v in tags.items())]


def plan(spec: SweepSpec) -> list[PlannedTrial]:
    """Every trial of a grid/random sweep, in run order: each HP point at each shape.

    In `mode = "transfer"` (and whenever several widths are given) the same HP points
    run at every width, which is what a muTransfer check or `fit-scaling` compares.
    """
    points = hp_points(spec)
    trials = []
    for index, ((width, depth), hp) in enumerate(itertools.product(spec.shapes, points)):
        config = {**base_config(spec, width, depth), **hp}
        trials.append(PlannedTrial(f"{spec.name}-{index:04d}-{config_hash(config)}", config))
    return trials
