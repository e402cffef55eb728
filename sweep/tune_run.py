"""The Ray Tune path: each trial a Tune trial, asked of an ask/tell searcher through
`search.ray_adapter.AskTellSearch`.

Settings: `reuse_actors=True`, `FailureConfig(max_failures=max_retries)`, optional
ASHA/HyperBand pruning through `tune.report` at every evaluation. A planned (grid or
random) sweep runs its pending plan entries, in order, as a `GridSearch` over their
indices, so each Tune trial runs the planned trial of its deterministic id; an adaptive
one (optuna, carbs) runs one search per model shape, its searcher first told the
stored trials of that shape (`search.replay`), costed in FLOPs, with CARBS's early
stopping. The driver writes only the rows no worker could: `pruned` rows (Tune stopped
the trial; their curves are the evaluations it reported before) and `failed` rows for
trials whose worker process died more than `max_retries` times.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunescale.contract.errors import StoreError
from tunescale.contract.store import TrialStore
from tunescale.search.replay import replay
from tunescale.sweep.plan import PlannedTrial, adaptive_trial_id, base_config
from tunescale.sweep.progress import Progress, tune_output
from tunescale.sweep.rows import fallback_row
from tunescale.sweep.searchers import make_searcher, stored_observations, stored_reports
from tunescale.sweep.spec import ADAPTIVE, SweepSpec
from tunescale.sweep.trial import SweepContext, execute


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
            "flops": result["flops"],  # the cost an adaptive searcher is told
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


def _error_text(trial) -> str:
    """The last line of the trial's error trace, read as text.

    Never `trial.get_pickled_error()`: that unpickles a file under STORAGE/_tune/, and
    unpickling runs code; the store directory is not trusted that far (nor, at the end of a
    run, by Tune: `on_experiment_end`).
    """
    error = trial.get_error()
    lines = [line.strip() for line in str(error or "").splitlines() if line.strip()]
    return lines[-1] if lines else "unknown"


def _make_callback(ctx: SweepContext, store: TrialStore, progress: Progress, planned, base):
    from ray.tune import Callback

    evals: dict[str, list[dict]] = {}  # Ray trial id -> the eval-loss points it reported (a pruned trial's curve)

    class StoreCallback(Callback):
        """Driver side: progress, plus the rows only the driver can write (pruned, dead workers).

        A store that cannot be written ends the sweep: Tune wraps the error raised here in
        a TuneError with a traceback, so `_run_tuner` raises the one kept in `failure`.
        """

        failure: StoreError | None = None

        def write(self, row: dict, curve: list | None = None) -> None:
            try:
                store.write(row, curve)
            except StoreError as exc:
                self.failure = exc
                raise

        def on_step_begin(self, iteration, trials, **info):
            if progress.interrupted:  # a Ctrl-C that landed in Ray's own frames and was swallowed there
                raise KeyboardInterrupt

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
            self.write({**row, "trial_id": trial_id, "sweep": ctx.sweep}, curve)
            progress.finished(trial_id, "pruned", None)

        def on_trial_error(self, iteration, trials, trial, **info):
            progress.running -= 1
            evals.pop(trial.trial_id, None)
            trial_id, config = _resolve(ctx.sweep, trial.config, planned, base)
            reason = f"worker failed {trial.num_failures} time(s); last error: {_error_text(trial)}"
            self.write({**fallback_row(config, "failed", reason[:500]), "trial_id": trial_id, "sweep": ctx.sweep})
            progress.finished(trial_id, "failed", None)

        def on_experiment_end(self, trials, **info):
            # When fit() ends, Tune's result grid unpickles each failed trial's error.pkl, copied
            # into STORAGE/_tune/ from its staging directory: unpickling runs code. The sweep
            # reads errors as text; with no pickle file named, the grid reads the text too.
            for trial in trials:
                trial.run_metadata.pickled_error_filename = None

    return StoreCallback()


def _run_tuner(spec: SweepSpec, ctx: SweepContext, store: TrialStore, progress: Progress, search, *,
               planned: list[PlannedTrial] | None, base: dict | None, num_samples: int, stop=None) -> None:
    from ray import tune
    from ray.tune.error import TuneError
    from ray.tune.schedulers import ASHAScheduler, HyperBandScheduler

    # Ctrl-C must reach the driver as KeyboardInterrupt: Tune's own handler ends the run
    # quietly, and the sweep would look finished (engine.SweepInterrupted says what is stored).
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"

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
    trainable = tune.with_resources(
        tune.with_parameters(_tune_trial, ctx=ctx, planned=planned, base=base),
        {"cpu": spec.cpus, "gpu": spec.gpus},
    )
    callback = _make_callback(ctx, store, progress, planned, base)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            metric="eval_loss",
            mode="min",
            num_samples=num_samples,
            max_concurrent_trials=_concurrency_limit(spec),
            # One actor runs many trials: 0.1 s instead of ~1.5 s of setup per trial.
            reuse_actors=True,
            search_alg=search,
            scheduler=scheduler,
        ),
        run_config=tune.RunConfig(
            name=f"{spec.name}-{int(time.time() * 1000)}",
            # Tune's own experiment files are scratch: the trial store is the record.
            storage_path=str(Path(ctx.storage) / "_tune"),
            failure_config=tune.FailureConfig(max_failures=spec.max_retries),
            callbacks=[callback],
            stop=stop,
            verbose=1 if progress.verbose else 0,
        ),
    )
    try:
        with tune_output(progress.verbose):
            tuner.fit()
    except TuneError:
        if callback.failure is not None:
            raise callback.failure from None
        raise


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


def run_planned(spec: SweepSpec, ctx: SweepContext, store: TrialStore, progress: Progress,
                pending: list[PlannedTrial]) -> None:
    """Run the planned trials the store lacks, in plan order."""
    from tunescale.search.grid_search import GridSearch
    from tunescale.search.ray_adapter import AskTellSearch
    from tunescale.search.space import ChoiceParam, Space

    indices = GridSearch(Space([ChoiceParam("plan_index", tuple(range(len(pending))))]))
    search = AskTellSearch(indices, metric="eval_loss", mode="min", cost_attr=None)
    _run_tuner(spec, ctx, store, progress, search, planned=pending, base=None, num_samples=len(pending))


def run_adaptive(spec: SweepSpec, ctx: SweepContext, store: TrialStore, progress: Progress,
                 done_rows: list[dict]) -> None:
    """One adaptive search per model shape; its stored trials are replayed so a resume continues it.

    CARBS runs each trial with its suggestion's seed: a resample of a Pareto member is
    the same configuration with a new seed (and so a new trial id, not a rewrite of the
    first). With `early_stopping`, every evaluation reports its fraction of the budget, and
    the stopper ends the trials CARBS gives up on (`search.early_stopping`).
    """
    from tunescale.search.ray_adapter import AskTellSearch, AskTellStopper

    carbs = spec.algorithm == "carbs"
    stops = carbs and spec.early_stopping
    for width, depth in spec.shapes:
        rows = [r for r in done_rows if r.get("width") == width and r.get("depth") == depth]
        remaining = spec.num_samples - len(rows)
        if remaining <= 0:
            continue
        # A fresh seed per resume: the same seed would replay the first run's
        # random start-up points, i.e. the ids already stored.
        searcher = make_searcher(spec, spec.seed + len(rows))
        replay(searcher, stored_observations(spec, rows), stored_reports(store, rows, ctx.time_attr, ctx.budget))
        search = AskTellSearch(searcher, metric="eval_loss", mode="min", cost_attr="flops",
                               seed_key="seed" if carbs else None, fraction_attr="fraction" if stops else None)
        _run_tuner(spec, ctx, store, progress, search, planned=None, base=base_config(spec, width, depth),
                   num_samples=remaining, stop=AskTellStopper(search) if stops else None)
