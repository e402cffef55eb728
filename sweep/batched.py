"""Batched mode (`trials_per_task > 1`): several planned trials per Ray task, for tiny
proxies whose training is shorter than a Tune trial's bookkeeping."""

from __future__ import annotations

from tunescale.contract.errors import first_line
from tunescale.contract.store import TrialStore
from tunescale.sweep.plan import PlannedTrial
from tunescale.sweep.progress import Progress
from tunescale.sweep.rows import fallback_row, summary
from tunescale.sweep.spec import SweepSpec
from tunescale.sweep.storage import worker_store
from tunescale.sweep.trial import SweepContext, execute


def _run_batch(ctx: SweepContext, items: list[PlannedTrial]) -> list[dict]:
    """Run planned trials one after another in this worker. A retry of the task does not
    run again the trials an earlier attempt stored, but reports them, so the driver's
    progress counts every trial of the chunk."""
    store = worker_store(ctx.storage)
    stored = store.stored_ids()
    return [summary(t.trial_id, store.row(t.trial_id)) if t.trial_id in stored else execute(ctx, t.trial_id, t.config)
            for t in items]


def run_batched(spec: SweepSpec, ctx: SweepContext, store: TrialStore, progress: Progress,
                pending: list[PlannedTrial]) -> None:
    import ray

    task = ray.remote(_run_batch).options(
        num_cpus=spec.cpus, num_gpus=spec.gpus, max_retries=spec.max_retries, retry_exceptions=False
    )
    size = spec.trials_per_task
    queue = [pending[i : i + size] for i in range(0, len(pending), size)]
    in_flight: dict = {}
    while queue or in_flight:
        while queue and len(in_flight) < spec.concurrency:
            chunk = queue.pop(0)
            in_flight[task.remote(ctx, chunk)] = chunk
            progress.running += len(chunk)
        (ref,), _ = ray.wait(list(in_flight), num_returns=1)
        chunk = in_flight.pop(ref)
        progress.running -= len(chunk)
        try:
            results = ray.get(ref)
        except ray.exceptions.RayError as exc:
            # The task died past its retries (or raised). Trials run in order and stored
            # ones are skipped, so the first unstored trial is the one that was running:
            # record it failed and give the rest of the chunk a fresh task.
            stored = store.stored_ids()
            rest = [t for t in chunk if t.trial_id not in stored]
            results = [summary(t.trial_id, store.row(t.trial_id)) for t in chunk if t.trial_id in stored]
            if rest:
                first = first_line(exc)[:300]
                culprit = rest.pop(0)
                row = fallback_row(culprit.config, "failed",
                                   f"task failed after {spec.max_retries} retries: {type(exc).__name__}: {first}")
                store.write({**row, "trial_id": culprit.trial_id, "sweep": ctx.sweep})
                progress.finished(culprit.trial_id, "failed", None)
                if rest:
                    queue.insert(0, rest)
        for r in results:
            progress.finished(r["trial_id"], r["status"], r["loss"])
