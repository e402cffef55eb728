"""Rows the driver writes for trials that left none (pruned, or a worker that died),
and the reading of hyperparameters back out of stored rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunescale.contract.schema import HP_PREFIX, TRIAL_SCHEMA, hp_columns
from tunescale.contract.store import default_flops
from tunescale.trials.defaults import DEFAULTS


def estimate_params(config: Mapping[str, Any]) -> int:
    """Non-embedding parameter count for rows of trials that never finished.

    Transformer: 12·depth·width² (Kaplan et al. 2020, eq. 2.1); MLP: depth·width².
    """
    width, depth = int(config.get("width", 1)), max(1, int(config.get("depth", 1)))
    per_block = 12 if config.get("model", "transformer") == "transformer" else 1
    return per_block * depth * width * width


def planned_tokens(config: Mapping[str, Any]) -> float:
    """The tokens a trial was to train on, with the trainer's default batch and sequence sizes."""
    if config.get("tokens"):
        return float(config["tokens"])
    per_step = config.get("batch_size", DEFAULTS["batch_size"])
    if config.get("model", "transformer") == "transformer":
        per_step *= config.get("seq_len", DEFAULTS["seq_len"])
    return float(config.get("steps", 1) * per_step)


def fallback_row(config: Mapping[str, Any], status: str, reason: str, last: Mapping | None = None) -> dict:
    """A row for a trial that has no trainer row: pruned, or failed before finishing."""
    last = last or {}
    row = {
        "status": status,
        "params": estimate_params(config),
        "tokens": float(last.get("tokens") or planned_tokens(config)),
        "width": config.get("width"),
        "depth": config.get("depth"),
        "parametrization": config.get("parametrization"),
        "lr": config.get("lr"),
        "batch_size": config.get("batch_size"),
        "weight_decay": config.get("weight_decay"),
        "loss": last.get("eval_loss"),
        "train_loss": last.get("train_loss"),
        "flops": last.get("flops"),
        "seed": config.get("seed"),
        "hp_reason": reason,
        "hp_params_estimated": True,
    }
    return row | hp_columns(config)


def summary(trial_id: str, row: Mapping[str, Any]) -> dict:
    """The part of a stored row the driver needs (progress, a searcher's output and cost)."""
    flops = row.get("flops")
    if flops is None:
        flops = default_flops(row)
    return {"trial_id": trial_id, "status": row["status"], "loss": row.get("loss"), "flops": flops}


def hp_value(row: Mapping, name: str) -> Any:
    """A searched hyperparameter of a stored row: its own column, or its hp_ column."""
    return row[name] if name in TRIAL_SCHEMA.names else row.get(HP_PREFIX + name)
