"""Benchmark: fit-scaling on 1,000,000 trial rows with 1,000 bootstrap resamples, vs a naive baseline.

Run:  python benchmarks/fit_scaling_bench.py [--rows 1000000] [--bootstrap 1000] [--naive-resamples 20] [--repeats 3]

The table: 100 scales (N, D) × a 20 (lr) × 10 (batch size) grid × 50 seeds = 1,000,000
completed runs of a known law (lr*, B*, L(N, D) with 0.75% scatter per scale as in the
Chinchilla fit's residuals, a paraboloid loss bowl around the optimum, per-run noise),
written to Parquet and read back through `scaling.columns.load` like the CLI does.

Ours: `scaling.fit.fit_scaling` — joint (lr, batch) optimum per scale with 1,000 resamples
(each resample's per-run draw counts times the per-run normal-equation terms, one matrix
product per batch of resamples), both HP laws with a batched bootstrap over scales, the
loss law from a batch of 200 starts and 1,000 bootstrap refits as one batched L-BFGS, and
the leave-largest-out refits. The same point-level bootstrap as the baseline: every
resample draws n runs with replacement.

Naive baseline (same process, same data, same window and kernel weights): the textbook
loop — per scale and per resample, `scipy.optimize.curve_fit` of the paraboloid; per
resample `curve_fit` of each HP law in log space; the loss law by `scipy.optimize.minimize`
(L-BFGS-B, analytic gradient) from each of the 200 starts (scipy's default stopping rule,
the winner polished with the tight one ours uses) and then once per resample (tight rule).
Running all 1,000 resamples that way takes many minutes, so it is timed on
`--naive-resamples` resamples per stage and extrapolated linearly to 1,000 (printed as
such). Ours is timed `--repeats` times (load + fit) and the median run is reported.
statsmodels and scipy are imported before either clock starts. The machine is
shared by several engineers: timings are contended.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tunescale.scaling import loss_law as ll  # noqa: E402
from tunescale.scaling.columns import load  # noqa: E402
from tunescale.scaling.fit import fit_scaling  # noqa: E402
from tunescale.scaling.optima import JOINT_WINDOW_STEPS  # noqa: E402

# the stopping rule ours uses (scaling.lbfgs): scipy's defaults stop bootstrap refits early
TOL = {"ftol": 1e-13, "gtol": 1e-12, "maxiter": 1000}
TRUE = {"E": 1.8, "A": 480.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37}


def make_table(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """n_rows runs: 100 scales × 20 lr × 10 batch sizes × (n_rows / 20,000) seeds."""
    rng = np.random.default_rng(seed)
    n_scales, n_lr, n_bs = 100, 20, 10
    seeds = max(1, n_rows // (n_scales * n_lr * n_bs))
    N = np.exp(rng.uniform(np.log(3e7), np.log(3e9), n_scales))
    D = N * np.exp(rng.uniform(np.log(5), np.log(200), n_scales))
    lr_star = 1.8 * N**-0.7 * D**0.3
    bs_star = 0.6 * D**0.57 / 2048  # sequences
    # per-scale scatter of 0.75% about the loss law: the rms log residual of the Chinchilla fit
    L_star = (TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]) * np.exp(
        rng.normal(0, 0.0075, n_scales))
    u = np.linspace(-2.4, 2.4, n_lr)  # log-lr offsets from the optimum's neighbourhood
    v = np.linspace(-1.8, 1.8, n_bs)
    s = np.repeat(np.arange(n_scales), n_lr * n_bs * seeds)
    uu = np.tile(np.repeat(u, n_bs * seeds), n_scales) + np.repeat(
        rng.uniform(-0.3, 0.3, n_scales), n_lr * n_bs * seeds
    )
    vv = np.tile(np.tile(np.repeat(v, seeds), n_lr), n_scales) + np.repeat(
        rng.uniform(-0.3, 0.3, n_scales), n_lr * n_bs * seeds
    )
    lr = lr_star[s] * np.exp(uu)
    bs = np.round(bs_star[s] * np.exp(vv)).clip(1)
    x, y = np.log(lr / lr_star[s]), np.log(bs / bs_star[s])
    loss = L_star[s] * (1 + 0.01 * x**2 + 0.004 * x * y + 0.006 * y**2) + rng.normal(0, 0.003, s.size)
    return pd.DataFrame(
        {
            "trial_id": np.arange(s.size).astype(str),
            "status": "completed",
            "params": N[s],
            "tokens": D[s],
            "lr": lr,
            "batch_size": bs,
            "loss": loss,
        }
    )


def _paraboloid(X, c0, c1, c2, c3, c4, c5):
    u, v = X
    return c0 + c1 * u + c2 * v + c3 * u * u + c4 * u * v + c5 * v * v


def naive(frame: pd.DataFrame, fit, n_resamples: int, seed: int = 0) -> dict[str, float]:
    """Seconds of each stage of the loop-per-resample baseline, for `n_resamples` resamples."""
    from scipy.optimize import curve_fit, minimize

    rng = np.random.default_rng(seed)
    times = {}
    t = time.perf_counter()
    for _, rows in frame.groupby(["params", "tokens"]):
        x, y, L = np.log(rows["lr"].to_numpy()), np.log(rows["batch_size"].to_numpy()), rows["loss"].to_numpy()
        gx, ix = np.unique(x, return_inverse=True)
        gy, iy = np.unique(y, return_inverse=True)
        b = int(np.argmin(L))
        win = (np.abs(ix - ix[b]) <= JOINT_WINDOW_STEPS) & (np.abs(iy - iy[b]) <= JOINT_WINDOW_STEPS)
        u, v, Lw = x[win] - gx[ix[b]], y[win] - gy[iy[b]], L[win]
        sx, sy = np.abs(u).max(), np.abs(v).max()
        sigma = np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2)) ** -0.5  # weight = kernel, as in ours
        for _ in range(n_resamples):
            idx = rng.integers(0, Lw.size, Lw.size)
            curve_fit(_paraboloid, (u[idx], v[idx]), Lw[idx], sigma=sigma[idx])
    times["optima per scale"] = time.perf_counter() - t

    t = time.perf_counter()
    of = fit.optima_frame
    for hp, law in fit.hp_laws.items():
        X = np.log(of[list(law.inputs)].to_numpy()).T
        ly = np.log(of[hp].to_numpy())

        def f(X, c, *k):
            return c + np.dot(np.asarray(k), X)

        for _ in range(n_resamples):
            idx = rng.integers(0, ly.size, ly.size)
            curve_fit(f, X[:, idx], ly[idx], p0=np.zeros(X.shape[0] + 1))
    times["hp laws"] = time.perf_counter() - t

    t = time.perf_counter()
    pts = fit.loss_points
    X = np.log(pts[["params", "tokens"]].to_numpy())
    logL = np.log(pts["loss"].to_numpy())

    def scalar_for(w):
        fg = ll._objective(X, logL, w[None, :], ll.HUBER_DELTA)

        def scalar(theta):
            fv, g = fg(theta[None, :], np.zeros(1, int))
            return float(fv[0]), g[0]

        return scalar

    one = scalar_for(np.ones(logL.size))
    grid = ll._start_grid(2)
    f0, _ = ll._objective(X, logL, np.ones((1, logL.size)), ll.HUBER_DELTA)(grid, np.zeros(len(grid), int))
    starts = grid[np.argsort(f0)[: ll.N_STARTS]]
    t_starts = time.perf_counter()
    best = min((minimize(one, s0, jac=True, method="L-BFGS-B") for s0 in starts), key=lambda r: r.fun)
    best = minimize(one, best.x, jac=True, method="L-BFGS-B", options=TOL)  # polish the winner, as ours does
    times["loss law: 200 starts (all run)"] = time.perf_counter() - t_starts
    t = time.perf_counter()
    for _ in range(n_resamples):
        w = rng.multinomial(logL.size, np.full(logL.size, 1 / logL.size)).astype(float)
        minimize(scalar_for(w), best.x, jac=True, method="L-BFGS-B", options=TOL)
    times["loss law bootstrap"] = time.perf_counter() - t
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--naive-resamples", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3, help="runs of ours; the median is reported")
    args = ap.parse_args()
    print(
        f"cpus visible: {os.cpu_count()}, affinity: {len(os.sched_getaffinity(0))}; shared machine, timings contended"
    )

    import scipy.optimize  # noqa: F401 - warm imports, so neither contender is charged for them
    import statsmodels.api  # noqa: F401

    frame = make_table(args.rows)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trials.parquet"
        frame.to_parquet(path)
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            table = load(path)
            t_load = time.perf_counter() - t0
            t0 = time.perf_counter()
            fit = fit_scaling(table, n_bootstrap=args.bootstrap, seed=0)
            runs.append((t_load + time.perf_counter() - t0, t_load))
    ours, t_load = sorted(runs)[len(runs) // 2]
    print(f"rows: {len(table.frame):,}  scales: {len(fit.optima)}  bootstrap resamples: {args.bootstrap}")
    print(
        f"ours (median of {args.repeats} runs: {', '.join(f'{t:.2f}' for t, _ in runs)} s): "
        f"load {t_load:.2f} s + fit {ours - t_load:.2f} s = {ours:.2f} s"
    )
    lr, bs = fit.hp_laws["lr"], fit.hp_laws["batch_size"]
    print(
        f"  recovered: lr exponents N {lr.coef['params']:.3f} (true -0.7), D {lr.coef['tokens']:.3f} (0.3); "
        f"batch exponent D {bs.coef['tokens']:.3f} (0.57); loss α {fit.loss_law.coef['alpha']:.3f} (0.35), "
        f"β {fit.loss_law.coef['beta']:.3f} (0.37)"
    )

    k = args.naive_resamples
    times = naive(table.frame, fit, k)
    scale = args.bootstrap / k
    extrapolated = {name: (t if "starts" in name else t * scale) for name, t in times.items()}
    total = t_load + sum(extrapolated.values())
    for name, t in times.items():
        note = "" if "starts" in name else f" for {k} resamples -> {extrapolated[name]:.1f} s for {args.bootstrap}"
        print(f"naive {name}: {t:.2f} s{note}")
    print(f"naive total (same load, {args.bootstrap} resamples, extrapolated from {k}): {total:.1f} s")
    print(f"speed-up: {total / ours:.1f}x  (goal >= 20x, ours < 10 s on 2 cores: {'yes' if ours < 10 else 'no'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
