"""Weight decay as a timescale: the trainer's λ from τ and τ from λ are one pair of rules."""

from __future__ import annotations

import pytest

from tunescale.trials.timescale import decay_per_step, timescale, weight_decay_for
from tunescale.trials.train import resolve_config


@pytest.mark.parametrize("mode", ["coupled", "independent"])
def test_weight_decay_for_inverts_timescale(mode):
    lam = weight_decay_for(0.4, lr=3e-3, steps=500, wd_mode=mode)
    assert timescale(3e-3, lam, 500, mode) == pytest.approx(0.4)
    assert decay_per_step(3e-3, lam, mode) * 500 * 0.4 == pytest.approx(1.0)


def test_coupled_decay_per_step_is_lr_times_lambda_and_group_rules_have_no_one_timescale():
    assert decay_per_step(0.01, 0.5, "coupled") == pytest.approx(0.005)
    assert decay_per_step(0.01, 0.5, "independent") == 0.5
    assert timescale(0.01, 0.0, 100, "coupled") is None and timescale(0.01, 0.5, 100, "coupled_group") is None


def test_the_trainer_turns_tau_into_the_lambda_the_rule_gives():
    cfg = resolve_config({"lr": 0.02, "tau": 0.5, "steps": 200, "parametrization": "mup", "width": 32,
                          "base_width": 16})
    assert cfg["weight_decay"] == pytest.approx(weight_decay_for(0.5, 0.02, 200, cfg["wd_mode"]))
