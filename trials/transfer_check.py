"""The muTransfer check: does the optimal LR (or weight decay) stay put as width grows?
(Tensor Programs V, Fig. 1)

For each variant (default SP and muP) and each width (default 4 widths spanning 8x),
train the same proxy over a log grid of the HP, then locate the optimum per width with
the parabola fit of `scaling.optima.fit_optimum` and report the drift of log10(hp*)
across widths in decades (max - min). Under muP the LR drift should be small (goal
<= 0.15 decades over 8x); under SP the optimum falls as width grows.

A variant is a parametrization name with optional suffixes: `+plr` for per-layer LRs
(Everett et al.) and `@<wd_mode>` for a weight-decay rule, e.g. `sp+plr`,
`mup@coupled_group`. With `hp="weight_decay"` the LR is fixed (the trial's `lr`) and λ is
swept: `mup@coupled_group` against `mup` shows the drift the old per-group rule leaves.

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

from tunescale.contract.atomic import write_text
from tunescale.contract.errors import InputError
from tunescale.trials.coord_check import CHECK_WIDTHS

DEFAULT_LRS = tuple(2.0**k for k in range(-13, -3))  # 1.2e-4 .. 6.3e-2, factor 2 apart
DEFAULT_WEIGHT_DECAYS = tuple(2.0**k for k in range(-6, 5))  # 0.016 .. 16: lr·λ per step around 1e-3 at lr 1e-2
HPS = ("lr", "weight_decay")
# A proxy that learns something real in a few CPU minutes per width: ~200k tokens.
DEFAULT_TRIAL = {"depth": 2, "steps": 200, "batch_size": 16, "seq_len": 64, "eval_batches": 8}


@dataclass(frozen=True)
class WidthOptimum:
    parametrization: str  # the variant label
    width: int
    value: float  # the optimal HP value
    low: float
    high: float
    at_edge: bool
    n_completed: int


@dataclass(frozen=True)
class TransferResult:
    """Per-width optima and the drift of log10(hp*) across widths, per variant."""

    optima: tuple[WidthOptimum, ...]
    drift_decades: dict[str, float]
    base_width: int
    figure: str | None
    hp: str = "lr"

    def summary(self) -> dict:
        return {
            "hp": self.hp,
            "base_width": self.base_width,
            "drift_decades": dict(self.drift_decades),
            "optima": [vars(o) for o in self.optima],
            "figure": self.figure,
        }

    def report(self) -> str:
        lines = [f"{'variant':<20} width  {self.hp + '*':<10} [low, high]            edge"]
        for o in self.optima:
            lines.append(
                f"{o.parametrization:<20} {o.width:>5}  {o.value:.3e}  "
                f"[{o.low:.2e}, {o.high:.2e}]  {'yes' if o.at_edge else ''}"
            )
        for name, d in self.drift_decades.items():
            lines.append(f"{name}: optimal-{self.hp} drift across widths = {d:.3f} decades")
        return "\n".join(lines)


def parse_variant(label: str) -> dict[str, Any]:
    """Trial settings of a variant label: `name[+plr][@wd_mode]`."""
    from tunescale.trials.parametrization import WD_MODES, check_parametrization

    name, _, wd_mode = label.partition("@")
    name, plus, suffix = name.partition("+")
    if plus and suffix != "plr":
        raise InputError(f"variant {label!r}: the only '+' suffix is '+plr' (per-layer LRs), e.g. 'sp+plr'.")
    if wd_mode and wd_mode not in WD_MODES:
        raise InputError(f"variant {label!r}: weight-decay rule {wd_mode!r} is not one of {', '.join(WD_MODES)}.")
    settings: dict[str, Any] = {"parametrization": check_parametrization(name)}
    if plus:
        settings["per_layer_lr"] = True
    if wd_mode:
        settings["wd_mode"] = wd_mode
    return settings


def trial_id(variant: str, width: int, value: float, hp: str = "lr") -> str:
    tag = "lr" if hp == "lr" else "wd"
    return f"{variant}-w{width}-{tag}{value:.4e}"


def run_transfer_check(
    out_dir: str | Path,
    *,
    parametrizations: Sequence[str] = ("sp", "mup"),
    widths: Sequence[int] = CHECK_WIDTHS,
    lrs: Sequence[float] | None = None,
    hp: str = "lr",
    base_width: int | None = None,
    trial: Mapping[str, Any] | None = None,
    on_trial: Callable[[dict], None] | None = None,
) -> TransferResult:
    """Sweep the HP x width for each variant (`parametrizations`: variant labels), fit the
    optima, plot, and summarise. `lrs` is the grid of the swept HP (default per `hp`)."""
    from tunescale.contract.store import TrialStore, read_trials
    from tunescale.trials.train import train_trial

    if hp not in HPS:
        raise InputError(f"transfer check --hp {hp!r}; expected one of {', '.join(HPS)}.")
    values = tuple(lrs) if lrs is not None else (DEFAULT_LRS if hp == "lr" else DEFAULT_WEIGHT_DECAYS)
    trial = {**DEFAULT_TRIAL, **(trial or {})}
    if hp == "weight_decay" and "lr" not in trial:
        raise InputError("transfer check --hp weight_decay sweeps λ at one LR; give the trial's 'lr' (--lr).")
    if len(widths) < 2 or len(values) < 3:
        raise InputError(f"transfer check needs >= 2 widths and >= 3 {hp} values; got {len(widths)} and {len(values)}.")
    settings = {label: parse_variant(label) for label in parametrizations}
    base_width = base_width or min(widths)
    out = Path(out_dir)
    store = TrialStore(out / "runs")
    done = store.completed_ids()
    ids: dict[tuple[str, int], list[str]] = {}
    for label in parametrizations:
        for width in widths:
            for value in values:
                tid = trial_id(label, width, value, hp)
                ids.setdefault((label, width), []).append(tid)
                if tid in done:
                    continue
                config = {**trial, **settings[label], "width": width, "base_width": base_width, hp: value}
                outcome = train_trial(config)
                row = {**outcome.row, "trial_id": tid, "sweep": "transfer-check"}
                store.write(row, outcome.curves)
                if on_trial is not None:
                    on_trial(row)
    df = read_trials(out / "runs", validated=True)
    result = _optima(df, ids, hp, base_width)
    figure = plot_transfer(df, ids, result, out / "transfer.png")
    result = TransferResult(result.optima, result.drift_decades, base_width, str(figure), hp)
    write_text(out / "transfer.json", json.dumps(result.summary(), indent=2) + "\n")
    return result


def _optima(df, ids: Mapping[tuple[str, int], list[str]], hp: str, base_width: int) -> TransferResult:
    from tunescale.scaling.optima import fit_optimum

    optima, logs = [], {}
    for (label, width), tids in ids.items():
        sub = df[df["trial_id"].isin(tids) & (df["status"] == "completed")]
        if len(sub) < 3:
            raise InputError(
                f"{label} at width {width}: only {len(sub)} completed trials; widen the {hp} grid "
                f"toward smaller values so at least 3 runs converge."
            )
        fit = fit_optimum(sub[hp].to_numpy(), sub["loss"].to_numpy(), hp=hp)
        optima.append(
            WidthOptimum(
                label, int(width), float(fit.value), float(fit.low), float(fit.high), bool(fit.at_edge), len(sub)
            )
        )
        logs.setdefault(label, []).append(math.log10(fit.value))
    drift = {label: float(np.max(v) - np.min(v)) for label, v in logs.items()}
    return TransferResult(tuple(optima), drift, base_width, None, hp)


def plot_transfer(df, ids: Mapping[tuple[str, int], list[str]], result: TransferResult, path: Path) -> Path:
    """Loss vs the HP per width, one panel per variant, optima marked."""
    from tunescale.scaling.pyplot import pyplot, save_figure

    plt = pyplot()

    names = list(result.drift_decades)
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), sharey=True, squeeze=False)
    widths = sorted({o.width for o in result.optima})
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(widths)))
    for ax, name in zip(axes[0], names, strict=True):
        for width, color in zip(widths, colors, strict=True):
            sub = df[df["trial_id"].isin(ids[(name, width)]) & (df["status"] == "completed")]
            sub = sub.sort_values(result.hp)
            ax.plot(sub[result.hp], sub["loss"], "o-", color=color, ms=3, label=f"width {width}")
            opt = next(o for o in result.optima if o.parametrization == name and o.width == width)
            ax.axvline(opt.value, color=color, ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel(result.hp)
        ax.set_title(f"{name}: {result.hp}* drift {result.drift_decades[name]:.2f} decades")
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("held-out loss")
    mine = df["trial_id"].isin([t for tids in ids.values() for t in tids])
    lo = df.loc[mine & (df["status"] == "completed"), "loss"]
    if len(lo):
        axes[0][0].set_ylim(lo.min() - 0.05, min(lo.max(), lo.min() + 1.5))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, [path], dpi=120)
    return path
