"""The training loop every proxy trial runs: `train_trial(config) -> TrialOutcome`.

`config` is a flat mapping (see `DEFAULTS`; only `lr` is required). The loop:
1) seeds torch and the data stream from `seed`; builds the model with its parametrization;
2) builds parameter groups from the parametrization table (per-role LR and decay);
3) trains for `steps` steps (or `tokens` / (batch_size·seq_len)) with warmup + a schedule,
   gradient clipping, bf16 autocast on CUDA and optional torch.compile;
4) evaluates the held-out loss every `eval_every` steps and at the end, calling
   `on_eval` (so a Ray Tune trial can report to ASHA); an `on_eval` that returns True
   stops the run there with status "pruned" (an in-process scheduler's early stop), and
   the row's tokens and FLOPs are what was actually trained;
5) stops early with status "diverged" when the training loss is NaN/inf or exceeds
   `diverge_factor` x its first value — never raises for a diverging run.

`TrialOutcome.row` holds every trial-row column of DESIGN.md but `trial_id` and `sweep`;
`TrialOutcome.curves` holds {step, tokens, metric, value} rows (train_loss, eval_loss, lr).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from tunescale.contract.errors import InputError
from tunescale.contract.schema import HP_PREFIX, hp_columns
from tunescale.trials import parametrization
from tunescale.trials.defaults import DEFAULTS, MODELS, OPTIMIZERS, SCHEDULES
from tunescale.trials.timescale import timescale, weight_decay_for

DEFAULT_STEPS = 50


@dataclass
class TrialOutcome:
    """A finished trial: the store row (minus trial_id/sweep) and its curve records."""

    row: dict
    curves: list[dict] = field(default_factory=list)


def resolve_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults filled in and values checked; unknown keys raise naming the key."""
    unknown = [k for k in config if k not in DEFAULTS and not k.startswith(HP_PREFIX)]
    if unknown:
        raise InputError(
            f"unknown trial config key {unknown[0]!r}; expected one of {', '.join(DEFAULTS)} "
            f"or an 'hp_*' pass-through key."
        )
    cfg = {**DEFAULTS, **config}
    if cfg["lr"] is None or not (isinstance(cfg["lr"], int | float) and cfg["lr"] > 0):
        raise InputError(f"trial config 'lr' = {cfg['lr']!r}; expected a positive number.")
    for key, allowed in (("model", MODELS), ("schedule", SCHEDULES), ("optimizer", OPTIMIZERS)):
        if cfg[key] not in allowed:
            raise InputError(f"trial config {key!r} = {cfg[key]!r}; expected one of {', '.join(allowed)}.")
    for key in ("width", "depth", "batch_size", "seq_len", "eval_batches", "eval_batch_size", "head_dim"):
        if key == "eval_batch_size" and cfg[key] is None:
            continue
        if not isinstance(cfg[key], int) or cfg[key] < (0 if key == "depth" else 1):
            raise InputError(f"trial config {key!r} = {cfg[key]!r}; expected a positive integer.")
    if cfg["weight_decay"] < 0:
        raise InputError(f"trial config 'weight_decay' = {cfg['weight_decay']!r}; expected >= 0.")
    if cfg["steps"] is not None and cfg["tokens"] is not None:
        raise InputError("trial config gives both 'steps' and 'tokens'; give one of them.")
    per_step = cfg["batch_size"] * (cfg["seq_len"] if cfg["model"] == "transformer" else 1)
    if cfg["steps"] is None:
        cfg["steps"] = math.ceil(cfg["tokens"] / per_step) if cfg["tokens"] is not None else DEFAULT_STEPS
    if not isinstance(cfg["steps"], int) or cfg["steps"] < 1:
        raise InputError(f"trial config 'steps' = {cfg['steps']!r}; expected a positive integer.")
    cfg["tokens_per_step"] = per_step
    _resolve_weight_decay(cfg)
    cfg["base_width"] = cfg["base_width"] or cfg["width"]
    cfg["base_head_dim"] = cfg["base_head_dim"] or cfg["head_dim"]
    cfg["eval_every"] = cfg["eval_every"] or max(1, cfg["steps"] // 5)
    cfg["log_every"] = cfg["log_every"] or max(1, cfg["steps"] // 100)
    if not 0 <= cfg["warmup_frac"] < 1:
        raise InputError(f"trial config 'warmup_frac' = {cfg['warmup_frac']!r}; expected in [0, 1).")
    return cfg


def _resolve_weight_decay(cfg: dict[str, Any]) -> None:
    """Fill `wd_mode`, check the parametrization's combination, turn `tau` into λ."""
    parametrization.check_parametrization(cfg["parametrization"])
    if cfg["wd_mode"] is None:
        cfg["wd_mode"] = "independent" if parametrization.TABLE[cfg["parametrization"]].unit else "coupled"
    parametrization.check_combination(cfg["parametrization"], per_layer_lr=cfg["per_layer_lr"],
                                      optimizer=cfg["optimizer"], wd_mode=cfg["wd_mode"], wd_scaling=cfg["wd_scaling"])
    if cfg["tau"] is None:
        return
    if not (isinstance(cfg["tau"], int | float) and cfg["tau"] > 0):
        raise InputError(f"trial config 'tau' = {cfg['tau']!r}; expected a positive fraction of the run's steps.")
    if cfg["weight_decay"]:
        raise InputError("trial config gives both 'weight_decay' and 'tau'; give one of them.")
    if cfg["wd_mode"] == "coupled_group":
        raise InputError("trial config 'tau' sets one timescale for every matrix, but wd_mode 'coupled_group' "
                         "gives each group its own; use wd_mode 'coupled' or 'independent'.")
    cfg["weight_decay"] = weight_decay_for(cfg["tau"], cfg["lr"], cfg["steps"], cfg["wd_mode"])


def lr_factor(step: int, cfg: Mapping[str, Any]) -> float:
    """LR multiplier at `step` (0-based): 1) linear warmup, 2) cosine / WSD / constant."""
    steps = cfg["steps"]
    warmup = int(cfg["warmup_frac"] * steps)
    if step < warmup:
        return (step + 1) / warmup
    if cfg["schedule"] == "constant":
        return 1.0
    if cfg["schedule"] == "wsd":
        decay_start = steps - max(1, int(cfg["decay_frac"] * steps))
        if step < decay_start:
            return 1.0
        return max(0.0, (steps - step) / (steps - decay_start))
    progress = (step - warmup) / max(1, steps - warmup)
    floor = cfg["min_lr_frac"]
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def group_taus(groups: list[dict], steps: int) -> dict[str, float]:
    """τ per role as a fraction of the run, from each group's own LR and decay (torch's AdamW decays
    a group by its lr·weight_decay); where a role has several groups (u-μP: one per fan), the
    fastest-decaying one."""
    taus: dict[str, float] = {}
    for g in groups:
        if g["weight_decay"]:
            value = timescale(g["lr"], g["weight_decay"], steps, "coupled")
            taus[g["role"]] = min(value, taus.get(g["role"], math.inf))
    return taus


def train_trial(
    config: Mapping[str, Any], *, on_eval: Callable[[dict], bool | None] | None = None
) -> TrialOutcome:
    """Train one proxy model as `config` says; return its row and curves (see module doc)."""
    cfg = resolve_config(config)
    par = parametrization.make(cfg["parametrization"], cfg["width"], cfg["base_width"],
                               per_layer_lr=cfg["per_layer_lr"])
    device = _device(cfg["device"])
    start = time.perf_counter()
    torch.manual_seed(cfg["seed"])
    model, next_batch, eval_set = _model_and_data(cfg, par)
    model.to(device)
    n_params = model.non_embedding_params()
    flops_per_token = model.flops_per_token()
    groups = parametrization.param_groups(
        model,
        par,
        lr=cfg["lr"],
        optimizer=cfg["optimizer"],
        weight_decay=cfg["weight_decay"],
        wd_mode=cfg["wd_mode"],
        wd_scaling=cfg["wd_scaling"],
    )
    taus = group_taus(groups, cfg["steps"])  # before the scheduler moves the group LRs
    if cfg["optimizer"] == "adamw":
        opt = torch.optim.AdamW(groups, lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["eps"])
    else:
        opt = torch.optim.SGD(groups, lr=cfg["lr"], momentum=cfg["momentum"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, cfg))
    forward = torch.compile(model) if cfg["compile"] else model
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")

    curves: list[dict] = []
    status, first_loss, eval_loss = "completed", None, float("nan")
    window: list[float] = []  # train losses since the last evaluation
    train_loss = float("nan")
    step = 0
    while step < cfg["steps"]:
        x, y = (t.to(device, non_blocking=True) for t in next_batch())
        model.train()
        with autocast:
            _, loss = forward(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        lr_now = cfg["lr"] * lr_factor(step, cfg)
        opt.step()
        sched.step()
        step += 1
        value = loss.item()
        first_loss = value if first_loss is None else first_loss
        tokens = step * cfg["tokens_per_step"]
        if not math.isfinite(value) or value > cfg["diverge_factor"] * first_loss:
            status, train_loss = "diverged", value
            curves.append(_point(step, tokens, "train_loss", value))
            break
        window.append(value)
        if step % cfg["log_every"] == 0 or step == cfg["steps"]:
            curves.append(_point(step, tokens, "train_loss", value))
            curves.append(_point(step, tokens, "lr", lr_now))
        if step % cfg["eval_every"] == 0 or step == cfg["steps"]:
            train_loss = sum(window) / len(window)
            window = []
            eval_loss = _evaluate(forward, model, eval_set, device, autocast)
            curves.append(_point(step, tokens, "eval_loss", eval_loss))
            metrics = {"step": step, "tokens": tokens, "flops": flops_per_token * tokens, "train_loss": train_loss,
                       "eval_loss": eval_loss}
            stop = on_eval is not None and on_eval(metrics)
            if not math.isfinite(eval_loss):
                status = "diverged"
                break
            if stop and step < cfg["steps"]:
                status = "pruned"
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    tokens = step * cfg["tokens_per_step"]
    row = {
        "status": status,
        "params": n_params,
        "tokens": float(tokens),
        "flops": flops_per_token * tokens,
        "width": cfg["width"],
        "depth": cfg["depth"],
        "parametrization": cfg["parametrization"],
        "lr": float(cfg["lr"]),
        "batch_size": cfg["batch_size"],
        "weight_decay": float(cfg["weight_decay"]),
        "loss": eval_loss if status == "completed" else float("nan"),
        "train_loss": train_loss,
        "seed": cfg["seed"],
        "wall_time_s": time.perf_counter() - start,
        **_hp_columns(cfg, step, device),
        **{f"{HP_PREFIX}tau_{role}": value for role, value in taus.items()},
    }
    return TrialOutcome(row=row, curves=curves)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"trial config 'device' = {name!r} but CUDA is not available; use 'cpu' or 'auto'.")
    return torch.device(name)


def _model_and_data(cfg: Mapping[str, Any], par: parametrization.Parametrization):
    """(model, next_batch(), fixed eval batches) for the configured model kind."""
    if cfg["model"] == "transformer":
        from tunescale.trials.data.corpus import EVAL_SEED, TokenBatches, load_corpus
        from tunescale.trials.models.transformer import transformer_from_config

        model = transformer_from_config(cfg, par)
        corpus = load_corpus(cfg["cache_dir"])
        train = TokenBatches(corpus.train, cfg["seq_len"], cfg["batch_size"], cfg["seed"])
        val = TokenBatches(corpus.val, cfg["seq_len"], cfg["eval_batch_size"] or cfg["batch_size"], EVAL_SEED)
        return model, train.next, val.fixed(cfg["eval_batches"])

    from tunescale.trials.data.classification import load_classification
    from tunescale.trials.models.mlp import build_mlp

    x_train, y_train, x_val, y_val = load_classification(seed=0)
    model = build_mlp(
        in_features=x_train.shape[1],
        n_classes=int(y_train.max()) + 1,
        width=cfg["width"],
        depth=cfg["depth"],
        par=par,
        zero_readout=cfg["zero_readout"],
    )
    gen = torch.Generator().manual_seed(cfg["seed"])
    batch = min(cfg["batch_size"], len(x_train))

    def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, len(x_train), (batch,), generator=gen)
        return x_train[idx], y_train[idx]

    return model, next_batch, [(x_val, y_val)]


@torch.no_grad()
def _evaluate(forward, model: torch.nn.Module, eval_set, device: torch.device, autocast) -> float:
    model.eval()
    total, count = 0.0, 0
    for x, y in eval_set:
        with autocast:
            _, loss = forward(x.to(device), y.to(device))
        total += loss.item() * y.numel()
        count += y.numel()
    return total / count


def _point(step: int, tokens: int, metric: str, value: float) -> dict:
    return {"step": step, "tokens": float(tokens), "metric": metric, "value": float(value)}


def _hp_columns(cfg: Mapping[str, Any], step: int, device: torch.device) -> dict[str, Any]:
    """Every setting without a column of its own, plus what the run measured about itself."""
    hp = hp_columns(cfg, internal=("tokens_per_step", "cache_dir", "device", "betas"))
    hp[f"{HP_PREFIX}beta1"], hp[f"{HP_PREFIX}beta2"] = (float(b) for b in cfg["betas"])
    hp[f"{HP_PREFIX}device"] = device.type
    hp[f"{HP_PREFIX}tau"] = timescale(cfg["lr"], cfg["weight_decay"], cfg["steps"], cfg["wd_mode"])
    hp[f"{HP_PREFIX}steps_done"] = step
    return hp
