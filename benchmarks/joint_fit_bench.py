"""Joint-model fit end to end on synthetic random-search tables, against scipy least_squares per resample.

Run:  python benchmarks/joint_fit_bench.py [--runs 10000] [--bootstrap 1000] [--baseline-resamples 10]
          [--steplaw-draws 10] [--synthetic-draws 20]

1) a 10,000-run random-search table (`scaling.synthetic`), 1,000 bootstrap resamples over runs:
   `fit_scaling` as the CLI runs it (divergence rule, joint fit, optima, report). Goal ≤ 20 s on 2 cores.
2) a 5,000-row checkpointed table (1,250 runs × 4 evaluations), 1,000 resamples: load (one row per
   run) and fit. Goal ≤ 10 s. Beside it, the baseline: scipy `least_squares` (loss="huber" on the
   same log residuals and δ) refitted per resample from the optimum, timed on a few resamples and
   scaled to 1,000; the ratio baseline / ours is printed. Timings, not asserts.
3) with --steplaw-draws K: K random 5% draws of ../shared/data/steplaw_dense_lr_bs_loss.csv (~90 runs over
   17 scales), each fitted jointly with 100 resamples and the law forms fit-scaling uses; per draw, the lr
   and batch-size optimum at params=1e9, tokens=1e11 against the grid method on every run, in decades,
   and whether the grid value is inside the joint 95% interval. Beside it, a floor: the same draw with
   the basin's shape (curvature, asymmetry, cross term, its scaling) known, taken from the joint fit on
   every run, and only the loss law and the optima's laws refitted: the error the draw's runs leave
   when nothing but the optima is unknown.
4) with --synthetic-draws K: K synthetic random-search tables of 800 runs (10% diverged) from the
   known joint law, each fitted with 200 resamples: how often each 95% interval holds the true
   exponent (lr, batch size and weight decay in params and tokens; α, β, E of the tuned loss law).
--runs 0 --checkpoint-rows 0 skips 1) and 2).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from tunescale.scaling.columns import load
from tunescale.scaling.fit import fit_scaling
from tunescale.scaling.joint import _counts
from tunescale.scaling.joint_model import log_residuals, objective
from tunescale.scaling.lbfgs import minimize_batched
from tunescale.scaling.synthetic import random_search_table


def _baseline_per_resample(fit, table, n_resamples: int, seed: int = 0) -> float:
    """Seconds per resample of scipy least_squares refitting the joint model on a bootstrap resample."""
    from scipy.optimize import least_squares

    kept = table
    design = fit.design(kept, kept["loss"].to_numpy())
    counts = _counts(len(kept), n_resamples, np.random.default_rng(seed))
    t0 = time.perf_counter()
    for b in range(n_resamples):
        idx = np.repeat(np.arange(len(kept)), counts[b].astype(int))
        d = design.take(idx)
        least_squares(
            lambda th, d=d: log_residuals(fit.layout, d, th, fit.delta),
            fit.theta,
            loss="huber",
            f_scale=fit.delta,
            method="trf",
        )
    return (time.perf_counter() - t0) / n_resamples


def _shape_known(full, frame) -> dict:
    """Optima at the target of `full` refitted on `frame` with only its loss law and centres free."""
    layout = full.layout
    free = np.zeros(layout.p, bool)
    free[:5] = True
    free[layout.centre] = full.layout.free(full.terms, full.axes, full.law_axes)[layout.centre]
    design = full.design(frame, frame["loss"].to_numpy())
    run = minimize_batched(objective(layout, design, np.ones((1, len(frame))), full.delta, free), full.theta[None])
    return replace(full, theta=run.x[0], bootstrap=np.empty((0, layout.p)))


def _steplaw_draws(draws: int) -> None:
    from tunescale.scaling.columns import ColumnMap
    from tunescale.scaling.fit import DEFAULT_INPUTS
    from tunescale.scaling.joint import diverged_by_rule, fit_joint

    path = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "steplaw_dense_lr_bs_loss.csv"
    table = load(path, ColumnMap(params="N", tokens="D", batch_size="bs", loss="smooth loss"), seq_len=2048)
    target = {"params": 1e9, "tokens": 1e11}
    grid = fit_scaling(table, n_bootstrap=0, validate=False, method="grid").predict(**target)
    print(
        f"Step Law 5% draws vs the full grid at params=1e9, tokens=1e11 (grid lr* {grid.values['lr'][0]:.4g}, "
        f"batch size* {grid.values['batch_size'][0]:.4g} tokens): log10(joint / grid)"
    )
    full, _ = fit_joint(table.frame[~diverged_by_rule(table.frame)], n_bootstrap=0, law_inputs=DEFAULT_INPUTS)
    errors = {"joint": [], "shape known": []}
    inside = 0
    for seed in range(draws):
        sub = table.frame.sample(frac=0.05, random_state=seed)
        sub = sub[~diverged_by_rule(sub)]
        fit, _ = fit_joint(sub, n_bootstrap=100, seed=seed, law_inputs=DEFAULT_INPUTS)
        opt, known = fit.optimum(**target), _shape_known(full, sub).optimum(**target)
        cells = []
        for kind, o in (("joint", opt), ("shape known", known)):
            errors[kind].append([float(np.log10(o[hp][0][0] / grid.values[hp][0])) for hp in ("lr", "batch_size")])
        for hp, err in zip(("lr", "batch_size"), errors["joint"][-1], strict=True):
            (lo,), (hi,) = opt[hp][1:]
            ok = lo <= grid.values[hp][0] <= hi
            inside += ok
            cells.append(f"{hp} {err:+.3f} ({'grid inside' if ok else 'grid OUTSIDE'} interval)")
        shape = errors["shape known"][-1]
        print(f"  draw {seed}: {len(sub)} runs, {'; '.join(cells)}; shape known: {shape[0]:+.3f} / {shape[1]:+.3f}")
    for kind, e in errors.items():
        e = np.abs(np.array(e))
        print(f"  {kind:>11}: worst lr {e[:, 0].max():.3f}, batch size {e[:, 1].max():.3f} decades; "
              f"median {np.median(e[:, 0]):.3f} / {np.median(e[:, 1]):.3f}; "
              f"draws with both within 0.1: {int((e.max(axis=1) <= 0.1).sum())}/{draws}")
    print(f"  grid value inside the joint 95% interval: {inside}/{2 * draws}")


def _synthetic_draws(draws: int) -> None:
    from tunescale.scaling import synthetic
    from tunescale.scaling.joint import diverged_by_rule, fit_joint

    hits: dict[str, int] = {}
    for seed in range(draws):
        table = synthetic.random_search_table(800, seed=100 + seed)
        fit, _ = fit_joint(table[~diverged_by_rule(table)], n_bootstrap=200, seed=seed)
        checks = [(f"{hp} {k}", synthetic.TRUE_LAWS[hp][k], law["intervals"][k])
                  for hp, law in fit.hp_laws().items() for k in ("params", "tokens")]
        checks += [(k, synthetic.TRUE_LOSS[k], fit.loss_law()["intervals"][k]) for k in ("alpha", "beta", "E")]
        for name, true, (lo, hi) in checks:
            hits[name] = hits.get(name, 0) + bool(lo <= true <= hi)
    print(f"synthetic random searches (800 runs, 10% diverged, 200 resamples), {draws} draws: "
          f"95% intervals holding the true value")
    for name, n in hits.items():
        print(f"  {name:<22} {n}/{draws}")
    total = sum(hits.values())
    print(f"  all                    {total}/{draws * len(hits)} = {total / (draws * len(hits)):.1%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--checkpoint-rows", type=int, default=5000)
    ap.add_argument("--baseline-resamples", type=int, default=10)
    ap.add_argument("--steplaw-draws", type=int, default=0)
    ap.add_argument("--synthetic-draws", type=int, default=0)
    args = ap.parse_args()
    if args.steplaw_draws:
        _steplaw_draws(args.steplaw_draws)
    if args.synthetic_draws:
        _synthetic_draws(args.synthetic_draws)

    with tempfile.TemporaryDirectory() as tmp:
        if args.runs:
            _random_search(args, Path(tmp))
        if args.checkpoint_rows:
            _checkpointed(args, Path(tmp))


def _random_search(args, tmp: Path) -> None:
    path = tmp / "random.csv"
    random_search_table(args.runs, seed=0).drop(columns="run_id").to_csv(path, index=False)
    t0 = time.perf_counter()
    fit = fit_scaling(load(path), n_bootstrap=args.bootstrap, method="joint")
    fit.report()
    t_big = time.perf_counter() - t0
    print(
        f"{args.runs} random-search runs, {args.bootstrap} resamples ({fit.joint.bootstrap_method}): "
        f"{t_big:.1f} s end to end (goal 20 s)"
    )


def _checkpointed(args, tmp: Path) -> None:
    path = tmp / "checkpoints.csv"
    table = random_search_table(args.checkpoint_rows // 4, seed=1, checkpoints=4)
    table.to_csv(path, index=False)
    t0 = time.perf_counter()
    loaded = load(path)
    fit = fit_scaling(loaded, n_bootstrap=args.bootstrap, method="joint")
    fit.report()
    t_ckpt = time.perf_counter() - t0
    print(
        f"{len(table)} checkpoint rows -> {len(loaded.frame)} runs, {args.bootstrap} resamples "
        f"({fit.joint.bootstrap_method}): {t_ckpt:.1f} s end to end (goal 10 s)"
    )
    kept = loaded.frame.iloc[np.flatnonzero(np.isin(loaded.frame["loss"], fit.loss_points["loss"]))]
    per = _baseline_per_resample(fit.joint, kept, args.baseline_resamples)
    base = per * args.bootstrap
    print(
        f"baseline: scipy least_squares per resample {per:.2f} s x {args.bootstrap} = {base:.0f} s "
        f"(timed on {args.baseline_resamples}); ratio baseline / ours = {base / t_ckpt:.0f}x"
    )


if __name__ == "__main__":
    main()
