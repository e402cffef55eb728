import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tunescale.contract.errors import InputError
from tunescale.contract.schema import PARAMETRIZATIONS
from tunescale.trials import parametrization
from tunescale.trials.models import unit_scaling
from tunescale.trials.models.mlp import MLP, build_mlp
from tunescale.trials.models.transformer import TransformerLM, build_transformer

# Every row relative to PyTorch's defaults; u-μP is absolute (its own scales at every width).
RELATIVE = [name for name in PARAMETRIZATIONS if not parametrization.TABLE[name].unit]


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
@pytest.mark.parametrize("name", RELATIVE)
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


def test_per_layer_lr_keeps_the_base_width_defaults():
    for name in ("sp", "ntk", "mfp"):
        par, plain, built = _plain_and_parametrized(name, "transformer")
        par = parametrization.Parametrization(name, 1.0, per_layer_lr=True)
        assert {g["lr"] for g in parametrization.param_groups(built, par, lr=3e-3)} == {3e-3}


@given(m=st.sampled_from([0.25, 0.5, 2.0, 4.0, 8.0, 64.0]))
def test_mup_family_updates_hidden_and_readout_as_one_over_width(m):
    pars = [parametrization.Parametrization("mup", m)]
    pars += [parametrization.Parametrization(name, m, per_layer_lr=True) for name in ("sp", "ntk", "mfp")]
    for par in pars:
        for role in ("hidden", "readout"):
            effective = par.multiplier(role) * par.lr_scale(role, "adamw")
            assert math.isclose(effective, 1 / m), (par, role)
        assert par.lr_scale("input", "adamw") == 1.0 and par.lr_scale("vector", "adamw") == 1.0
        # hidden forward scale at init is SP's (1/sqrt(fan_in)) in every parametrization
        assert math.isclose(par.multiplier("hidden") * par.init_scale("hidden"), 1.0)
    # u-μP, absolute: at fan_in n the hidden update W_eff moves by n^-1/2 · n^-1/2 = 1/n
    n = int(32 * m) or 8
    umup = parametrization.Parametrization("umup", 1.0)
    assert math.isclose(umup.multiplier("hidden", n) * umup.lr_scale("hidden", "adamw", n), 1 / n)
    assert math.isclose(umup.multiplier("readout", n) * umup.lr_scale("readout", "adamw", n), 1 / n)
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


def _decay_per_step(groups) -> dict[str, float]:
    """Fraction of each matrix role decayed per step at the peak LR (torch AdamW: lr·λ)."""
    return {g["role"]: g["lr"] * g["weight_decay"] for g in groups if g["params"][0].ndim >= 2}


@pytest.mark.parametrize("width", [32, 128, 512])
def test_mup_default_weight_decay_is_width_independent_as_mu_adamw(width):
    par = parametrization.make("mup", width, 32)
    model = build_transformer(width=width, depth=1, seq_len=8, par=par)
    groups = parametrization.param_groups(model, par, lr=0.01, weight_decay=0.1)
    for role, decay in _decay_per_step(groups).items():
        assert math.isclose(decay, 0.01 * 0.1), (role, decay)  # mup.MuAdamW: lr/m x λ·m
    hidden = next(g for g in groups if g["role"] == "hidden")
    assert math.isclose(hidden["weight_decay"], 0.1 * width / 32)
    old = parametrization.param_groups(model, par, lr=0.01, weight_decay=0.1, wd_mode="coupled_group")
    assert math.isclose(_decay_per_step(old)["hidden"], 0.01 * 0.1 * 32 / width)  # the rule that drifts


def test_weight_decay_width_rule_and_independent_mode():
    par = parametrization.make("mup", 128, 32)
    model = build_transformer(width=128, depth=1, seq_len=8, par=par)
    groups = parametrization.param_groups(model, par, lr=0.01, weight_decay=0.1, wd_scaling=True)
    decay = _decay_per_step(groups)
    assert math.isclose(decay["hidden"], 0.01 * 0.1 / 2.0)  # m^-1/2, m = 4: decays slower as width grows
    assert math.isclose(decay["input"], 0.01 * 0.1)
    assert all(g["weight_decay"] == 0.0 for g in groups if g["params"][0].ndim < 2)
    for wd_scaling, factor in ((False, 1.0), (True, 0.5)):
        indep = parametrization.param_groups(model, par, lr=0.01, weight_decay=1e-4, wd_mode="independent",
                                             wd_scaling=wd_scaling)
        assert math.isclose(_decay_per_step(indep)["hidden"], 1e-4 * factor)  # never grows with width


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("sp", {"wd_scaling": True}, "drop wd_scaling"),
        ("umup", {"wd_scaling": True}, "drop wd_scaling"),
        ("mup", {"per_layer_lr": True}, "per layer already"),
        ("sp", {"per_layer_lr": True, "optimizer": "sgd"}, "Adam exponents"),
        ("umup", {"optimizer": "sgd"}, "unit-scaled gradients"),
        ("mup", {"wd_mode": "lr_free"}, "expected one of coupled"),
    ],
)
def test_nonsense_combinations_are_rejected_in_one_line(name, kwargs, match):
    with pytest.raises(InputError, match=match) as info:
        parametrization.check_combination(name, **kwargs)
    assert "\n" not in str(info.value)
    parametrization.check_combination("sp", per_layer_lr=True, wd_scaling=True)  # the premise holds here


def test_mup_rescales_hidden_and_readout_biases_as_mup_does():
    torch.manual_seed(0)
    plain = MLP(in_features=8, n_classes=3, width=128, depth=1)
    torch.manual_seed(0)
    built = build_mlp(in_features=8, n_classes=3, width=128, depth=1, par=parametrization.make("mup", 128, 32))
    assert torch.equal(built.input.bias, plain.input.bias)  # fan_in fixed: untouched
    for name in ("hidden.0", "readout"):  # mup's rescale_linear_bias: x sqrt(fan_in mult)
        assert torch.allclose(built.get_submodule(name).bias, plain.get_submodule(name).bias * 2.0), name


@pytest.mark.parametrize("width", [64, 256])
def test_umup_is_unit_scaled_at_init_at_every_width(width):
    par = parametrization.make("umup", width, 32)
    torch.manual_seed(0)
    model = build_transformer(width=width, depth=2, seq_len=32, par=par)
    rms: dict[str, float] = {}

    def record(name):
        def hook(_module, _inputs, output) -> None:
            rms[name] = float(output.pow(2).mean().sqrt())

        return hook

    watched = [(n, m) for n, m in model.named_modules() if getattr(m, "role", None) in ("hidden", "readout")]
    watched += [(f"block{i}", b) for i, b in enumerate(model.blocks)]
    hooks = [m.register_forward_hook(record(n)) for n, m in watched]
    with torch.no_grad():
        model(torch.randint(0, 256, (4, 32)))
    for h in hooks:
        h.remove()
    for name, value in rms.items():
        if name.endswith("readout"):
            continue
        assert 0.5 < value < 2.0, (name, value)
    assert all(torch.allclose(m.weight.std(), torch.tensor(1.0), atol=0.1)
               for m in model.modules() if getattr(m, "role", None) == "hidden")


def test_umup_learning_rates_follow_the_paper():
    width, depth = 128, 2
    par = parametrization.make("umup", width, 32)
    model = build_transformer(width=width, depth=depth, seq_len=8, par=par)
    by_name = {n: g["lr"] for g in parametrization.param_groups(model, par, lr=1.0) for n in g["names"]}
    d = depth**-0.5
    assert math.isclose(by_name["tok_emb.weight"], width**-0.5)  # input: 1/sqrt(fan_out)
    assert math.isclose(by_name["blocks.0.attn.qkv.weight"], width**-0.5 * d)  # hidden: 1/sqrt(fan_in) x depth
    assert math.isclose(by_name["blocks.1.fc_out.weight"], (4 * width) ** -0.5 * d)
    assert math.isclose(by_name["blocks.0.ln1.weight"], d) and by_name["ln_f.weight"] == 1.0
    assert by_name["readout.weight"] == 1.0
    assert model.readout.multiplier == 1 / width and model.blocks[0].fc_out.multiplier == (4 * width) ** -0.5
    assert model.blocks[0].attn.scale == 1 / 16  # 1/d_head
    mlp = build_mlp(in_features=8, n_classes=3, width=width, depth=1, par=par)
    mlp_lrs = {n: g["lr"] for g in parametrization.param_groups(mlp, par, lr=1.0) for n in g["names"]}
    assert math.isclose(mlp_lrs["input.weight"], 8**-0.5)  # a Linear input: its fan_in, as unit_scaling.optim


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_umup_residual_branches_contribute_equally(depth):
    """u-μP App. G: all attention branches together, all MLP branches together and the
    embedding each make a third of the final stream's variance, equal within each kind."""
    taus = [t for pair in unit_scaling.residual_taus(depth) for t in pair]
    contributions = [1.0]  # the embedding's share of the stream's variance, then each branch's
    for tau in taus:
        keep = 1 / (1 + tau**2)
        contributions = [c * keep for c in contributions] + [tau**2 * keep]
    embedding, attn, mlp = contributions[0], contributions[1::2], contributions[2::2]
    assert math.isclose(embedding, 1 / 3)
    assert all(math.isclose(c, 1 / (3 * depth)) for c in attn + mlp)


def test_umup_ops_match_graphcore_unit_scaling():
    uu = pytest.importorskip("unit_scaling")
    from unit_scaling.core.functional import transformer_residual_scaling_rule

    rule = transformer_residual_scaling_rule()
    assert unit_scaling.residual_taus(3) == [(rule(2 * i, 6), rule(2 * i + 1, 6)) for i in range(3)]
    torch.manual_seed(0)
    x = torch.randn(4096)
    assert torch.allclose(uu.functional.gelu(x), torch.nn.functional.gelu(x) * unit_scaling.gelu_scale())
    q, k, v = (torch.randn(2, 4, 32, 16) for _ in range(3))
    ours = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1 / 16)
    ours = ours * unit_scaling.attention_scale(16, 32)
    assert torch.allclose(uu.functional.scaled_dot_product_attention(q, k, v, is_causal=True), ours, atol=1e-6)
    w, h = torch.randn(64, 128), torch.randn(8, 128)
    layer = parametrization.Parametrization("umup", 1.0)
    assert torch.allclose(uu.functional.linear(h, w, None), h @ w.T * layer.multiplier("hidden", 128), atol=1e-5)
    expected = h @ w.T * layer.multiplier("readout", 128)
    assert torch.allclose(uu.functional.linear_readout(h, w, None), expected, atol=1e-6)


def test_unknown_parametrization_names_the_choices():
    with pytest.raises(InputError, match="'xyz' is unknown; expected one of sp, mup"):
        parametrization.make("xyz", 64, 32)
