"""Run a sweep spec on Ray and write every trial to the trial store as it finishes.

Two launch paths share one trial executor (`execute`):

1) the default path runs each trial as a Ray Tune trial (`Tuner`, `reuse_actors=True`,
   `FailureConfig(max_failures=max_retries)`, optional ASHA/HyperBand pruning through
   `tune.report` at every evaluation, OptunaSearch for `algorithm = "optuna"`,
   search/ray_adapter.py's CarbsSearch for `algorithm = "carbs"`, costed in FLOPs);
2) batched mode (`trials_per_task > 1`) runs several planned trials per Ray task, for
   tiny proxies whose training is shorter than a Tune trial's bookkeeping.

The store is the source of truth. The worker that ran a trial writes its row (and
curves) the moment it ends — completed, diverged, or failed by an exception — so a
driver crash loses nothing that finished. The driver writes only what no worker
could: `pruned` rows (Tune stopped the trial; their curves are the evaluations it
reported before) and `failed` rows for trials whose
worker process died more than `max_retries` times. Trial ids are deterministic
(trials/plan.py), so `resume=True` runs exactly the planned ids the store lacks.
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any, TextIO

from tunescale.contract.errors import InputError, first_line
from tunescale.contract.schema import HP_PREFIX, TRIAL_SCHEMA, hp_columns
from tunescale.contract.store import TrialStore, default_flops, read_table
from tunescale.sweep.plan import PlannedTrial, adaptive_trial_id, base_config, plan
from tunescale.sweep.spec import ADAPTIVE, Dimension, SweepSpec

# Trainer defaults used only to size rows the driver writes for trials that never
# reported (see trials/train.py DEFAULTS): 16 sequences of 64 tokens per step.
_DEFAULT_BATCH_SIZE = 16
_DEFAULT_SEQ_LEN = 64


@dataclass(frozen=True)
class SweepContext:
    """What a worker needs to run and store one trial; small and picklable."""

    sweep: str
    storage: str  # absolute local path of the store directory
    trainable: str  # "module:function" with the train_trial contract
    time_attr: str  # "step" or "tokens": the unit ASHA counts in
    report_evals: bool = False  # report every evaluation to Tune (a scheduler or CARBS's early stopping)
    budget: float | None = None  # every trial's budget in time_attr units: evaluations report their fraction


def open_store(storage: str) -> tuple[str, TrialStore]:
    """Resolve a store path or URI to a local directory and open it.

    The store renames each file into place, an atomic step POSIX filesystems give
    and object stores do not; URIs must therefore name a filesystem path
    (`file://...`, or a bucket mounted on every node, e.g. through gcsfuse/s3fs).
    """
    if "://" in storage:
        import pyarrow as pa
        import pyarrow.fs as pafs

        try:
            fs, path = pafs.FileSystem.from_uri(storage)
        except (pa.ArrowException, OSError) as exc:  # any URI pyarrow cannot open
            raise InputError(f"storage {storage!r}: pyarrow cannot open this URI ({exc}).") from None
        if not isinstance(fs, pafs.LocalFileSystem):
            raise InputError(
                f"storage {storage!r}: the trial store needs atomic renames, which "
                f"{fs.type_name} does not offer; mount it on every node and give the mount path."
            )
        storage = path
    path = str(Path(storage).absolute())
    return path, TrialStore(path)


_STORES: dict[str, TrialStore] = {}


def _worker_store(path: str) -> TrialStore:
    if path not in _STORES:
        _STORES[path] = TrialStore(path)
    return _STORES[path]


def load_trainable(path: str) -> Callable:
    module, _, name = path.partition(":")
    try:
        return getattr(import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"trainable {path!r}: cannot import it ({exc}).") from None


def estimate_params(config: Mapping[str, Any]) -> int:
    """Non-embedding parameter count for rows of trials that never finished.

    Transformer: 12·depth·width² (Kaplan et al. 2020, eq. 2.1); MLP: depth·width².
    """
    width, depth = int(config.get("width", 1)), max(1, int(config.get("depth", 1)))
    per_block = 12 if config.get("model", "transformer") == "transformer" else 1
    return per_block * depth * width * width


def planned_tokens(config: Mapping[str, Any]) -> float:
    if config.get("tokens"):
        return float(config["tokens"])
    per_step = config.get("batch_size", _DEFAULT_BATCH_SIZE)
    if config.get("model", "transformer") == "transformer":
        per_step *= config.get("seq_len", _DEFAULT_SEQ_LEN)
    return float(config.get("steps", 1) * per_step)


def fallback_row(config: Mapping[str, Any], status: str, reason: str, last: Mapping | None = None) -> dict:
    """A row for a trial that has no trainer row: pruned, or failed before finishing."""
    last = last or {}
    row = {
        "status": status,
        "params": estimate_params(config),
        "tokens": float(last.get("tokens") or planned_tokens(config)),
        "width": config.get("width"),
        "depth": config.get("depth"),
        "parametrization": config.get("parametrization"),
        "lr": config.get("lr"),
        "batch_size": config.get("batch_size"),
        "weight_decay": config.get("weight_decay"),
        "loss": last.get("eval_loss"),
        "train_loss": last.get("train_loss"),
        "flops": last.get("flops"),
        "seed": config.get("seed"),
        "hp_reason": reason,
        "hp_params_estimated": True,
    }
    return row | hp_columns(config)


def execute(
    ctx: SweepContext,
    trial_id: str,
    config: Mapping[str, Any],
    on_eval: Callable[[dict], None] | None = None,
) -> dict:
    """Run one trial in this process and store its row; return {trial_id, status, loss}.

    An exception from the trainer becomes a `failed` row with the reason; a process
    death (or Tune's SystemExit when a scheduler prunes) leaves no row here.
    """
    store = _worker_store(ctx.storage)
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
    return _summary(trial_id, row)


def _summary(trial_id: str, row: Mapping[str, Any]) -> dict:
    """The part of a stored row the driver needs (progress, a searcher's output and cost)."""
    flops = row.get("flops")
    if flops is None:
        flops = default_flops(row)
    return {"trial_id": trial_id, "status": row["status"], "loss": row.get("loss"), "flops": flops}


# -- progress ---------------------------------------------------------------------------


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


# -- the Ray Tune path ------------------------------------------------------------------


def _finite(value: Any) -> float:
    return float(value) if value is not None and math.isfinite(value) else float("inf")


def _tune_trial(
    config: dict, ctx: SweepContext, planned: list[PlannedTrial] | None, base: dict | None
) -> None:
    """The Tune function trainable: one trial, reporting each evaluation to the scheduler."""
    from ray import tune

    trial_id, trial_config = _resolve(ctx.sweep, config, planned, base)
    last: dict = {"step": 0, "tokens": 0.0}

    def on_eval(metrics: dict) -> None:
        last.update(metrics)
        if ctx.report_evals:  # each report is a round trip to the driver: ~20 ms here
            fraction = {"fraction": last[ctx.time_attr] / ctx.budget} if ctx.budget else {}
            tune.report({**last, **fraction, "eval_loss": _finite(metrics.get("eval_loss"))})

    result = execute(ctx, trial_id, trial_config, on_eval)
    tune.report(
        {
            **last,
            "eval_loss": _finite(result["loss"]),
            "flops": result["flops"],  # the cost CarbsSearch reads
            "tunescale_stored": True,
            "tunescale_status": result["status"],
        }
    )


def _resolve(sweep: str, config: Mapping, planned: list[PlannedTrial] | None, base: dict | None):
    if planned is not None:
        item = planned[config["plan_index"]]
        return item.trial_id, item.config
    trial_config = {**base, **config}
    return adaptive_trial_id(sweep, trial_config), trial_config


def _tune_space(dim: Dimension):
    from ray import tune

    if dim.type == "log":
        return tune.loguniform(dim.low, dim.high)
    if dim.type == "linear":
        return tune.uniform(dim.low, dim.high)
    if dim.type == "int" and dim.step == 1:
        return tune.randint(int(dim.low), int(dim.high) + 1)
    return tune.choice(dim.grid())


def _make_callback(ctx: SweepContext, store: TrialStore, progress: Progress, planned, base):
    from ray.tune import Callback

    evals: dict[str, list[dict]] = {}  # Ray trial id -> the eval-loss points it reported (a pruned trial's curve)

    class StoreCallback(Callback):
        """Driver side: progress, plus the rows only the driver can write (pruned, dead workers)."""

        def on_trial_start(self, iteration, trials, trial, **info):
            progress.running += 1
            progress.show()

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if not result.get("tunescale_stored") and math.isfinite(result.get("eval_loss", math.inf)):
                evals.setdefault(trial.trial_id, []).append(
                    {"step": result["step"], "tokens": result["tokens"], "metric": "eval_loss",
                     "value": result["eval_loss"]})

        def on_trial_complete(self, iteration, trials, trial, **info):
            progress.running -= 1
            last = trial.last_result or {}
            curve = evals.pop(trial.trial_id, [])
            trial_id, config = _resolve(ctx.sweep, trial.config, planned, base)
            if last.get("tunescale_stored"):
                progress.finished(trial_id, last["tunescale_status"], last.get("eval_loss"))
                return
            row = fallback_row(config, "pruned", "stopped early by the scheduler or CARBS", last)
            store.write({**row, "trial_id": trial_id, "sweep": ctx.sweep}, curve)
            progress.finished(trial_id, "pruned", None)

        def on_trial_error(self, iteration, trials, trial, **info):
            progress.running -= 1
            evals.pop(trial.trial_id, None)
            trial_id, config = _resolve(ctx.sweep, trial.config, planned, base)
            error = trial.get_pickled_error()
            first = first_line(error, "unknown")
            reason = f"worker failed {trial.num_failures} time(s); last error: {type(error).__name__}: {first}"
            store.write({**fallback_row(config, "failed", reason[:500]), "trial_id": trial_id, "sweep": ctx.sweep})
            progress.finished(trial_id, "failed", None)

    return StoreCallback()


def _run_tuner(spec: SweepSpec, ctx: SweepContext, store: TrialStore, progress: Progress, *,
               planned: list[PlannedTrial] | None, base: dict | None, num_samples: int,
               search_alg=None, param_space: dict | None = None, stop=None) -> None:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, HyperBandScheduler

    scheduler = None
    if spec.scheduler is not None:
        # One past the budget: a scheduler stops trials that reach max_t, and a trial
        # ending on its own must report its stored row before that happens.
        max_t = spec.scheduler.max_t or math.ceil(spec.budget) + 1
        if spec.scheduler.type == "asha":
            scheduler = ASHAScheduler(
                time_attr=ctx.time_attr, max_t=max_t, grace_period=spec.scheduler.grace_period,
                reduction_factor=spec.scheduler.reduction_factor, brackets=spec.scheduler.brackets,
            )
        else:
            scheduler = HyperBandScheduler(
                time_attr=ctx.time_attr, max_t=max_t, reduction_factor=spec.scheduler.reduction_factor
            )
    if planned is not None:
        param_space = {"plan_index": tune.grid_search(list(range(len(planned))))}
    trainable = tune.with_resources(
        tune.with_parameters(_tune_trial, ctx=ctx, planned=planned, base=base),
        {"cpu": spec.cpus, "gpu": spec.gpus},
    )
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric="eval_loss",
            mode="min",
            num_samples=num_samples,
            max_concurrent_trials=_concurrency_limit(spec),
            # One actor runs many trials: 0.1 s instead of ~1.5 s of setup per trial.
            reuse_actors=True,
            search_alg=search_alg,
            scheduler=scheduler,
        ),
        run_config=tune.RunConfig(
            name=f"{spec.name}-{int(time.time() * 1000)}",
            # Tune's own experiment files are scratch: the trial store is the record.
            storage_path=str(Path(ctx.storage) / "_tune"),
            failure_config=tune.FailureConfig(max_failures=spec.max_retries),
            callbacks=[_make_callback(ctx, store, progress, planned, base)],
            stop=stop,
            verbose=0,
        ),
    )
    tuner.fit()


def _concurrency_limit(spec: SweepSpec) -> int | None:
    """`spec.concurrency` when it binds tighter than the cluster's resources, else None.

    Tune's max_concurrent_trials also throttles how trials are queued: setting it when
    resources already bound concurrency costs ~0.1 s per trivial trial here.
    """
    import ray

    resources = ray.cluster_resources()
    slots = resources.get("CPU", 1.0) / spec.cpus
    if spec.gpus:
        slots = min(slots, resources.get("GPU", 0.0) / spec.gpus)
    return spec.concurrency if spec.concurrency < slots or spec.algorithm in ADAPTIVE else None


def _hp_value(row: Mapping, name: str) -> Any:
    return row[name] if name in TRIAL_SCHEMA.names else row.get(HP_PREFIX + name)


def _is_completed(row: Mapping) -> bool:
    return row["status"] == "completed" and row.get("loss") is not None


# Each factory returns (Tune searcher, Tune param_space, Tune stopper or None).
def _optuna_searcher(space: dict, rows: list[dict], seed: int, ctx: SweepContext):
    """TPE over Tune's `space`, told the stored completed results as evaluated points."""
    from ray.tune.search.optuna import OptunaSearch

    seen = [r for r in rows if _is_completed(r)]
    points = [{name: _hp_value(r, name) for name in space} for r in seen]
    searcher = OptunaSearch(points_to_evaluate=points or None,
                            evaluated_rewards=[r["loss"] for r in seen] or None, seed=seed)
    return searcher, space, None


def _carbs_searcher(space: dict, rows: list[dict], seed: int, ctx: SweepContext):
    """CARBS owns the space (so Tune gets none); stored rows become its observations.

    The cost is the trial's FLOPs, which `_tune_trial` reports under "flops". Each trial
    runs with its suggestion's seed: a resample of a Pareto member is the same
    configuration with a new seed (and so a new trial id, not a rewrite of the first). Diverged
    and failed rows go back as failures, so the resumed search keeps avoiding that region
    (its success model) instead of proposing it again. Every evaluation reports its
    fraction of the budget, and the stopper ends the trials CARBS gives up on
    (`search.early_stopping`); on a resume, the stored eval-loss curves are those reports
    again: the completed trials' teach early stopping how losses fall, and a pruned trial
    goes back with its last evaluation (one without a curve is left out).
    """
    from tunescale.search.base import FAILURE_STATUSES, PRUNED, Observation
    from tunescale.search.ray_adapter import CarbsSearch, CarbsStopper
    from tunescale.search.space_convert import from_tune

    searcher = CarbsSearch(from_tune(space), metric="eval_loss", mode="min", cost_attr="flops", seed=seed,
                           seed_key="seed", fraction_attr="fraction")
    reports = _stored_reports(ctx, rows)
    for r in sorted(rows, key=lambda r: r["created_at"]):  # a stopped trial's forecast uses the ones finished before
        config, trial_id = {name: _hp_value(r, name) for name in space}, r["trial_id"]
        if _is_completed(r):
            searcher.ask_tell.observe_reported(Observation(config, r["loss"], r["flops"], suggestion_id=trial_id),
                                               reports.get(trial_id, []))
        elif r["status"] == PRUNED and reports.get(trial_id):
            searcher.ask_tell.observe_reported(Observation(config, None, r["flops"], PRUNED, suggestion_id=trial_id),
                                               reports[trial_id])
        elif r["status"] in FAILURE_STATUSES:
            searcher.ask_tell.observe(Observation(config, None, None, r["status"]))
    return searcher, {}, CarbsStopper(searcher)


def _stored_reports(ctx: SweepContext, rows: list[dict]) -> dict[str, list[tuple[float, float, float]]]:
    """trial id -> the (fraction, eval loss, FLOPs so far) the evaluations of a completed or
    pruned trial reported, from its own curve file (a resume reads each trial's curves once,
    not every curve of the store per model shape); FLOPs so far are the row's FLOPs pro
    rata to the tokens trained."""
    if not ctx.budget:
        return {}
    store, reports = _worker_store(ctx.storage), {}
    for row in rows:
        if row["status"] not in ("completed", "pruned") or not (row.get("flops") and row.get("tokens")):
            continue
        evals = sorted((c for c in store.curves(row["trial_id"]) if c["metric"] == "eval_loss"
                        and c["value"] is not None and math.isfinite(c["value"])), key=lambda c: c["step"])
        points = [(c[ctx.time_attr] / ctx.budget, c["value"], row["flops"] * c["tokens"] / row["tokens"])
                  for c in evals]
        reports[row["trial_id"]] = [p for p in points if 0 < p[0] <= 1]
    return reports


_SEARCHERS = {"optuna": _optuna_searcher, "carbs": _carbs_searcher}


def _run_adaptive(spec: SweepSpec, ctx: SweepContext, store: TrialStore, progress: Progress,
                  done_rows: list[dict]) -> None:
    """One adaptive search per model shape; its stored trials are fed back so a resume continues it."""
    space = {d.name: _tune_space(d) for d in spec.space}
    for width, depth in spec.shapes:
        rows = [r for r in done_rows if r.get("width") == width and r.get("depth") == depth]
        remaining = spec.num_samples - len(rows)
        if remaining <= 0:
            continue
        # A fresh seed per resume: the same seed would replay the first run's
        # random start-up points, i.e. the ids already stored.
        searcher, param_space, stop = _SEARCHERS[spec.algorithm](space, rows, spec.seed + len(rows), ctx)
        _run_tuner(spec, ctx, store, progress, planned=None, base=base_config(spec, width, depth),
                   num_samples=remaining, search_alg=searcher, param_space=param_space, stop=stop)


# -- batched mode -----------------------------------------------------------------------


def _run_batch(ctx: SweepContext, items: list[PlannedTrial]) -> list[dict]:
    """Run planned trials one after another in this worker. A retry of the task does not
    run again the trials an earlier attempt stored, but reports them, so the driver's
    progress counts every trial of the chunk."""
    store = _worker_store(ctx.storage)
    stored = store.stored_ids()
    return [_summary(t.trial_id, store.row(t.trial_id)) if t.trial_id in stored else execute(ctx, t.trial_id, t.config)
            for t in items]


def _run_batched(spec: SweepSpec, ctx: SweepContext, store: TrialStore, progress: Progress,
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
            results = [_summary(t.trial_id, store.row(t.trial_id)) for t in chunk if t.trial_id in stored]
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


# -- the entry point --------------------------------------------------------------------


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

    def summary(self) -> dict:
        """JSON-safe copy."""
        return {
            "name": self.name, "storage": self.storage, "statuses": dict(self.statuses),
            "ran": self.ran, "resumed": self.resumed, "wall_s": self.wall_s, "best": self.best,
        }

    def report(self) -> str:
        total = sum(self.statuses.values())
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items()))
        lines = [
            f"sweep {self.name}: {total} trials in {self.storage} ({counts}); "
            f"ran {self.ran} in {self.wall_s:.1f} s, {self.resumed} were already stored"
        ]
        if self.best:
            hps = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in self.best.items() if k not in ("trial_id", "loss"))
            lines.append(f"best loss {self.best['loss']:.4g} by {self.best['trial_id']} ({hps})")
        return "\n".join(lines)


def _sweep_rows(storage: str, name: str) -> list[dict]:
    table = read_table(storage)
    rows = table.to_pylist()
    others = sorted({r["sweep"] for r in rows} - {name})
    if others:
        raise InputError(
            f"storage {storage}: holds trials of sweep {others[0]!r}, not {name!r}; "
            f"give this sweep its own storage directory."
        )
    return rows


def run_sweep(
    spec: SweepSpec,
    *,
    address: str | None = None,
    resume: bool = False,
    out: TextIO | None = sys.stderr,
    num_cpus: int | None = None,
) -> SweepResult:
    """Run (or with `resume=True` continue) the sweep `spec` describes; see the module doc."""
    from tunescale.sweep.ray_local import ray_session

    storage, store = open_store(spec.storage)
    done_rows = _sweep_rows(storage, spec.name)
    if done_rows and not resume:
        raise InputError(
            f"storage {storage}: already holds {len(done_rows)} trials of sweep {spec.name!r}; "
            f"pass --resume to continue it, or choose another storage."
        )
    done_ids = {r["trial_id"] for r in done_rows}
    ctx = SweepContext(spec.name, storage, spec.trainable, "step" if spec.budget_key == "steps" else "tokens",
                       report_evals=spec.scheduler is not None or spec.algorithm == "carbs", budget=spec.budget)
    planned = plan(spec) if spec.algorithm not in ADAPTIVE else None
    total = len(planned) if planned is not None else spec.num_samples * len(spec.shapes)
    progress = Progress(spec.name, total, out)
    # A store may hold rows of other plans under this name (a study runs one plan per
    # token budget); only this plan's rows count towards its total.
    planned_ids = {t.trial_id for t in planned} if planned is not None else None
    for r in done_rows:
        if planned_ids is None or r["trial_id"] in planned_ids:
            progress.finished(r["trial_id"], r["status"], r.get("loss"))
    start = time.perf_counter()
    pending = [t for t in planned if t.trial_id not in done_ids] if planned is not None else None
    if pending != []:
        with ray_session(address, num_cpus=num_cpus):
            if pending is None:
                _run_adaptive(spec, ctx, store, progress, done_rows)
            elif spec.batched:
                _run_batched(spec, ctx, store, progress, pending)
            else:
                _run_tuner(spec, ctx, store, progress, planned=pending, base=None, num_samples=1)
    wall = time.perf_counter() - start
    rows = _sweep_rows(storage, spec.name)
    best_row = min((r for r in rows if r["status"] == "completed" and r.get("loss") is not None),
                   key=lambda r: r["loss"], default=None)
    best = None
    if best_row is not None:
        best = {"trial_id": best_row["trial_id"], "loss": best_row["loss"], "width": best_row.get("width")}
        best.update({d.name: _hp_value(best_row, d.name) for d in spec.space})
    return SweepResult(
        name=spec.name,
        storage=storage,
        statuses=dict(Counter(r["status"] for r in rows)),
        ran=len(rows) - len(done_ids),
        resumed=len(done_ids),
        wall_s=wall,
        best=best,
    )
