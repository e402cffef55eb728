"""Coordinate check (microsoft/mup's `coord_check`): activation scale vs width after training.

Train the same tiny transformer for a few Adam steps at several widths and record, on a
fixed batch, per layer: the token embedding output, each block's attention logits
(q·kᵀ·scale), MLP hidden layer (pre-activation) and output (the residual stream), and the
readout logits. Two numbers per layer: mean |h_t| after training and mean |h_t − h_0|,
the change training made (an embedding update that shrinks as n^-1/2 is invisible in
|h_t|, whose init part is Θ(1), but not in |h_t − h_0|). Fit the log-log slope of each
against width per layer. In a correct muP every slope is ~0 (activations and their
updates stay Θ(1)); under SP the updates grow with width (positive delta slopes).

The readout is zero-initialised (muP's option) in every parametrization so the logits
measured are what training put there, not the width-dependent init noise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunescale.contract.atomic import write_text

# Widths the coord and transfer checks compare: an 8x range, each a multiple of the 16-wide heads.
CHECK_WIDTHS = (32, 64, 128, 256)

DEFAULT_STEPS = 4  # a few steps: enough for SP's width-growing updates to show
DEFAULT_LR = 1e-2  # an Adam LR near the base-width optimum of the tiny model
N_SEEDS = 2  # average over seeds: the estimate of a slope from 4 widths is noisy


@dataclass(frozen=True)
class CoordResult:
    """Per layer per width: mean |h_t| and mean |h_t − h_0|, with their log-log slopes."""

    parametrization: str
    widths: tuple[int, ...]
    layers: tuple[str, ...]
    mean_abs: dict[str, tuple[float, ...]]
    slopes: dict[str, float]
    delta: dict[str, tuple[float, ...]]
    delta_slopes: dict[str, float]
    figure: str | None

    def summary(self) -> dict:
        return {
            "parametrization": self.parametrization,
            "widths": list(self.widths),
            "mean_abs": {k: list(v) for k, v in self.mean_abs.items()},
            "slopes": dict(self.slopes),
            "delta": {k: list(v) for k, v in self.delta.items()},
            "delta_slopes": dict(self.delta_slopes),
            "figure": self.figure,
        }

    def report(self) -> str:
        lines = [f"coord check ({self.parametrization}), widths {list(self.widths)}: log-log slope per layer",
                 f"  {'layer':<14} {'|h_t|':>7} {'|h_t-h_0|':>10}"]
        lines += [f"  {name:<14} {self.slopes[name]:+7.3f} {self.delta_slopes[name]:+10.3f}" for name in self.layers]
        return "\n".join(lines)


def measure(
    parametrization: str,
    width: int,
    *,
    base_width: int,
    steps: int,
    lr: float,
    seed: int,
    depth: int = 2,
    seq_len: int = 32,
    batch_size: int = 8,
    per_layer_lr: bool = False,
) -> tuple[dict[str, float], dict[str, float]]:
    """(mean |h_t|, mean |h_t − h_0|) per layer of a model trained `steps` Adam steps at `width`."""
    import torch

    from tunescale.trials import parametrization as parametrizations
    from tunescale.trials.data.corpus import TokenBatches, load_corpus
    from tunescale.trials.models.transformer import build_transformer

    torch.manual_seed(seed)
    par = parametrizations.make(parametrization, width, base_width, per_layer_lr=per_layer_lr)
    model = build_transformer(width=width, depth=depth, seq_len=seq_len, par=par, zero_readout=True)
    opt = torch.optim.Adam(parametrizations.param_groups(model, par, lr=lr), lr=lr)
    batches = TokenBatches(load_corpus().train, seq_len, batch_size, seed)
    probe, _ = batches.next()
    before = _activations(model, probe)
    for _ in range(steps):
        x, y = batches.next()
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = _activations(model, probe)
    mean_abs = {k: float(v.abs().mean()) for k, v in after.items()}
    delta = {k: float((v - before[k]).abs().mean()) for k, v in after.items()}
    return mean_abs, delta


def _activations(model, x) -> dict:
    """Every watched layer's output on `x`, in forward order."""
    import torch

    acts: dict = {}

    def keep(name: str):
        def hook(_module, _inputs, output) -> None:
            acts[name] = output.detach().clone()

        return hook

    def logits(name: str):
        def hook(module, inputs) -> None:
            acts[name] = module.logits(inputs[0]).detach().clone()

        return hook

    hooks = [model.tok_emb.register_forward_hook(keep("embedding"))]
    for i, block in enumerate(model.blocks):
        hooks.append(block.attn.register_forward_pre_hook(logits(f"attn_logits{i}")))
        hooks.append(block.fc.register_forward_hook(keep(f"mlp_hidden{i}")))
        hooks.append(block.register_forward_hook(keep(f"block{i}")))
    hooks.append(model.readout.register_forward_hook(keep("readout")))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return acts


def run_coord_check(
    parametrization: str = "mup",
    *,
    widths: Sequence[int] = CHECK_WIDTHS,
    steps: int = DEFAULT_STEPS,
    lr: float = DEFAULT_LR,
    base_width: int | None = None,
    per_layer_lr: bool = False,
    out_dir: str | Path | None = None,
) -> CoordResult:
    """Measure every width (averaged over N_SEEDS seeds), fit slopes, optionally plot."""
    from tunescale.contract.errors import InputError
    from tunescale.trials.parametrization import check_parametrization

    check_parametrization(parametrization)
    if len(widths) < 2:
        raise InputError(f"coord check needs >= 2 widths to fit a slope; got {list(widths)}.")
    base_width = base_width or min(widths)
    per_width, per_width_delta = [], []
    for width in widths:
        runs = [
            measure(parametrization, width, base_width=base_width, steps=steps, lr=lr, seed=s,
                    per_layer_lr=per_layer_lr)
            for s in range(N_SEEDS)
        ]
        per_width.append({k: float(np.mean([r[0][k] for r in runs])) for k in runs[0][0]})
        per_width_delta.append({k: float(np.mean([r[1][k] for r in runs])) for k in runs[0][1]})
    layers = tuple(per_width[0])
    mean_abs = {k: tuple(p[k] for p in per_width) for k in layers}
    delta = {k: tuple(p[k] for p in per_width_delta) for k in layers}
    log_w = np.log(np.asarray(widths, dtype=float))
    slopes = {k: float(np.polyfit(log_w, np.log(v), 1)[0]) for k, v in mean_abs.items()}
    delta_slopes = {k: float(np.polyfit(log_w, np.log(v), 1)[0]) for k, v in delta.items()}
    figure = None
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        figure = str(_plot(parametrization, widths, delta, delta_slopes, out / f"coord-{parametrization}.png"))
    result = CoordResult(parametrization, tuple(widths), layers, mean_abs, slopes, delta, delta_slopes, figure)
    if out_dir is not None:
        write_text(Path(out_dir) / f"coord-{parametrization}.json", json.dumps(result.summary(), indent=2) + "\n")
    return result


def _plot(name: str, widths, mean_abs: dict, slopes: dict, path: Path) -> Path:
    from tunescale.scaling.pyplot import pyplot, save_figure

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5, 4))
    for layer, values in mean_abs.items():
        ax.plot(widths, values, "o-", label=f"{layer} (slope {slopes[layer]:+.2f})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width")
    ax.set_ylabel("mean |h_t - h_0|")
    ax.set_title(f"coord check: {name}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, [path], dpi=120)
    return path
