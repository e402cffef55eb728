"""Run a sweep spec on Ray and write every trial to the trial store as it finishes.

Every algorithm is a `tunescale.search` ask/tell searcher (`sweep.searchers`). Two
launch paths share one trial executor (`sweep.trial.execute`):

1) the default path runs each trial as a Ray Tune trial driven by the one ask/tell
   adapter, `search.ray_adapter.AskTellSearch` (`sweep.tune_run`);
2) batched mode (`trials_per_task > 1`) runs several planned trials per Ray task, for
   tiny proxies whose training is shorter than a Tune trial's bookkeeping (`sweep.batched`).

The store is the source of truth. The worker that ran a trial writes its row (and
curves) the moment it ends — completed, diverged, or failed by an exception — so a
driver crash loses nothing that finished; the driver writes only what no worker could
(pruned trials, dead workers). Trial ids are deterministic (sweep/plan.py), so
`resume=True` runs exactly the planned ids the store lacks, and an adaptive search
resumes from its stored trials.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

from tunescale.contract.errors import InputError
from tunescale.contract.text import table
from tunescale.sweep.plan import own_rows, plan
from tunescale.sweep.progress import Progress
from tunescale.sweep.rows import hp_value
from tunescale.sweep.spec import ADAPTIVE, SweepSpec
from tunescale.sweep.storage import driver_lock, open_store, sweep_rows
from tunescale.sweep.trial import SweepContext


@dataclass(frozen=True)
class SweepResult:
    """What a sweep run did, read back from the store at its end."""

    name: str
    storage: str
    statuses: dict
    ran: int  # trials this run executed
    resumed: int  # trials already in the store when it started
    wall_s: float
    best: dict | None
    cluster: str = "local"  # "local" (a loopback Ray of its own) or the address of the cluster it joined

    def summary(self) -> dict:
        """JSON-safe copy."""
        return {
            "name": self.name, "storage": self.storage, "statuses": dict(self.statuses),
            "ran": self.ran, "resumed": self.resumed, "wall_s": self.wall_s, "best": self.best,
            "cluster": self.cluster,
        }

    def report(self) -> str:
        total = sum(self.statuses.values())
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items()))
        lines = [f"sweep {self.name}: {total} trials ({counts}) in {self.storage}; "
                 f"ran {self.ran} in {self.wall_s:.1f} s, {self.resumed} already stored"]
        if self.best:
            hps = {k: v for k, v in self.best.items() if k not in ("trial_id", "loss")}
            lines.append(
                table(["best trial", "loss", *hps], [[self.best["trial_id"], self.best["loss"], *hps.values()]])
            )
        return "\n".join(lines)


def run_sweep(
    spec: SweepSpec,
    *,
    address: str | None = None,
    resume: bool = False,
    out: TextIO | None = sys.stderr,
    num_cpus: int | None = None,
    label: str | None = None,
    verbose: bool = False,
) -> SweepResult:
    """Run (or with `resume=True` continue) the sweep `spec` describes; see the module doc.

    Progress goes to `out` under `label` (default: the sweep's name); `verbose` lets Ray print its own output.
    One driver per store at a time (`driver_lock`). Ctrl-C stops the running trials (Ray
    shuts down with them) and raises `SweepInterrupted`, which says how many trials are
    stored and how to resume.
    """
    from tunescale.sweep.trial import load_trainable

    if num_cpus is not None and num_cpus < spec.cpus and address is None:
        raise InputError(
            f"resources.cpus = {spec.cpus:g} per trial, but the local Ray gets --num-cpus {num_cpus}: "
            f"no trial could ever start; lower resources.cpus or raise --num-cpus."
        )
    load_trainable(spec.trainable)  # a trainable that does not import fails here, not in every trial
    storage, store = open_store(spec.storage)
    with driver_lock(storage):
        return _run_locked(
            spec,
            storage,
            store,
            address=address,
            resume=resume,
            out=out,
            num_cpus=num_cpus,
            label=label,
            verbose=verbose,
        )


def _check_schedulable(spec: SweepSpec, resources: dict) -> None:
    """Refuse a trial size the cluster can never place: Tune would wait for it forever."""
    for key, need, name in (("CPU", spec.cpus, "cpus"), ("GPU", spec.gpus, "gpus")):
        have = resources.get(key, 0.0)
        if need > have:
            raise InputError(
                f"resources.{name} = {need:g} per trial, but the Ray cluster has {have:g} {key}s in all: "
                f"no trial could ever start; lower resources.{name} or use a larger cluster."
            )


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep; the message counts what is stored and says how to go on."""


@contextmanager
def _ctrl_c_noted(progress: Progress) -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt as always, and is also noted on `progress`: landing in Ray's
    own frames, the exception can be swallowed there (the workers die of the same signal, Tune
    retries them and the sweep ran to its end with exit 0), so the sweep also stops on the note."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def noted(signum, frame):
        progress.interrupted = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, noted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_locked(spec: SweepSpec, storage: str, store, *, address, resume, out, num_cpus, label, verbose) -> SweepResult:
    from tunescale.sweep.ray_local import ray_session

    done_rows = sweep_rows(storage, spec.name)
    if done_rows and not resume:
        raise InputError(
            f"storage {storage}: already holds {len(done_rows)} trials of sweep {spec.name!r}; "
            f"pass --resume to continue it, or choose another storage."
        )
    done_ids = {r["trial_id"] for r in done_rows}
    ctx = SweepContext(
        spec.name,
        storage,
        spec.trainable,
        "step" if spec.budget_key == "steps" else "tokens",
        report_evals=spec.scheduler is not None or (spec.algorithm == "carbs" and spec.early_stopping),
        budget=spec.budget,
    )
    planned = plan(spec) if spec.algorithm not in ADAPTIVE else None
    total = len(planned) if planned is not None else spec.num_samples * len(spec.shapes)
    progress = Progress(label or spec.name, total, out, verbose=verbose)
    # A store may hold rows of other plans under this name (a study runs one plan per
    # token budget); only this plan's rows count towards its total, and an adaptive
    # search continues from them alone.
    planned_ids = {t.trial_id for t in planned} if planned is not None else None
    mine = own_rows(spec, done_rows)
    for r in mine:
        if planned_ids is None or r["trial_id"] in planned_ids:
            progress.record(r["trial_id"], r["status"], r.get("loss"))
    start = time.perf_counter()
    pending = [t for t in planned if t.trial_id not in done_ids] if planned is not None else None
    joined: list[str] = []
    if pending != []:
        from tunescale.sweep.batched import run_batched
        from tunescale.sweep.tune_run import run_adaptive, run_planned

        try:
            with ray_session(address, num_cpus=num_cpus, verbose=verbose, joined=joined) as resources:
                _check_schedulable(spec, resources)
                if joined and out is not None:
                    print(f"sweep {spec.name}: joined the Ray cluster at {joined[0]}", file=out)
                progress.begin()
                try:
                    with _ctrl_c_noted(progress):
                        if pending is None:
                            run_adaptive(spec, ctx, store, progress, mine)
                        elif spec.batched:
                            run_batched(spec, ctx, store, progress, pending)
                        else:
                            run_planned(spec, ctx, store, progress, pending)
                    if progress.interrupted:
                        raise KeyboardInterrupt
                finally:
                    progress.close()
        except KeyboardInterrupt:
            stored = len(sweep_rows(storage, spec.name))
            raise SweepInterrupted(
                f"sweep {spec.name} interrupted: {stored} of {total} trials are stored in {storage}; "
                f"the running ones were stopped. Continue with --resume."
            ) from None
    wall = time.perf_counter() - start
    rows = sweep_rows(storage, spec.name)
    best_row = min(
        (r for r in rows if r["status"] == "completed" and r.get("loss") is not None),
        key=lambda r: r["loss"],
        default=None,
    )
    best = None
    if best_row is not None:
        best = {"trial_id": best_row["trial_id"], "loss": best_row["loss"], "width": best_row.get("width")}
        best.update({d.name: hp_value(best_row, d.name) for d in spec.space})
    return SweepResult(
        name=spec.name,
        storage=storage,
        statuses=dict(Counter(r["status"] for r in rows)),
        ran=len(rows) - len(done_ids),
        resumed=len(done_ids),
        wall_s=wall,
        best=best,
        cluster=joined[0] if joined else "local" if address is None else address,
    )
