"""One Self-Tuning-Network run from a TOML spec: train, store as a trial, plot the trajectory.

A spec (every key is optional; unknown keys are rejected):

    name = "stn-mlp"            # sweep name and trial-id prefix
    out = "runs/stn-mlp"        # sweep directory (trial store)
    figure = "runs/stn-mlp/stn-mlp.png"
    data = "classification"     # the shipped classification proxy
    data_seed = 0

    [train]                     # fields of tunescale.trials.stn.StnConfig
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
from dataclasses import dataclass
from pathlib import Path

from tunescale.contract.errors import InputError, TunescaleError
from tunescale.contract.spec_file import (
    Problems,
    int_field,
    is_int,
    is_name,
    is_number,
    read_toml,
    table_field,
)
from tunescale.contract.writable import dir_problem
from tunescale.trials.stn.hyperparams import HyperSpec
from tunescale.trials.stn.trainer import StnConfig

DATASETS = ("classification",)
SPEC_KEYS = {"name", "out", "figure", "data", "data_seed", "train", "hyper"}
HYPER_KEYS = {"low", "high", "init", "discrete"}
# Rates are probabilities: a dropout range must stay inside [0, 1).
_RATE_PREFIXES = ("dropout_", "input_dropout")


class StnSpecError(TunescaleError):
    """The STN spec has problems; the message lists each with its key."""


@dataclass(frozen=True)
class StnRunSpec:
    """A validated STN spec: where the run is stored and what it trains."""

    name: str
    out: Path
    figure: Path
    data_seed: int
    config: StnConfig
    specs: tuple[HyperSpec, ...]


def default_specs(depth: int) -> list:
    """Every hyperparameter the MLP proxy has, with ranges wide enough to over-regularize."""
    return [
        HyperSpec("cutout", 0, 16, 2, discrete=True),  # of 32 input features
        HyperSpec("input_noise", 0.0, 2.0, 0.1),  # inputs are standard normal
        HyperSpec("input_dropout", 0.0, 0.8, 0.05),
        *(HyperSpec(f"dropout_{i + 1}", 0.0, 0.9, 0.05) for i in range(depth)),
    ]


def _train_config(train: dict, p: Problems) -> StnConfig:
    fields = {f.name for f in dataclasses.fields(StnConfig)}
    p.unknown(train, fields, "train.")
    defaults, values = StnConfig(), {}
    for key in fields & set(train):
        value, default, where = train[key], getattr(StnConfig(), key), f"train.{key}"
        if key == "hidden":
            if not isinstance(value, list) or not value or not all(is_int(w) and w > 0 for w in value):
                p.add(where, f"expected a list of positive integers, got {value!r}")
                continue
            value = tuple(value)
        elif key == "response_rank":
            if not is_int(value) or value < 1:
                p.add(where, f"expected an integer >= 1 (leave it out for a full-rank response), got {value!r}")
                continue
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                p.add(where, f"expected true or false, got {value!r}")
                continue
        elif isinstance(default, int):
            if not is_int(value) or value < 0:
                p.add(where, f"expected an integer >= 0, got {value!r}")
                continue
        elif isinstance(default, float):
            if not is_number(value) or value < 0:
                p.add(where, f"expected a number >= 0, got {value!r}")
                continue
            value = float(value)
        elif not isinstance(value, type(default)):
            p.add(where, f"expected {type(default).__name__}, got {value!r}")
            continue
        values[key] = value
    try:
        return StnConfig(**values)
    except InputError as exc:
        p.add("train", str(exc))
        return defaults


def _hyper_specs(hyper: dict, depth: int, p: Problems) -> list:
    from tunescale.trials.stn import mlp_hyper_names

    known, specs = mlp_hyper_names(depth), []
    for hp_name, table in hyper.items():
        where = f"hyper.{hp_name}"
        if hp_name not in known:
            p.add(where, f"not a hyperparameter of an MLP with {depth} hidden layers; use one of {', '.join(known)}")
            continue
        if not isinstance(table, dict):
            p.add(where, f"expected a table with keys {', '.join(sorted(HYPER_KEYS))}, got {table!r}")
            continue
        p.unknown(table, HYPER_KEYS, where + ".")
        bounds = {k: table.get(k) for k in ("low", "high", "init")}
        bad = [k for k, v in bounds.items() if not is_number(v)]
        for k in bad:
            p.add(f"{where}.{k}", f"expected a number, got {bounds[k]!r}")
        discrete = table.get("discrete", False)
        if not isinstance(discrete, bool):
            p.add(f"{where}.discrete", f"expected true or false, got {discrete!r}")
        if bad or not isinstance(discrete, bool):
            continue
        if hp_name.startswith(_RATE_PREFIXES) and not 0 <= bounds["low"] < bounds["high"] <= 1:
            p.add(where, f"a dropout rate needs 0 <= low < high <= 1, got [{bounds['low']}, {bounds['high']}]")
            continue
        if bounds["low"] < 0:
            p.add(f"{where}.low", f"expected a value >= 0, got {bounds['low']!r}")
            continue
        try:
            specs.append(HyperSpec(hp_name, *(float(bounds[k]) for k in ("low", "high", "init")), discrete))
        except InputError as exc:
            p.add(where, str(exc))
    return specs


def _path(raw: dict, key: str, default: Path, p: Problems) -> Path:
    value = raw.get(key, str(default))
    if not isinstance(value, str) or not value:
        p.add(key, f"expected a path, got {value!r}")
        return default
    return Path(value)


def parse_spec(spec: dict, source: str = "spec") -> StnRunSpec:
    """Check the whole spec and raise one `StnSpecError` listing every problem."""
    p = Problems()
    p.unknown(spec, SPEC_KEYS)
    name = spec.get("name", "stn")
    if not is_name(name):
        p.add("name", f"use letters, digits, '-' and '_' only (it names the trial id and the store), got {name!r}")
        name = "stn"
    data = spec.get("data", "classification")
    if data not in DATASETS:
        p.add("data", f"expected one of {', '.join(DATASETS)}, got {data!r}")
    data_seed = int_field(spec, "data_seed", 0, p, minimum=0)
    config = _train_config(table_field(spec, "train", p), p)
    hyper = table_field(spec, "hyper", p) if "hyper" in spec else None
    specs = default_specs(len(config.hidden)) if hyper is None else _hyper_specs(hyper, len(config.hidden), p)
    out = _path(spec, "out", Path("runs") / name, p)
    if out.exists() and not out.is_dir():
        p.add("out", f"{out} is a file; give a directory for the trial store")
    elif problem := dir_problem(out):
        p.add("out", f"{problem}; give a directory you can write for the trial store")
    figure = _path(spec, "figure", out / f"{name}.png", p)
    if figure.is_dir():
        p.add("figure", f"{figure} is a directory; give a .png file path")
    elif figure.parent != out and (problem := dir_problem(figure.parent)):
        p.add("figure", f"{problem}; give a path you can write")
    if p.items:
        raise StnSpecError(f"{source}: " + "; ".join(p.items))
    return StnRunSpec(name, out, figure, data_seed, config, tuple(specs))


def load_spec(path: str | Path) -> StnRunSpec:
    return parse_spec(read_toml(path, StnSpecError), str(path))


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
    from tunescale.scaling.pyplot import pyplot, save_figure

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
    save_figure(fig, [path], dpi=120)
    return path


def run_spec(parsed: StnRunSpec) -> tuple[dict, Path]:
    """Train the spec's run, write its trial row and curves, draw its figure; return (row, figure)."""
    import torch

    from tunescale.contract.store import TrialStore
    from tunescale.trials.data.classification import load_classification
    from tunescale.trials.stn import fit_stn

    torch.set_num_threads(min(2, torch.get_num_threads()))
    data = load_classification(seed=parsed.data_seed)
    result = fit_stn(data, parsed.specs, parsed.config)
    row = trial_row(parsed.name, result, parsed.config, parsed.data_seed)
    TrialStore(parsed.out).write(row, curve_rows(result.trajectory))
    figure = plot_trajectory(result.trajectory, parsed.figure, title=f"STN run {row['trial_id']}")
    return row, figure
