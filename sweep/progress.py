"""The live progress of a running sweep, on the driver's terminal.

On a terminal it is a tqdm bar redrawn in place: trials done of the total, running,
failed and pruned, the best loss so far, elapsed time and ETA. Anywhere else (CI, a log
file, a pipe) it is one plain line at most every `PLAIN_INTERVAL_S` seconds, plus the
final count, so a long sweep's log holds a few lines a minute instead of one per event.

The stream stays on the driver: Ray Tune pickles the run config, whose callbacks hold
this object, into its experiment state, and a captured stream (pytest's, a notebook's)
cannot be pickled, so a pickled copy carries neither the stream nor the bar.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, TextIO

PLAIN_INTERVAL_S = 10.0  # non-terminal output: at most one line per 10 s (about 6 a minute in a CI log)


@contextlib.contextmanager
def tune_output(verbose: bool) -> Iterator[None]:
    """Ray Tune's own output on the driver for the block: none unless `verbose`.

    Tune's default output engine prints its configuration box, the experiment path and a
    TensorBoard hint even at `RunConfig(verbose=0)`; its legacy engine
    (RAY_AIR_NEW_OUTPUT=0) at verbose=0 prints nothing.
    """
    before = os.environ.get("RAY_AIR_NEW_OUTPUT")
    os.environ["RAY_AIR_NEW_OUTPUT"] = "1" if verbose else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = before


def _clock(seconds: float) -> str:
    minutes, s = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{s:02d}" if minutes >= 60 else f"{minutes}:{s:02d}"


class Progress:
    """Counts and best loss of a running sweep, drawn as a bar (terminal) or throttled lines (elsewhere).

    `verbose` also lets Ray Tune print its own banners and tables (`--verbose`).
    """

    def __init__(self, name: str, total: int, out: TextIO | None = None, *, verbose: bool = False,
                 interval_s: float = PLAIN_INTERVAL_S):
        self.name = name
        self.total = total
        self.out = out
        self.verbose = verbose
        self.interval_s = interval_s
        self.statuses: Counter = Counter()
        self.running = 0
        self.best: tuple[float, str] | None = None
        self._resumed = 0  # trials already stored when this run began: they do not count towards the rate
        self._start = time.monotonic()
        self._last_line = -math.inf
        self._shown: tuple | None = None  # the (done, running, failed) the last plain line showed
        self._bar = None
        self.interrupted = False  # Ctrl-C seen (sweep.engine): the sweep stops even where Ray swallowed it

    def __getstate__(self) -> dict:
        return {**self.__dict__, "out": None, "_bar": None}

    @property
    def done(self) -> int:
        return sum(self.statuses.values())

    def record(self, trial_id: str, status: str, loss: Any) -> None:
        """Count a finished trial without drawing (the stored trials a resumed sweep starts from)."""
        self.statuses[status] += 1
        finite = status == "completed" and loss is not None and math.isfinite(loss)
        if finite and (self.best is None or loss < self.best[0]):
            self.best = (float(loss), trial_id)

    def finished(self, trial_id: str, status: str, loss: Any) -> None:
        self.record(trial_id, status, loss)
        self.show()

    def begin(self) -> None:
        """Start the clock: the trials recorded so far were stored before this run."""
        self._resumed = self.done
        self._start = time.monotonic()
        self.show()

    def counts(self) -> str:
        """'2 running · 1 failed · best loss 3.086': what the bar shows beside its count."""
        parts = [f"{self.running} running", f"{self.statuses['failed']} failed"]
        if self.statuses["pruned"]:
            parts.append(f"{self.statuses['pruned']} pruned")
        parts.append(f"best loss {self.best[0]:.4g}" if self.best else "best loss -")
        return " · ".join(parts)

    def line(self) -> str:
        """The plain line: '[name] 12/21 done · 2 running · 0 failed · best loss 3.086 · 0:23 elapsed, ETA 0:17'."""
        elapsed = time.monotonic() - self._start
        ran, left = self.done - self._resumed, self.total - self.done
        eta = _clock(elapsed / ran * left) if ran and left > 0 else ("0:00" if left <= 0 else "?")
        return (f"[{self.name}] {self.done}/{self.total} done · {self.counts()} · "
                f"{_clock(elapsed)} elapsed, ETA {eta}")

    def show(self) -> None:
        if self.out is None:
            return
        if self._tty():
            self._draw_bar()
            return
        now = time.monotonic()
        final = self.done >= self.total and self.running == 0
        if now - self._last_line >= self.interval_s or (final and self._shown != self._state()):
            self._print_line(now)

    def close(self) -> None:
        """End the display: leave the bar at its final count, or print the final line if not yet shown."""
        if self._bar is not None:
            self._draw_bar()
            self._bar.close()
            self._bar = None
        elif self.out is not None and not self._tty() and self._shown != self._state():
            self._print_line(time.monotonic())

    def _tty(self) -> bool:
        return bool(getattr(self.out, "isatty", lambda: False)())

    def _state(self) -> tuple:
        return self.done, self.running, self.statuses["failed"], self.statuses["pruned"]

    def _print_line(self, now: float) -> None:
        self.out.write(self.line() + "\n")
        self.out.flush()
        self._last_line, self._shown = now, self._state()

    def _draw_bar(self) -> None:
        if self._bar is None:
            from tqdm import tqdm

            # smoothing=0: the ETA from the average rate of this run, not the last few (bursty) trials
            # the terminal's size, 80 x 24 where it reports none (a pseudo-terminal without a size:
            # tqdm would draw nothing in zero rows)
            size = shutil.get_terminal_size((80, 24))
            self._bar = tqdm(total=self.total, initial=self._resumed, desc=self.name, file=self.out, smoothing=0,
                             ncols=size.columns, nrows=size.lines, unit="trial",
                             bar_format="{desc} {bar:16} {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")
        self._bar.n = self.done
        self._bar.set_postfix_str(self.counts(), refresh=True)
