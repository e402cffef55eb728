"""Hyperparameters stay in their ranges, discrete ones are integers, perturbation modes differ."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tunescale.contract.errors import InputError
from tunescale.trials.stn import HyperParameters, HyperSpec

torch.set_num_threads(1)

SPECS = [
    HyperSpec("cutout", 0, 16, 2, discrete=True),
    HyperSpec("input_noise", 0.0, 2.0, 0.1),
    HyperSpec("dropout_1", 0.0, 0.9, 0.5),
]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=3, max_size=3))
def test_constrained_values_respect_ranges(u):
    hyper = HyperParameters(SPECS)
    values = hyper.constrain(torch.tensor([u]))[0].tolist()
    for spec, v in zip(SPECS, values, strict=True):
        assert spec.low <= v <= spec.high
    assert float(values[0]).is_integer()


@settings(max_examples=20, deadline=None)
@given(st.floats(-30, 30), st.floats(0.01, 20.0), st.integers(0, 1000))
def test_perturbed_draws_respect_ranges(shift, scale, seed):
    torch.manual_seed(seed)
    hyper = HyperParameters(SPECS, init_scale=scale)
    with torch.no_grad():
        hyper.u.add_(shift)
    values = hyper.constrain(hyper.sample(64, grad=False))
    assert torch.all(values >= hyper.low) and torch.all(values <= hyper.high)
    assert torch.equal(values[:, 0], values[:, 0].round())


@pytest.mark.parametrize("spec", SPECS)
def test_initial_values_round_trip(spec):
    hyper = HyperParameters([spec])
    assert math.isclose(hyper.values()[spec.name], spec.init, rel_tol=1e-6)


def test_perturb_modes():
    torch.manual_seed(0)
    per_example = HyperParameters(SPECS, perturb="example").sample(8, grad=False)
    per_batch = HyperParameters(SPECS, perturb="batch").sample(8, grad=False)
    assert len(torch.unique(per_example[:, 1])) == 8
    assert torch.equal(per_batch, per_batch[:1].expand(8, -1))


def test_sample_is_differentiable_only_when_asked():
    hyper = HyperParameters(SPECS)
    assert not hyper.sample(4, grad=False).requires_grad
    hyper.sample(4, grad=True).sum().backward()
    assert hyper.u.grad is not None and hyper.log_scale.grad is not None


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(name="d", low=0.5, high=0.5, init=0.5),
        dict(name="d", low=0.0, high=1.0, init=1.0),
        dict(name="c", low=0.0, high=4.5, init=1.0, discrete=True),
    ],
)
def test_bad_specs_are_rejected(kwargs):
    with pytest.raises(InputError, match=kwargs["name"]):
        HyperSpec(**kwargs)


def test_fixed_values_out_of_range_are_rejected():
    hyper = HyperParameters(SPECS)
    with pytest.raises(InputError, match="dropout_1"):
        hyper.fixed({"cutout": 2, "input_noise": 0.1, "dropout_1": 1.5}, 4)
