"""The one-line progress report of a running sweep."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass
class Progress:
    """Counts and best loss of a running sweep, printed as one line per change."""

    name: str
    total: int
    out: TextIO | None = None
    statuses: Counter = field(default_factory=Counter)
    running: int = 0
    best: tuple[float, str] | None = None

    def finished(self, trial_id: str, status: str, loss: Any) -> None:
        self.statuses[status] += 1
        finite = status == "completed" and loss is not None and math.isfinite(loss)
        if finite and (self.best is None or loss < self.best[0]):
            self.best = (float(loss), trial_id)
        self.show()

    def show(self) -> None:
        if self.out is None:
            return
        done = sum(self.statuses.values())
        best = f"best loss {self.best[0]:.4g} ({self.best[1]})" if self.best else "best loss -"
        self.out.write(
            f"[{self.name}] {done}/{self.total} done · {self.running} running · "
            f"{self.statuses['failed']} failed · {self.statuses['pruned']} pruned · {best}\n"
        )
        self.out.flush()
