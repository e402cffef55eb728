"""The alternating schedule: who gets gradients when, warm-up and ratio, determinism."""

import dataclasses

import pytest
import torch

from tunescale.trials.data.classification import load_classification
from tunescale.trials.stn import StnConfig, StnTrainer, fit_fixed, fit_stn
from tunescale.trials.stn.run import default_specs

torch.set_num_threads(1)

CONFIG = StnConfig(hidden=(32, 32), epochs=3, batch_size=64, warmup_epochs=1,
                   train_steps_per_hyper=2, hyper_lr=0.1, response_rank=8)
SPECS = default_specs(2)


@pytest.fixture(scope="module")
def data():
    x_tr, y_tr, x_va, y_va = load_classification(seed=0)
    return x_tr[:256], y_tr[:256], x_va[:256], y_va[:256]


def _snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _changed(before, module) -> list[bool]:
    return [not torch.equal(b, p) for b, p in zip(before, module.parameters(), strict=True)]


@pytest.mark.parametrize("centred", [False, True])
def test_train_step_moves_weights_never_hyperparameters(data, centred):
    trainer = StnTrainer(data, SPECS, dataclasses.replace(CONFIG, centred=centred))
    hyper_before, weights_before = _snapshot(trainer.hyper), _snapshot(trainer.model)
    trainer.train_step(torch.arange(64))
    assert trainer.hyper.u.grad is None and trainer.hyper.log_scale.grad is None
    assert not any(_changed(hyper_before, trainer.hyper))
    assert all(_changed(weights_before, trainer.model))


@pytest.mark.parametrize("centred", [False, True])
def test_hyper_step_moves_hyperparameters_never_weights(data, centred):
    trainer = StnTrainer(data, SPECS, dataclasses.replace(CONFIG, centred=centred))
    trainer.train_step(torch.arange(64))
    weights_before, hyper_before = _snapshot(trainer.model), _snapshot(trainer.hyper)
    trainer.model.zero_grad(set_to_none=True)
    trainer.hyper_step(torch.arange(64))
    assert all(p.grad is None for p in trainer.model.parameters())
    assert not any(_changed(weights_before, trainer.model))
    assert all(_changed(hyper_before, trainer.hyper))
    assert torch.all(trainer.hyper.u.grad != 0)


def test_hypergradient_flows_only_through_the_best_response_path(data):
    # Regularizers are off in a hyper step, so with every gate zeroed the held-out loss
    # does not depend on u at all; only the entropy term still moves log s.
    trainer = StnTrainer(data, SPECS, CONFIG)
    with torch.no_grad():
        for layer in trainer.model.layers:
            layer.gate.weight.zero_()
            layer.gate.bias.zero_()
    trainer.hyper_step(torch.arange(64))
    assert torch.all(trainer.hyper.u.grad == 0)
    assert torch.allclose(trainer.hyper.log_scale.grad, torch.full((len(SPECS),), -CONFIG.tau))


def test_warmup_and_step_ratio(data):
    steps_per_epoch = 256 // 64
    result = fit_stn(data, SPECS, CONFIG)
    assert result.train_steps == CONFIG.epochs * steps_per_epoch
    tuned_steps = (CONFIG.epochs - CONFIG.warmup_epochs) * steps_per_epoch
    assert result.hyper_steps == tuned_steps // CONFIG.train_steps_per_hyper
    warmup = [p for p in result.trajectory if 0 < p["step"] <= steps_per_epoch]
    assert warmup and all(p["hp/dropout_1"] == result.trajectory[0]["hp/dropout_1"] for p in warmup)
    assert result.trajectory[-1]["hp/dropout_1"] != result.trajectory[0]["hp/dropout_1"]
    assert result.flops > 0 and result.examples_seen == CONFIG.epochs * 256


def test_run_is_deterministic_under_a_seed(data):
    first, again = fit_stn(data, SPECS, CONFIG), fit_stn(data, SPECS, CONFIG)
    other = fit_stn(data, SPECS, dataclasses.replace(CONFIG, seed=1))
    assert first.loss == again.loss and first.trajectory == again.trajectory
    assert first.hyperparameters == again.hyperparameters
    assert other.loss != first.loss


def test_fixed_run_trains_the_plain_model_with_cheaper_steps(data):
    values = {s.name: s.init for s in SPECS}
    plain = fit_fixed(data, SPECS, values, CONFIG)
    stn = fit_stn(data, SPECS, dataclasses.replace(CONFIG, warmup_epochs=CONFIG.epochs))
    assert plain.status == "completed" and plain.hyper_steps == 0
    assert plain.hyperparameters == pytest.approx(values)
    assert plain.params < stn.params and plain.flops < stn.flops


def test_summary_is_json_safe(data):
    import json

    summary = fit_fixed(data, SPECS, {s.name: s.init for s in SPECS}, CONFIG).summary()
    assert json.loads(json.dumps(summary))["status"] == "completed"
