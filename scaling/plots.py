"""Figures of a fit-scaling run (matplotlib, Agg backend), each written as PNG and PDF.

Notations
---------
N, D, C      params, tokens, flops;  L  loss;  h*  optimum of hyperparameter h at one scale
collapsed    for a law h* = c·x1^k1·x2^k2 the y axis is h* / x2^k2, so every scale falls on
             one straight line in x1 and the fit can be judged by eye

Figures: `optima_<hp>` (loss vs h per scale, parabola and optimum marked), `law_<hp>`
(law on log-log axes with data, fit, interval band, prediction and published laws; for a
hyperparameter the runs tuned online, each run and the mean per scale),
`loss_law` (loss vs N at fixed compute and iso-loss contours with the compute-optimal
frontier), `residuals`; for the joint method, those of `scaling.joint_plots`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tunescale.contract.schema import FLOPS_PER_PARAM_TOKEN
from tunescale.scaling.pyplot import pyplot, save_figure

MAX_PANELS = 16  # a 4 x 4 grid of scales stays readable on one page


def _save(fig, out: Path, name: str) -> list[Path]:
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    save_figure(fig, paths, dpi=150, bbox_inches="tight")
    return paths


def write_figures(fit, out: Path, *, predictions=()) -> list[Path]:
    """Every figure the fit supports; returns the files written."""
    written: list[Path] = []
    for hp in ("lr", "batch_size", "weight_decay"):
        if any(o.has(hp) for o in fit.optima):
            written += _save(_optima_figure(fit, hp), out, f"optima_{hp}")
    for hp, law in fit.hp_laws.items():
        written += _save(_law_figure(fit, hp, law, predictions), out, f"law_{hp}")
    for hp, learned in fit.learned.items():
        written += _save(_law_figure(fit, hp, learned.law, predictions), out, f"law_{hp}")
    if fit.loss_law is not None:
        written += _save(_loss_figure(fit, predictions), out, "loss_law")
    if fit.loss_law is not None or fit.hp_laws or fit.learned:
        written += _save(_residual_figure(fit), out, "residuals")
    if fit.joint is not None:
        from tunescale.scaling.joint_plots import joint_figures

        for name, fig in joint_figures(fit).items():
            written += _save(fig, out, name)
    return written


def _scale_rows(frame, scale: dict):
    mask = np.ones(len(frame), bool)
    for k in ("params", "tokens"):
        if k in scale and k in frame.columns:
            mask &= np.isclose(frame[k].to_numpy(float), scale[k], rtol=1e-9)
    if not {"params", "tokens"} & set(scale) and "flops" in scale:
        mask &= np.isclose(frame["flops"].to_numpy(float), scale["flops"], rtol=1e-9)
    return frame[mask]


def _title(scale: dict) -> str:
    return ", ".join(f"{k[0].upper()}={v:.2g}" for k, v in scale.items() if k in ("params", "tokens"))


def _optima_figure(fit, hp: str):
    plt = pyplot()
    optima = [o for o in fit.optima if o.has(hp)][:MAX_PANELS]
    n = len(optima)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, o in zip(axes.ravel(), optima, strict=False):
        runs = _scale_rows(fit.table.frame, o.scale)
        value = o.value(hp)
        if o.joint is not None and hp in ("lr", "batch_size"):
            other = "batch_size" if hp == "lr" else "lr"
            other_star = getattr(o.joint, other)
            grid = np.unique(runs[other])
            nearest = grid[np.argmin(np.abs(np.log(grid) - math.log(other_star)))]
            runs_near = runs[runs[other] == nearest]
            ax.scatter(runs[hp], runs["loss"], s=6, c="0.8", label="all runs")
            ax.scatter(runs_near[hp], runs_near["loss"], s=12, c="C0", label=f"{other} = {nearest:.3g}")
            if o.joint.coef is not None:
                xs = np.geomspace(runs[hp].min(), runs[hp].max(), 200)
                ys = o.joint.predict(xs, other_star) if hp == "lr" else o.joint.predict(other_star, xs)
                ax.plot(xs, ys, "C1", label="paraboloid at the joint optimum")
        else:
            res = o.optima[hp]
            ax.scatter(runs[hp], runs["loss"], s=10, c="C0")
            if res.coef is not None:
                xs = np.geomspace(runs[hp].min(), runs[hp].max(), 200)
                ax.plot(xs, res.predict(xs), "C1")
            ax.axvspan(res.band_low, res.band_high, color="C2", alpha=0.15, label=f"{res.band_pct:g}% band")
        lo, hi = o.interval(hp)
        ax.axvspan(lo, hi, color="C3", alpha=0.15)
        ax.axvline(value, color="C3", lw=1, label=f"{hp}* = {value:.3g}" + (" (edge)" if o.at_edge(hp) else ""))
        best = runs["loss"].min()
        ax.set_ylim(best - 0.01 * abs(best), best + max(0.08 * abs(best), 1e-3))
        ax.set_xscale("log")
        ax.set_title(_title(o.scale), fontsize=9)
        ax.set_xlabel(hp, fontsize=8)
        ax.set_ylabel("loss", fontsize=8)
        ax.legend(fontsize=6)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.suptitle(f"optimum of {hp} per scale (shaded: {int(fit.settings['confidence'] * 100)}% interval)")
    fig.tight_layout()
    return fig


def _law_points(fit, hp: str):
    """(points the law of `hp` was fitted through, or with the optima at the grid's edge; the runs behind
    them when each run learned its own value, else None)."""
    if hp in fit.learned:
        learned = fit.learned[hp]
        return learned.points.assign(**{f"{hp}_at_edge": False}), learned.runs
    return fit.optima_frame[fit.optima_frame[hp].notna()], None


def _law_figure(fit, hp: str, law, predictions):
    plt = pyplot()
    data, runs = _law_points(fit, hp)
    x1, rest = law.inputs[0], law.inputs[1:]
    fig, ax = plt.subplots(figsize=(6, 4.5))

    def collapse(values, x):
        out = np.asarray(values, float)
        for k in rest:
            out = out / np.asarray(x[k], float) ** law.coef[k]
        return out

    edge = data[f"{hp}_at_edge"].astype(bool).to_numpy()
    y = collapse(data[hp], data)
    ylo, yhi = collapse(data[f"{hp}_low"], data), collapse(data[f"{hp}_high"], data)
    if runs is not None:
        ax.scatter(runs[x1], collapse(runs[hp], runs), s=8, c="0.6", label="each run's tuned value")
    ax.errorbar(data[x1][~edge], y[~edge], yerr=[y[~edge] - ylo[~edge], yhi[~edge] - y[~edge]], fmt="o", ms=4,
                label="optimum per scale" if runs is None else "mean per scale (bars: min to max of its runs)")
    if edge.any():
        ax.scatter(data[x1][edge], y[edge], marker="x", c="0.5", label="at edge of grid (not fitted)")
    targets = [p.target for p in predictions if x1 in p.target and all(k in p.target for k in rest)]
    ends = [data[x1].min(), data[x1].max(), *[t[x1] for t in targets]]
    xs = np.geomspace(min(ends), max(ends), 100)
    ref_x = {k: np.full_like(xs, float(np.exp(np.log(data[k]).mean()))) for k in rest}
    line = law.predict(**{x1: xs, **ref_x})
    lo, hi = law.predict_interval(**{x1: xs, **ref_x})
    ax.plot(xs, collapse(line, ref_x), "C1", label=law.formula())
    ax.fill_between(
        xs,
        collapse(lo, ref_x),
        collapse(hi, ref_x),
        color="C1",
        alpha=0.2,
        label=f"{law.confidence:.0%} interval of the law",
    )
    for t in targets:
        v = law.predict(**{k: t[k] for k in law.inputs})
        ax.scatter(
            [t[x1]],
            collapse(v, {k: [t[k]] for k in rest}),
            marker="*",
            s=150,
            c="C3",
            zorder=5,
            label=f"prediction {hp}* = {float(v[0]):.3g}",
        )
    for i, ref in enumerate(r for r in fit.references if r.target == hp):
        if set(ref.exponents) <= set(data.columns):
            # markers, not a line: with other exponents the published law does not collapse onto one curve
            pv = ref.predict(**{k: data[k].to_numpy() for k in ref.exponents})
            ax.scatter(
                data[x1],
                collapse(pv, data),
                marker="_",
                s=120,
                linewidths=2,
                c=f"C{4 + i}",
                label=f"{ref.source}: {ref.formula()} (at each scale)",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(x1)
    ax.set_ylabel(f"{hp}*" + "".join(f" / {k}^{law.coef[k]:.3f}" for k in rest))
    ax.set_title(f"{hp} law (R² = {law.r2:.3f}, {law.n} scales)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _loss_figure(fit, predictions):
    plt = pyplot()
    law = fit.loss_law
    pts = fit.loss_points
    if law.inputs != ("params", "tokens"):
        x = law.inputs[0]
        fig, ax = plt.subplots(figsize=(6, 4.5))
        ax.scatter(pts[x], pts["loss"], s=8, label="runs")
        xs = np.geomspace(pts[x].min(), max([pts[x].max(), *[p.target.get(x, 0) for p in predictions]]), 200)
        ax.plot(xs, law.predict(**{x: xs}), "C1", label=law.formula())
        if law.n_bootstrap:
            lo, hi = law.predict_interval(**{x: xs})
            ax.fill_between(xs, lo, hi, color="C1", alpha=0.2)
        ax.set_xscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel("loss")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    C = pts["flops"].to_numpy() if "flops" in pts else FLOPS_PER_PARAM_TOKEN * pts["params"] * pts["tokens"]
    sc = ax1.scatter(pts["params"], pts["loss"], c=np.log10(C), s=10, cmap="viridis")
    fig.colorbar(sc, ax=ax1, label="log10 C")
    levels = np.unique(np.round(np.log10(C)))
    for lc in levels[:: max(1, len(levels) // 6)]:
        Ns = np.geomspace(pts["params"].min() / 2, pts["params"].max() * 2, 200)
        Ds = 10**lc / (FLOPS_PER_PARAM_TOKEN * Ns)
        ax1.plot(
            Ns,
            law.predict(params=Ns, tokens=Ds),
            color=plt.cm.viridis((lc - np.log10(C).min()) / max(np.ptp(np.log10(C)), 1e-9)),
            lw=1,
        )
    ax1.set_xscale("log")
    ax1.set_xlabel("params N")
    ax1.set_ylabel("loss")
    ax1.set_title("loss vs N at fixed compute C = 6ND (lines: fitted law)")
    ax1.set_ylim(pts["loss"].min() * 0.97, np.percentile(pts["loss"], 98) * 1.03)

    cmax = max([C.max() * 100, *[p.target.get("flops", 0) * 3 for p in predictions]])
    Cs = np.geomspace(C.min() / 3, cmax, 200)
    Ns = np.geomspace(pts["params"].min() / 10, pts["params"].max() * 100, 200)
    CC, NN = np.meshgrid(Cs, Ns)
    LL = law.predict(params=NN.ravel(), tokens=(CC / (FLOPS_PER_PARAM_TOKEN * NN)).ravel()).reshape(CC.shape)
    alloc = law.allocation()
    opt = law.compute_optimal(Cs) if alloc else None
    low = float(np.min(opt["loss"])) if opt else float(np.nanmin(LL))
    levels = np.unique(np.linspace(low, float(np.percentile(pts["loss"], 98)), 12))
    if levels.size > 1:
        ax2.clabel(ax2.contour(CC, NN, LL, levels=levels, cmap="magma", linewidths=0.8), fontsize=6, fmt="%.2f")
    if opt:
        ax2.plot(Cs, opt["params"], "C0", lw=2, label=f"compute-optimal N_opt ∝ C^{alloc['a']:.3f}")
    else:
        ax2.text(0.5, 0.5, "no compute-optimal allocation:\nthe loss does not fall with both N and D",
                 transform=ax2.transAxes, ha="center", fontsize=8)
    ax2.scatter(C, pts["params"], s=5, c="0.4", label="runs")
    for p in predictions:
        if {"params", "flops"} <= set(p.target):
            ax2.scatter([p.target["flops"]], [p.target["params"]], marker="*", s=150, c="C3", label="prediction")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("compute C (FLOPs)")
    ax2.set_ylabel("params N")
    ax2.set_title("iso-loss contours and the compute-optimal frontier")
    ax2.legend(fontsize=7)
    fig.suptitle(law.formula())
    fig.tight_layout()
    return fig


def _residual_figure(fit):
    plt = pyplot()
    panels = (
        ([("loss", None)] if fit.loss_law is not None else [])
        + [(hp, law) for hp, law in fit.hp_laws.items()]
        + [(hp, learned.law) for hp, learned in fit.learned.items()]
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (name, law) in zip(axes.ravel(), panels, strict=True):
        if law is None:
            pts = fit.loss_points
            pred = fit.loss_law.predict(**{k: pts[k].to_numpy() for k in fit.loss_law.inputs})
            ax.scatter(pred, np.log(pts["loss"].to_numpy() / pred), s=8)
            ax.set_xlabel("predicted loss")
            ax.set_ylabel("ln(observed / predicted)")
            ax.set_title("loss law residuals")
        else:
            data, _ = _law_points(fit, name)
            data = data[~data[f"{name}_at_edge"].astype(bool)]
            ax.scatter(data[law.inputs[0]], law.residuals, s=12)
            ax.set_xscale("log")
            ax.set_xlabel(law.inputs[0])
            ax.set_ylabel(f"ln({name}* / law)")
            ax.set_title(f"{name} law residuals (sd {law.residual_std:.3f})")
        ax.axhline(0, color="0.5", lw=0.8)
    fig.tight_layout()
    return fig
