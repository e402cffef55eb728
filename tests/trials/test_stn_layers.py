"""STN layers reduce to plain layers when the hyperparameter path is zeroed."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tunescale.trials.stn import HyperMLP, StnEmbedding, StnLinear, mlp_hyper_names

torch.set_num_threads(1)


def _plain_copy(layer: StnLinear) -> nn.Linear:
    plain = nn.Linear(layer.general.in_features, layer.general.out_features)
    plain.load_state_dict(layer.general.state_dict())
    return plain


@settings(max_examples=25, deadline=None)
@given(
    d_in=st.integers(1, 24),
    d_out=st.integers(1, 24),
    n_hyper=st.integers(1, 5),
    batch=st.integers(1, 6),
    rank=st.one_of(st.none(), st.integers(1, 8)),
    seq=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_zeroed_gate_equals_plain_linear(d_in, d_out, n_hyper, batch, rank, seq, seed):
    torch.manual_seed(seed)
    layer = StnLinear(d_in, d_out, n_hyper, response_rank=rank)
    with torch.no_grad():
        layer.gate.weight.zero_()
        layer.gate.bias.zero_()
    x = torch.randn(batch, 3, d_in) if seq else torch.randn(batch, d_in)
    h = torch.randn(batch, n_hyper) * 5
    assert torch.equal(layer(x, h), _plain_copy(layer)(x))


def test_centred_layer_at_current_hyperparameters_equals_plain_linear():
    # Delta-STN: the gate sees ũ - u, so at ũ = u the response path vanishes whatever the gate weights.
    torch.manual_seed(0)
    layer = StnLinear(7, 5, 3, centred=True)
    assert layer.gate.bias is None
    x = torch.randn(4, 7)
    assert torch.equal(layer(x, torch.zeros(4, 3)), _plain_copy(layer)(x))
    assert not torch.equal(layer(x, torch.ones(4, 3)), _plain_copy(layer)(x))


def test_gate_bends_the_output_per_example():
    torch.manual_seed(0)
    layer = StnLinear(6, 4, 2)
    x = torch.randn(1, 6).expand(2, 6)
    h = torch.tensor([[0.0, 0.0], [3.0, -3.0]])
    out = layer(x, h)
    assert not torch.allclose(out[0], out[1])


def test_zeroed_gate_embedding_equals_plain_embedding():
    torch.manual_seed(0)
    emb = StnEmbedding(11, 6, 2)
    with torch.no_grad():
        emb.gate.weight.zero_()
        emb.gate.bias.zero_()
    plain = nn.Embedding(11, 6)
    plain.load_state_dict(emb.general.state_dict())
    tokens = torch.randint(0, 11, (3, 5))
    assert torch.equal(emb(tokens, torch.randn(3, 2)), plain(tokens))


def test_response_rank_is_used_only_where_cheaper():
    assert isinstance(StnLinear(256, 256, 3, response_rank=32).response, nn.Sequential)
    assert isinstance(StnLinear(32, 256, 3, response_rank=32).response, nn.Linear)


def test_stn_mlp_with_zeroed_gates_equals_plain_mlp():
    torch.manual_seed(0)
    names = mlp_hyper_names(2)
    stn = HyperMLP(8, (16, 12), 3, names, stn=True)
    plain = HyperMLP(8, (16, 12), 3, names, stn=False)
    with torch.no_grad():
        for s_layer, p_layer in zip(stn.layers, plain.layers, strict=True):
            s_layer.gate.weight.zero_()
            s_layer.gate.bias.zero_()
            p_layer.load_state_dict(s_layer.general.state_dict())
    x = torch.randn(5, 8)
    values = torch.rand(5, len(names))
    assert torch.equal(
        stn(x, values, torch.randn(5, len(names)), regularize=False),
        plain(x, values, None, regularize=False),
    )
