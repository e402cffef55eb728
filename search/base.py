"""The ask/tell contract every searcher in `search/` follows.

Lifecycle of a searcher (one object, any number of workers):

1. ``s = Searcher(space, seed=...)``.
2. ``sug = s.suggest()`` — a `Suggestion` (id, config in param space, a seed for the
   trial). The suggestion stays *outstanding* until it is observed or forgotten, and
   outstanding suggestions are taken into account by later ``suggest()`` calls so that
   concurrent asks get distinct configurations.
3. ``s.observe(Observation(config, output, cost, status, suggestion_id=sug.suggestion_id))``
   — every finished trial, failed and diverged ones included (they are data, not
   errors). Observations without a suggestion id (warm starts) are accepted too.
4. ``s.forget(sug.suggestion_id)`` — a suggestion that will never report (worker lost).
5. ``s.save(path)`` / ``Searcher.load(path)`` — the whole state as JSON. Suggestion
   randomness is derived from ``(seed, number of suggestions made)``, so a loaded searcher
   makes exactly the suggestions the original would have made.

Subclasses implement `_suggest(rng)` and, if they take extra options, `_options()`.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunescale.contract.errors import InputError
from tunescale.search.space import Space

SUCCESS = "completed"
FAILURE_STATUSES = ("diverged", "failed")
# Stopped early on purpose (a scheduler, or CARBS's `report`): neither a result nor a failure.
PRUNED = "pruned"


@dataclass(frozen=True)
class Suggestion:
    """One configuration to run. ``kind`` says how it was chosen (for logs and plots)."""

    suggestion_id: str
    config: dict[str, Any]
    seed: int
    kind: str
    info: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Observation:
    """A finished trial: output (lower is better), cost (> 0, e.g. FLOPs), status."""

    config: dict[str, Any]
    output: float | None
    cost: float | None
    status: str = SUCCESS
    seed: int | None = None
    suggestion_id: str | None = None

    @property
    def success(self) -> bool:
        return self.status == SUCCESS and self.output is not None and math.isfinite(self.output)


class AskTellSearcher(ABC):
    """Base class: keeps observations and outstanding suggestions, saves them as JSON."""

    def __init__(self, space: Space, *, seed: int = 0) -> None:
        self.space = space
        self.seed = int(seed)
        self.observations: list[Observation] = []
        self.outstanding: dict[str, Suggestion] = {}
        self.n_suggested = 0

    # -- the contract -----------------------------------------------------------------------
    def suggest(self) -> Suggestion:
        """Propose the next configuration and remember it as outstanding."""
        rng = np.random.default_rng([self.seed, self.n_suggested])
        self.n_suggested += 1
        kind, vector_in_basic, info = self._suggest(rng)
        suggestion = Suggestion(
            suggestion_id=uuid.UUID(int=int(rng.integers(2**63)) << 64 | self.n_suggested).hex,
            config=self.space.from_basic(vector_in_basic),
            seed=int(rng.integers(2**31 - 1)),
            kind=kind,
            info={k: float(v) for k, v in info.items()},
        )
        self.outstanding[suggestion.suggestion_id] = suggestion
        return suggestion

    def observe(self, observation: Observation) -> None:
        """Record a finished trial (any status) and drop its outstanding suggestion."""
        obs = self._checked(observation)
        if obs.suggestion_id is not None:
            self.outstanding.pop(obs.suggestion_id, None)
        self.observations.append(obs)

    def forget(self, suggestion_id: str) -> None:
        """Drop an outstanding suggestion that will never be observed."""
        self.outstanding.pop(suggestion_id, None)

    @abstractmethod
    def _suggest(self, rng: np.random.Generator) -> tuple[str, list[float], dict[str, float]]:
        """Return (kind, vector in basic space, info) for the next suggestion."""

    def _options(self) -> dict[str, Any]:
        return {}

    # -- helpers ----------------------------------------------------------------------------
    def _checked(self, obs: Observation) -> Observation:
        if obs.status not in (SUCCESS, PRUNED, *FAILURE_STATUSES):
            raise InputError(
                f"observation status {obs.status!r} is not one of {SUCCESS}, {PRUNED}, {', '.join(FAILURE_STATUSES)}."
            )
        self.space.to_basic(obs.config)  # raises InputError on a missing/invalid parameter
        if obs.cost is not None and not (math.isfinite(obs.cost) and obs.cost > 0):
            raise InputError(f"observation cost = {obs.cost!r}, expected a finite value > 0 (or None for a failure).")
        if obs.status == SUCCESS and obs.cost is None:
            raise InputError("a completed observation needs a cost (FLOPs or seconds); got None.")
        if obs.status == SUCCESS and not obs.success:
            # A completed run whose output is NaN/inf diverged; keep it as the failure it is.
            obs = Observation(obs.config, obs.output, obs.cost, "diverged", obs.seed, obs.suggestion_id)
        return obs

    @property
    def successes(self) -> list[Observation]:
        return [o for o in self.observations if o.success]

    # -- persistence ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "searcher": type(self).__name__,
            "space": self.space.to_dict(),
            "seed": self.seed,
            "options": self._options(),
            "n_suggested": self.n_suggested,
            "observations": [asdict(o) for o in self.observations],
            "outstanding": [asdict(s) for s in self.outstanding.values()],
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> AskTellSearcher:
        if state.get("searcher") != cls.__name__:
            raise InputError(f"saved state is for searcher {state.get('searcher')!r}, not {cls.__name__}.")
        searcher = cls(Space.from_dict(state["space"]), seed=state["seed"], **state["options"])
        searcher.n_suggested = int(state["n_suggested"])
        searcher.observations = [Observation(**o) for o in state["observations"]]
        searcher.outstanding = {s["suggestion_id"]: Suggestion(**s) for s in state["outstanding"]}
        return searcher

    def save(self, path: str | os.PathLike) -> None:
        """Write the whole state as JSON (atomically: a crash never leaves half a file)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.state_dict(), indent=1))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> AskTellSearcher:
        path = Path(path)
        try:
            state = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read searcher state {path}: {exc}; pass a file written by save().") from None
        return cls.from_state_dict(state)
