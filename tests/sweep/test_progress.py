"""The sweep progress display: a live bar on a terminal, a throttled plain line elsewhere."""

from __future__ import annotations

import io
import os
import pickle
import pty
import subprocess
import sys
import time

from tunescale.sweep.progress import Progress, tune_output

# Drives a Progress through 6 trials (2 at a time, one failing) on stderr, as a sweep's callbacks do.
_SWEEP = """
import sys, time
from tunescale.sweep.progress import Progress
p = Progress("demo", 6, sys.stderr)
p.begin()
for i in range(6):
    p.running += 1
    p.show()
    time.sleep(0.05)
    p.running -= 1
    p.finished(f"t{i}", "failed" if i == 3 else "completed", 3.0 - 0.1 * i)
p.close()
print("done", file=sys.stderr)
"""


def _run_on_terminal(code: str) -> str:
    """Run `code` with stdin/stdout/stderr on a pseudo-terminal; everything it wrote there."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=follower, stdout=follower, stderr=follower,
                            close_fds=True)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


def test_on_a_terminal_the_bar_is_redrawn_in_place():
    out = _run_on_terminal(_SWEEP)
    bar = out[: out.index("done")]
    frames = [f for f in bar.split("\r") if f.strip()]
    assert len(frames) >= 6  # one redraw per event ...
    assert bar.count("\n") <= 1  # ... on one line, which stays at its final count
    final = frames[-1]
    assert final.startswith("demo ") and "6/6" in final and "█" in final
    assert "0 running · 1 failed · best loss 2.5" in final
    assert "<00:00" in final  # elapsed < ETA
    assert " done · " not in bar  # no plain lines on a terminal


def test_off_a_terminal_a_line_at_most_every_interval_and_the_final_count():
    out = io.StringIO()
    interval = 0.2
    p = Progress("t", 40, out, interval_s=interval)
    start = time.monotonic()
    p.begin()
    for i in range(40):
        p.running += 1
        p.show()
        time.sleep(0.01)
        p.running -= 1
        p.finished(f"t{i}", "completed", 1.0 + i)
    p.close()
    elapsed = time.monotonic() - start
    lines = out.getvalue().splitlines()
    # the first line, at most one per interval, and the final count
    assert 3 <= len(lines) <= elapsed / interval + 2, lines
    assert lines[0].startswith("[t] 0/40 done · 0 running · 0 failed · best loss -")
    assert lines[-1].startswith("[t] 40/40 done · 0 running · 0 failed · best loss 1 · ")
    assert lines[-1].endswith("ETA 0:00")
    assert "\r" not in out.getvalue()


def test_resumed_trials_count_but_do_not_print_and_close_prints_a_missed_final_count():
    out = io.StringIO()
    p = Progress("t", 3, out, interval_s=3600)
    p.record("a", "completed", 2.0)
    assert out.getvalue() == ""
    p.begin()
    p.running += 1
    p.show()  # inside the interval: not printed
    p.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[t] 1/3 done · 0 running") and lines[-1].startswith("[t] 1/3 done · 1 running")


def test_a_pickled_progress_carries_no_stream():
    # Ray Tune pickles the run config, callbacks and this object included: a stream that
    # cannot be pickled (a file, pytest's captured stderr) must stay on the driver.
    with open(os.devnull, "w") as unpicklable:
        p = Progress("t", 2, unpicklable)
        p.begin()
        p.finished("a", "completed", 1.5)
        copy = pickle.loads(pickle.dumps(p))
    assert copy.out is None and copy.best == (1.5, "a") and copy.done == 1
    assert p.out is unpicklable


def test_tune_output_selects_the_silent_engine_unless_verbose(monkeypatch):
    monkeypatch.setenv("RAY_AIR_NEW_OUTPUT", "1")
    with tune_output(verbose=False):
        assert os.environ["RAY_AIR_NEW_OUTPUT"] == "0"
    assert os.environ["RAY_AIR_NEW_OUTPUT"] == "1"
    monkeypatch.delenv("RAY_AIR_NEW_OUTPUT")
    with tune_output(verbose=True):
        assert os.environ["RAY_AIR_NEW_OUTPUT"] == "1"
    assert "RAY_AIR_NEW_OUTPUT" not in os.environ
