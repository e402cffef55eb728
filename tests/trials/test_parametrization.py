import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tunescale.contract.errors import InputError
from tunescale.contract.schema import PARAMETRIZATIONS
from tunescale.trials import parametrization
from tunescale.trials.models.mlp import MLP, build_mlp
from tunescale.trials.models.transformer import TransformerLM, build_transformer


def _plain_and_parametrized(name: str, kind: str, width: int = 32):
    par = parametrization.make(name, width, width)
    torch.manual_seed(0)
    if kind == "transformer":
        plain = TransformerLM(width=width, depth=2, seq_len=16)
        torch.manual_seed(0)
        built = build_transformer(width=width, depth=2, seq_len=16, par=par)
    else:
        plain = MLP(in_features=8, n_classes=3, width=width, depth=2)
        torch.manual_seed(0)
        built = build_mlp(in_features=8, n_classes=3, width=width, depth=2, par=par)
    return par, plain, built


@pytest.mark.parametrize("kind", ["transformer", "mlp"])
@pytest.mark.parametrize("name", PARAMETRIZATIONS)
def test_every_parametrization_is_pytorch_default_at_base_width(name, kind):
    par, plain, built = _plain_and_parametrized(name, kind)
    plain_params = dict(plain.named_parameters())
    for pname, p in built.named_parameters():
        assert torch.equal(p, plain_params[pname]), pname
    assert all(getattr(m, "multiplier", 1.0) == 1.0 for m in built.modules())
    if kind == "transformer":
        assert all(b.attn.scale == 16**-0.5 for b in built.blocks)
        x = torch.randint(0, 256, (2, 16))
        assert torch.equal(built(x)[0], plain(x)[0])
    groups = parametrization.param_groups(built, par, lr=3e-3, weight_decay=0.1)
    assert {g["lr"] for g in groups} == {3e-3}
    assert sum(len(g["params"]) for g in groups) == len(plain_params)
    for g in groups:
        matrix = g["params"][0].ndim >= 2
        assert g["weight_decay"] == (0.1 if matrix else 0.0)


@given(m=st.sampled_from([0.25, 0.5, 2.0, 4.0, 8.0, 64.0]))
def test_mup_family_updates_hidden_and_readout_as_one_over_width(m):
    for name in ("mup", "umup"):
        par = parametrization.Parametrization(name, m)
        for role in ("hidden", "readout"):
            effective = par.multiplier(role) * par.lr_scale(role, "adamw")
            assert math.isclose(effective, 1 / m), (name, role)
        # hidden forward scale at init is SP's (1/sqrt(fan_in)) in every parametrization
        assert math.isclose(par.multiplier("hidden") * par.init_scale("hidden"), 1.0)
    mup = parametrization.Parametrization("mup", m)
    assert math.isclose(mup.attention_scale(16 * 4, 16), (16 * 4) ** -1 * 16**0.5)
    for name in ("ntk", "mfp"):
        par = parametrization.Parametrization(name, m)
        assert math.isclose(par.multiplier("hidden") * par.init_scale("hidden"), 1.0)
        assert par.lr_scale("hidden", "adamw") == 1.0


def test_mup_scales_layers_at_larger_width():
    par = parametrization.make("mup", 128, 32)
    torch.manual_seed(0)
    model = build_transformer(width=128, depth=1, seq_len=8, par=par)
    assert model.readout.multiplier == 0.25
    assert model.blocks[0].fc.multiplier == 1.0
    lrs = {g["role"]: g["lr"] for g in parametrization.param_groups(model, par, lr=1.0)}
    assert lrs == {"input": 1.0, "hidden": 0.25, "readout": 1.0, "vector": 1.0}
    sgd = {g["role"]: g["lr"] for g in parametrization.param_groups(model, par, lr=1.0, optimizer="sgd")}
    assert sgd == {"input": 4.0, "hidden": 1.0, "readout": 4.0, "vector": 4.0}
    zero = build_transformer(width=128, depth=1, seq_len=8, par=par, zero_readout=True)
    assert torch.count_nonzero(zero.readout.weight) == 0


def test_weight_decay_width_rule_and_independent_mode():
    par = parametrization.make("mup", 128, 32)
    model = build_transformer(width=128, depth=1, seq_len=8, par=par)
    groups = parametrization.param_groups(model, par, lr=0.01, weight_decay=0.1, wd_scaling=True)
    by_role = {(g["role"], g["params"][0].ndim >= 2): g["weight_decay"] for g in groups}
    assert math.isclose(by_role[("hidden", True)], 0.1 * 2.0)  # sqrt(4)
    assert by_role[("input", True)] == 0.1 and by_role[("vector", False)] == 0.0
    indep = parametrization.param_groups(model, par, lr=0.01, weight_decay=1e-4, wd_mode="independent")
    for g in indep:
        if g["weight_decay"]:
            assert math.isclose(g["lr"] * g["weight_decay"], 1e-4)


def test_unknown_parametrization_names_the_choices():
    with pytest.raises(InputError, match="'xyz' is unknown; expected one of sp, mup"):
        parametrization.make("xyz", 64, 32)
