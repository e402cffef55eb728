"""Figures of a joint-model fit (see `scaling.joint`), each written as PNG and PDF by `scaling.plots`.

Notations
---------
L, L̂        observed and predicted loss of a run;  r = ln(L / L̂)
scale        a run's (params, tokens); colour is log10 flops (C = 6·N·D)
h*(N, D)     the fitted optimum of a basin HP;  slice  L̂ as h moves with the other HPs at optimum

Figures: `joint_fit` (L against L̂, held-out runs marked), `joint_basin` (slices through the basin at
a few of the data's scales with the optimum path h*(N, D) through them), `joint_residuals` (r against
each HP column of the model).
"""

from __future__ import annotations

import numpy as np

from tunescale.scaling.pyplot import pyplot

N_SLICES = 4  # scales drawn in the basin figure: the data's smallest, largest and two between, by flops


def joint_figures(fit) -> dict[str, object]:
    """name -> matplotlib figure for a ScalingFit made by the joint method."""
    return {"joint_fit": _fit_figure(fit), "joint_basin": _basin_figure(fit), "joint_residuals": _residual_figure(fit)}


def _runs(fit):
    """Fitted runs (model columns), their predicted loss and log residual."""
    pts = fit.loss_points
    r = -fit.joint.log_residuals  # joint stores ln L̂ - ln L
    return pts, pts["loss"].to_numpy() * np.exp(-r), r


def _fit_figure(fit):
    plt = pyplot()
    pts, pred, _ = _runs(fit)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    c = np.log10(pts["flops"].to_numpy())
    sc = ax.scatter(pred, pts["loss"], c=c, s=10, cmap="viridis", label=f"fitted runs ({len(pts)})")
    lo, hi = min(pred.min(), pts["loss"].min()), max(pred.max(), pts["loss"].max())
    if fit.holdout:
        held = fit.holdout["runs"]
        ho = np.array([[h["predicted_loss"], h["loss"], np.log10(6 * h["params"] * h["tokens"])] for h in held])
        ax.scatter(ho[:, 0], ho[:, 1], c=ho[:, 2], cmap="viridis", vmin=c.min(), vmax=c.max(), marker="D", s=28,
                   edgecolors="red", linewidths=1.0, label=f"held out ({len(held)}: {fit.holdout['rule']})")
        lo, hi = min(lo, ho[:, :2].min()), max(hi, ho[:, :2].max())
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("predicted loss (own scale and HPs)")
    ax.set_ylabel("observed loss")
    ax.set_title(f"joint model: rms ln error {fit.joint.rmse_log:.4f}")
    fig.colorbar(sc, ax=ax, label="log10 flops")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def _slice_scales(pts) -> list[tuple[float, float]]:
    scales = pts[["params", "tokens"]].drop_duplicates().to_numpy()
    order = np.argsort(scales[:, 0] * scales[:, 1])
    pick = order[np.unique(np.linspace(0, len(order) - 1, min(N_SLICES, len(order))).round().astype(int))]
    return [tuple(map(float, scales[i])) for i in pick]


def _basin_figure(fit):
    plt = pyplot()
    joint = fit.joint
    hps = [h for h in joint.hps if h not in joint.unresolved]
    pts = fit.loss_points
    fig, axes = plt.subplots(1, max(len(hps), 1), figsize=(4.4 * max(len(hps), 1), 3.8), squeeze=False)
    if not hps:
        axes[0, 0].text(0.5, 0.5, "no basin hyperparameter with an optimum", ha="center", va="center")
        axes[0, 0].set_axis_off()
        return fig
    scales = _slice_scales(pts)
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(scales)))
    for ax, hp in zip(axes[0], hps, strict=False):
        v = pts[hp].to_numpy()
        grid = np.exp(np.linspace(np.log(v.min()) - 0.5, np.log(v.max()) + 0.5, 200))
        path = []
        for (n, d), col in zip(scales, colours, strict=True):
            ax.plot(grid, joint.basin_slice(hp, grid, n, d), color=col, lw=1.2, label=f"N {n:.3g}, D {d:.3g}")
            opt = joint.optimum(n, d)
            path.append((opt[hp][0][0], opt["loss"][0][0]))
        path = np.array(path)
        ax.plot(path[:, 0], path[:, 1], "k--", lw=0.9, marker="o", ms=4, label=f"{hp}*(N, D)")
        ax.axvspan(v.min(), v.max(), color="0.92", zorder=0, label="searched range")
        ax.set_xscale("log")
        ax.set_xlabel(hp)
        ax.set_ylabel("loss, other HPs at optimum")
        ax.set_title(f"basin in {hp}")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def _residual_figure(fit):
    plt = pyplot()
    joint = fit.joint
    pts, _, r = _runs(fit)
    cols = [*joint.hps, *(c.name for c in joint.nuisance)]
    fig, axes = plt.subplots(1, max(len(cols), 1), figsize=(4.0 * max(len(cols), 1), 3.4), squeeze=False)
    c = np.log10(pts["flops"].to_numpy())
    for ax, col in zip(axes[0], cols or ["flops"], strict=False):
        x = pts[col].to_numpy(float)
        sc = ax.scatter(x, r, c=c, s=8, cmap="viridis")
        if np.all(x > 0):
            ax.set_xscale("log")
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xlabel(col)
        ax.set_ylabel("ln(observed / predicted)")
        ax.set_title(f"residuals against {col}")
    fig.colorbar(sc, ax=axes[0, -1], label="log10 flops")
    fig.tight_layout()
    return fig
