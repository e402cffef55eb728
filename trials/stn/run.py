"""One Self-Tuning-Network run from a TOML spec: train, store as a trial, plot the trajectory.

A spec (every key is optional; unknown keys are rejected):

    name = "stn-mlp"            # sweep name and trial-id prefix
    out = "runs/stn-mlp"        # sweep directory (trial store)
    figure = "runs/stn-mlp/stn-mlp.png"
    data = "classification"     # the shipped classification proxy
    data_seed = 0

    [train]                     # fields of search.stn.StnConfig
    hidden = [256, 256]
    epochs = 40
    hyper_lr = 0.03
    centred = false             # true: the Delta-STN centred layers

    [hyper.dropout_1]           # any of cutout, input_noise, input_dropout, dropout_<i>;
    low = 0.0                   # without a [hyper] table every one of them is tuned
    high = 0.9                  # with the ranges of `default_specs`
    init = 0.05
    discrete = false

The run becomes one trial row (final hyperparameters as hp_* columns) and its
trajectory becomes curves: `hp/<name>`, `hp_scale/<name>`, `train_loss`, `val_loss`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from tunescale.contract.errors import InputError
from tunescale.contract.spec_file import read_toml

DATASETS = ("classification",)
SPEC_KEYS = ("name", "out", "figure", "data", "data_seed", "train", "hyper")
HYPER_KEYS = ("low", "high", "init", "discrete")


def default_specs(depth: int) -> list:
    """Every hyperparameter the MLP proxy has, with ranges wide enough to over-regularize."""
    from tunescale.trials.stn import HyperSpec

    return [
        HyperSpec("cutout", 0, 16, 2, discrete=True),  # of 32 input features
        HyperSpec("input_noise", 0.0, 2.0, 0.1),  # inputs are standard normal
        HyperSpec("input_dropout", 0.0, 0.8, 0.05),
        *(HyperSpec(f"dropout_{i + 1}", 0.0, 0.9, 0.05) for i in range(depth)),
    ]


def _check_type(where: str, value, expected) -> None:
    ok = isinstance(value, expected) and not (isinstance(value, bool) and expected in (int, float, (int, float)))
    if not ok:
        want = expected.__name__ if isinstance(expected, type) else "a number"
        raise InputError(f"{where} = {value!r}; expected {want}.")


def parse_spec(spec: Mapping, source: str = "spec") -> dict:
    """Validate a spec mapping; return {'name', 'out', 'figure', 'data_seed', 'config', 'specs'}."""
    from tunescale.trials.stn import HyperSpec, StnConfig, mlp_hyper_names

    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise InputError(f"{source}: unknown key(s) {unknown}; allowed: {', '.join(SPEC_KEYS)}.")
    name = spec.get("name", "stn")
    _check_type(f"{source}: name", name, str)
    data = spec.get("data", "classification")
    if data not in DATASETS:
        raise InputError(f"{source}: data = {data!r}; expected one of {', '.join(DATASETS)}.")
    data_seed = spec.get("data_seed", 0)
    _check_type(f"{source}: data_seed", data_seed, int)

    train = dict(spec.get("train", {}))
    fields = {f.name: f for f in dataclasses.fields(StnConfig)}
    bad = sorted(set(train) - set(fields))
    if bad:
        raise InputError(f"{source}: [train] has unknown key(s) {bad}; allowed: {', '.join(fields)}.")
    for key, value in train.items():
        default = getattr(StnConfig(), key)
        if key == "hidden":
            if not isinstance(value, list) or not all(isinstance(w, int) for w in value):
                raise InputError(f"{source}: train.hidden = {value!r}; expected a list of integers.")
            train[key] = tuple(value)
        elif key == "response_rank":
            _check_type(f"{source}: train.response_rank", value, int)
        elif isinstance(default, bool):
            _check_type(f"{source}: train.{key}", value, bool)
        elif isinstance(default, int):
            _check_type(f"{source}: train.{key}", value, int)
        elif isinstance(default, float):
            _check_type(f"{source}: train.{key}", value, (int, float))
            train[key] = float(value)
        else:
            _check_type(f"{source}: train.{key}", value, type(default))
    config = StnConfig(**train)

    hyper = spec.get("hyper")
    if hyper is None:
        specs = default_specs(len(config.hidden))
    else:
        specs = []
        known = mlp_hyper_names(len(config.hidden))
        for hp_name, table in hyper.items():
            where = f"{source}: [hyper.{hp_name}]"
            if hp_name not in known:
                raise InputError(
                    f"{where}: not a hyperparameter of an MLP with {len(config.hidden)} hidden "
                    f"layers; use one of {', '.join(known)}."
                )
            if not isinstance(table, Mapping):
                raise InputError(f"{where} must be a table with {', '.join(HYPER_KEYS)}.")
            extra = sorted(set(table) - set(HYPER_KEYS))
            missing = [k for k in ("low", "high", "init") if k not in table]
            if extra or missing:
                raise InputError(f"{where}: unknown {extra}, missing {missing}; keys are {', '.join(HYPER_KEYS)}.")
            for k in ("low", "high", "init"):
                _check_type(f"{where}.{k}", table[k], (int, float))
            discrete = table.get("discrete", False)
            _check_type(f"{where}.discrete", discrete, bool)
            specs.append(HyperSpec(hp_name, float(table["low"]), float(table["high"]), float(table["init"]), discrete))
    out = Path(spec.get("out", f"runs/{name}"))
    figure = Path(spec.get("figure", out / f"{name}.png"))
    return {"name": name, "out": out, "figure": figure, "data_seed": data_seed, "config": config, "specs": specs}


def load_spec(path: str | Path) -> dict:
    return parse_spec(read_toml(path), str(path))


def curve_rows(trajectory: Sequence[Mapping[str, float]]) -> list[dict]:
    """Trajectory points → long curve rows (NaN points, e.g. held-out loss in warm-up, left out)."""
    rows = []
    for point in trajectory:
        for key, value in point.items():
            if key in ("step", "examples") or not math.isfinite(value):
                continue
            metric = key.replace("scale/", "hp_scale/")
            rows.append({"step": int(point["step"]), "tokens": float(point["examples"]),
                         "metric": metric, "value": float(value)})
    return rows


def trial_row(name: str, result, config, data_seed: int) -> dict:
    """The trial-store row of one STN run (DESIGN.md columns, HPs as hp_*)."""
    row = {
        "trial_id": f"{name}-seed{config.seed}",
        "sweep": name,
        "status": result.status,
        "params": result.params,
        "tokens": float(result.examples_seen),
        "flops": result.flops,
        "width": max(config.hidden),
        "depth": len(config.hidden),
        "parametrization": "sp",
        "lr": config.lr,
        "batch_size": config.batch_size,
        "weight_decay": 0.0,
        "loss": result.loss if math.isfinite(result.loss) else None,
        "train_loss": result.train_loss if math.isfinite(result.train_loss) else None,
        "seed": config.seed,
        "wall_time_s": result.wall_time_s,
        "hp_algorithm": "stn",
        "hp_data_seed": data_seed,
        "hp_centred": config.centred,
        "hp_tau": config.tau,
        "hp_hyper_lr": config.hyper_lr,
        "hp_epochs": config.epochs,
        "hp_hyper_steps": result.hyper_steps,
    }
    row.update({f"hp_{k}": v for k, v in result.hyperparameters.items()})
    return row


def plot_trajectory(trajectory: Sequence[Mapping[str, float]], path: str | Path, *, title: str = "") -> Path:
    """One panel per hyperparameter (its value over training) and one of the losses."""
    from tunescale.scaling.pyplot import pyplot

    plt = pyplot()

    names = [k[3:] for k in trajectory[0] if k.startswith("hp/")]
    steps = [p["step"] for p in trajectory]
    fig, axes = plt.subplots(len(names) + 1, 1, figsize=(7, 1.6 * (len(names) + 1)), sharex=True)
    for ax, hp in zip(axes, names, strict=False):
        ax.plot(steps, [p[f"hp/{hp}"] for p in trajectory], color="C0")
        ax.set_ylabel(hp, fontsize=8)
        ax.grid(alpha=0.3)
    ax = axes[-1]
    ax.plot(steps, [p["train_loss"] for p in trajectory], label="train (regularized)", color="C1")
    ax.plot(steps, [p["val_loss"] for p in trajectory], label="held-out (hyper steps)", color="C2")
    ax.set_ylabel("loss", fontsize=8)
    ax.set_xlabel("train step")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run_spec(parsed: Mapping) -> tuple[dict, Path]:
    """Train the spec's run, write its trial row and curves, draw its figure; return (row, figure)."""
    import torch

    from tunescale.contract.store import TrialStore
    from tunescale.trials.data.classification import load_classification
    from tunescale.trials.stn import fit_stn

    torch.set_num_threads(min(2, torch.get_num_threads()))
    data = load_classification(seed=parsed["data_seed"])
    result = fit_stn(data, parsed["specs"], parsed["config"])
    row = trial_row(parsed["name"], result, parsed["config"], parsed["data_seed"])
    TrialStore(parsed["out"]).write(row, curve_rows(result.trajectory))
    figure = plot_trajectory(result.trajectory, parsed["figure"], title=f"STN run {row['trial_id']}")
    return row, figure
