"""Tell a searcher about trials it did not suggest: a resumed search's stored results.

A resumed sweep starts a fresh searcher; `replay` gives it every stored trial, oldest
first, so it continues the search instead of restarting it. A searcher with early
stopping (`observe_reported`, CARBS) also gets what each trial reported while it ran
(`reports`: suggestion id -> (fraction of the run, output, cost so far) points): a
finished trial's points teach it how losses fall, and a stopped trial's last point
gives it that trial's forecast again; a stopped trial without points teaches it
nothing and is left out. Every other searcher gets plain observations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from tunescale.search.base import PRUNED, SUCCESS, AskTellSearcher, Observation


def replay(
    searcher: AskTellSearcher,
    observations: Iterable[Observation],
    reports: Mapping[str, Sequence[tuple[float, float, float]]] | None = None,
) -> None:
    """Observe each of `observations` (in order) in `searcher`; see the module doc."""
    reports = reports or {}
    observe_reported = getattr(searcher, "observe_reported", None)
    for obs in observations:
        points = reports.get(obs.suggestion_id or "", ())
        if observe_reported is not None and obs.status in (SUCCESS, PRUNED) and obs.suggestion_id is not None:
            if obs.status == SUCCESS or points:
                observe_reported(obs, points)
        else:
            searcher.observe(obs)
