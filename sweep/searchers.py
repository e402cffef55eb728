"""A sweep spec's search as a `tunescale.search` ask/tell searcher, and its stored trials
as what that searcher is told on a resume.

`search_space` is the one conversion of the spec's dimensions into a `Space`: a grid
sweep visits each dimension's grid points (`ChoiceParam`s of `Dimension.grid()`, so
the values, and the trial ids hashed from them, are exactly the spec's); otherwise
log/linear ranges become bounded `LogParam`/`LinearParam`s (`search.space_convert.bounded_param`),
a step-1 int range an integer parameter for the adaptive searchers, and every other
int range or choice a `ChoiceParam`, which random search draws uniformly; except that
CARBS searches a stepped int range, or a choice of distinct numbers, along the values
(an `OrderedParam`, log-scaled when all are > 0: widths 16/32/64), and treats any other
choice as unordered categories.
"""

from __future__ import annotations

import math

from tunescale.contract.store import TrialStore
from tunescale.search.base import AskTellSearcher, Observation
from tunescale.search.space import ChoiceParam, OrderedParam, Param, Space
from tunescale.search.space_convert import bounded_param
from tunescale.sweep.rows import hp_value
from tunescale.sweep.spec import ADAPTIVE, GRIDDED, Dimension, SweepSpec


def _param(dim: Dimension, algorithm: str) -> Param:
    ranged = dim.type in ("log", "linear") or (dim.type == "int" and dim.step == 1 and algorithm in ADAPTIVE)
    if algorithm == "carbs" and not ranged and _distinct_numbers(dim.grid()):
        return OrderedParam(dim.name, tuple(sorted(dim.grid())))
    if algorithm in GRIDDED or not ranged:
        return ChoiceParam(dim.name, tuple(dim.grid()))
    return bounded_param(dim.name, float(dim.low), float(dim.high), log=dim.type == "log",
                         is_integer=dim.type == "int")


def _distinct_numbers(values: list) -> bool:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values)
    return numbers and len(values) >= 2 and len(set(values)) == len(values)


def search_space(spec: SweepSpec) -> Space:
    """The spec's dimensions as the `Space` its algorithm searches (see the module doc)."""
    return Space([_param(d, spec.algorithm) for d in spec.space])


def make_searcher(spec: SweepSpec, seed: int) -> AskTellSearcher:
    """The spec's algorithm over `search_space(spec)`."""
    space = search_space(spec)
    if spec.algorithm in GRIDDED:
        from tunescale.search.grid_search import GridSearch

        return GridSearch(space, seed=seed)
    if spec.algorithm == "random":
        from tunescale.search.random_search import RandomSearch

        return RandomSearch(space, seed=seed)
    if spec.algorithm == "optuna":
        from tunescale.search.optuna_search import OptunaSearch

        return OptunaSearch(space, seed=seed)
    from tunescale.search.carbs import Carbs

    return Carbs(space, seed=seed)


def stored_observations(spec: SweepSpec, rows: list[dict]) -> list[Observation]:
    """Stored rows, oldest first, as observations whose suggestion id is the trial id.

    CARBS is told each trial's FLOPs as its cost; diverged and failed rows go back as
    failures, so the resumed search keeps avoiding that region instead of proposing it
    again. A completed row without a loss tells nothing and is left out.
    """
    names = [d.name for d in spec.space]
    out = []
    for r in sorted(rows, key=lambda r: r["created_at"]):  # a stopped trial's forecast uses the ones finished before
        config, status = {name: hp_value(r, name) for name in names}, r["status"]
        if status == "completed" and r.get("loss") is None:
            continue
        finished = status in ("completed", "pruned")
        out.append(Observation(config, r["loss"] if status == "completed" else None,
                               r["flops"] if finished else None, status, suggestion_id=r["trial_id"]))
    return out


def stored_reports(store: TrialStore, rows: list[dict], time_attr: str,
                   budget: float | None) -> dict[str, list[tuple[float, float, float]]]:
    """trial id -> the (fraction, eval loss, FLOPs so far) the evaluations of a completed or
    pruned trial reported, from its own curve file (a resume reads each trial's curves once,
    not every curve of the store per model shape); FLOPs so far are the row's FLOPs pro
    rata to the tokens trained."""
    if not budget:
        return {}
    reports = {}
    for row in rows:
        if row["status"] not in ("completed", "pruned") or not (row.get("flops") and row.get("tokens")):
            continue
        evals = sorted((c for c in store.curves(row["trial_id"]) if c["metric"] == "eval_loss"
                        and c["value"] is not None and math.isfinite(c["value"])), key=lambda c: c["step"])
        points = [(c[time_attr] / budget, c["value"], row["flops"] * c["tokens"] / row["tokens"]) for c in evals]
        reports[row["trial_id"]] = [p for p in points if 0 < p[0] <= 1]
    return reports
