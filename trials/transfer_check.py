"""The muTransfer check: does the optimal LR stay put as width grows? (Tensor Programs V, Fig. 1)

For each parametrization (default SP and muP) and each width (default 4 widths spanning
8x), train the same proxy over a log grid of LRs, then locate the optimum per width with
the parabola fit of `scaling.optima.fit_optimum` and report the drift of log10(lr*)
across widths in decades (max - min). Under muP the drift should be small (goal
<= 0.15 decades over 8x); under SP the optimum falls as width grows.

Trials go through the trial store under `out_dir/runs`, so an interrupted check resumes
where it stopped; the figure (loss vs LR per width, one panel per parametrization) and a
JSON summary are written beside it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunescale.contract.errors import InputError
from tunescale.trials.coord_check import CHECK_WIDTHS

DEFAULT_LRS = tuple(2.0**k for k in range(-13, -3))  # 1.2e-4 .. 6.3e-2, factor 2 apart
# A proxy that learns something real in a few CPU minutes per width: ~200k tokens.
DEFAULT_TRIAL = {"depth": 2, "steps": 200, "batch_size": 16, "seq_len": 64, "eval_batches": 8}


@dataclass(frozen=True)
class WidthOptimum:
    parametrization: str
    width: int
    lr_opt: float
    low: float
    high: float
    at_edge: bool
    n_completed: int


@dataclass(frozen=True)
class TransferResult:
    """Per-width LR optima and the drift of log10(lr*) across widths, per parametrization."""

    optima: tuple[WidthOptimum, ...]
    drift_decades: dict[str, float]
    base_width: int
    figure: str | None

    def summary(self) -> dict:
        return {
            "base_width": self.base_width,
            "drift_decades": dict(self.drift_decades),
            "optima": [vars(o) for o in self.optima],
            "figure": self.figure,
        }

    def report(self) -> str:
        lines = ["parametrization  width  lr*        [low, high]            edge"]
        for o in self.optima:
            lines.append(
                f"{o.parametrization:<16} {o.width:>5}  {o.lr_opt:.3e}  "
                f"[{o.low:.2e}, {o.high:.2e}]  {'yes' if o.at_edge else ''}"
            )
        for name, d in self.drift_decades.items():
            lines.append(f"{name}: optimal-LR drift across widths = {d:.3f} decades")
        return "\n".join(lines)


def trial_id(parametrization: str, width: int, lr: float) -> str:
    return f"{parametrization}-w{width}-lr{lr:.4e}"


def run_transfer_check(
    out_dir: str | Path,
    *,
    parametrizations: Sequence[str] = ("sp", "mup"),
    widths: Sequence[int] = CHECK_WIDTHS,
    lrs: Sequence[float] = DEFAULT_LRS,
    base_width: int | None = None,
    trial: Mapping[str, Any] | None = None,
    on_trial: Callable[[dict], None] | None = None,
) -> TransferResult:
    """Sweep LR x width for each parametrization, fit the optima, plot, and summarise."""
    from tunescale.contract.store import TrialStore, read_trials
    from tunescale.trials.train import train_trial

    if len(widths) < 2 or len(lrs) < 3:
        raise InputError(f"transfer check needs >= 2 widths and >= 3 LRs; got {len(widths)} and {len(lrs)}.")
    base_width = base_width or min(widths)
    out = Path(out_dir)
    store = TrialStore(out / "runs")
    done = store.completed_ids()
    for name in parametrizations:
        for width in widths:
            for lr in lrs:
                tid = trial_id(name, width, lr)
                if tid in done:
                    continue
                config = {
                    **DEFAULT_TRIAL,
                    **(trial or {}),
                    "width": width,
                    "base_width": base_width,
                    "parametrization": name,
                    "lr": lr,
                }
                outcome = train_trial(config)
                row = {**outcome.row, "trial_id": tid, "sweep": "transfer-check"}
                store.write(row, outcome.curves)
                if on_trial is not None:
                    on_trial(row)
    df = read_trials(out / "runs", validated=True)
    df = df[df["trial_id"].isin([trial_id(p, w, lr) for p in parametrizations for w in widths for lr in lrs])]
    result = _optima(df, parametrizations, widths, base_width)
    figure = plot_transfer(df, result, out / "transfer.png")
    result = TransferResult(result.optima, result.drift_decades, base_width, str(figure))
    (out / "transfer.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
    return result


def _optima(df, parametrizations: Sequence[str], widths: Sequence[int], base_width: int) -> TransferResult:
    from tunescale.scaling.optima import fit_optimum

    optima, drift = [], {}
    for name in parametrizations:
        logs = []
        for width in widths:
            sub = df[(df["parametrization"] == name) & (df["width"] == width) & (df["status"] == "completed")]
            if len(sub) < 3:
                raise InputError(
                    f"{name} at width {width}: only {len(sub)} completed trials; widen the LR grid "
                    f"toward smaller values so at least 3 runs converge."
                )
            fit = fit_optimum(sub["lr"].to_numpy(), sub["loss"].to_numpy(), hp="lr")
            optima.append(
                WidthOptimum(name, int(width), float(fit.value), float(fit.low), float(fit.high), bool(fit.at_edge), len(sub))
            )
            logs.append(math.log10(fit.value))
        drift[name] = float(np.max(logs) - np.min(logs))
    return TransferResult(tuple(optima), drift, base_width, None)


def plot_transfer(df, result: TransferResult, path: Path) -> Path:
    """Loss vs LR per width, one panel per parametrization, optima marked."""
    from tunescale.scaling.pyplot import pyplot

    plt = pyplot()

    names = list(result.drift_decades)
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), sharey=True, squeeze=False)
    widths = sorted({o.width for o in result.optima})
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(widths)))
    for ax, name in zip(axes[0], names, strict=True):
        for width, color in zip(widths, colors, strict=True):
            sub = df[(df["parametrization"] == name) & (df["width"] == width) & (df["status"] == "completed")]
            sub = sub.sort_values("lr")
            ax.plot(sub["lr"], sub["loss"], "o-", color=color, ms=3, label=f"width {width}")
            opt = next(o for o in result.optima if o.parametrization == name and o.width == width)
            ax.axvline(opt.lr_opt, color=color, ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_title(f"{name}: lr* drift {result.drift_decades[name]:.2f} decades")
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("held-out loss")
    lo = df.loc[df["status"] == "completed", "loss"]
    if len(lo):
        axes[0][0].set_ylim(lo.min() - 0.05, min(lo.max(), lo.min() + 1.5))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
