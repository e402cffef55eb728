"""The transformer STN: the plain proxy bit for bit at zero hyper-path, Delta-STN's linearization,
per-example label smoothing, and a tiny run of every variant through the trainable contract."""

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch.func import jvp

from tunescale.contract.errors import InputError
from tunescale.contract.schema import PARAMETRIZATIONS
from tunescale.scaling.columns import tuned_online
from tunescale.trials import parametrization
from tunescale.trials.models.transformer import build_transformer
from tunescale.trials.stn.lm import VARIANTS, train_stn_trial
from tunescale.trials.stn.transformer import TRANSFORMER_HYPERS, HyperTransformer, smoothed_loss

WIDTH, BASE, DEPTH, SEQ = 32, 16, 2, 12


def _pair(name: str, centred: bool = True):
    """The plain proxy and an STN built from the same seed (the STN's general weights are its own)."""
    par = parametrization.make(name, WIDTH, BASE)
    torch.manual_seed(0)
    plain = build_transformer(width=WIDTH, depth=DEPTH, seq_len=SEQ, par=par)
    torch.manual_seed(0)
    inner = build_transformer(width=WIDTH, depth=DEPTH, seq_len=SEQ, par=par)
    return plain, HyperTransformer(inner, par, 3, centred=centred)


@pytest.mark.parametrize("name", PARAMETRIZATIONS)
def test_zero_hyper_path_is_the_plain_proxy_bit_for_bit(name):
    plain, stn = _pair(name)
    idx = torch.randint(0, 256, (4, SEQ))
    want, _ = plain(idx)
    zero_rates = torch.zeros(4, len(TRANSFORMER_HYPERS))
    assert torch.equal(stn(idx, None, None, regularize=False), want)
    # Centred gates at ũ = u see h = 0: the response path adds exactly zero.
    assert torch.equal(stn(idx, zero_rates, torch.zeros(4, 3), regularize=False), want)
    # Every dropout at rate 0 keeps every unit and divides by 1.
    assert torch.equal(stn(idx, zero_rates, torch.zeros(4, 3), regularize=True), want)
    # The response weights follow the table as the weights they perturb do.
    assert stn.responses["readout"].weight.multiplier == plain.readout.multiplier
    assert stn.responses["0_fc_out"].weight.multiplier == plain.blocks[0].fc_out.multiplier


def test_nonzero_gate_moves_the_output_and_dropout_is_per_example():
    _, stn = _pair("mup")
    idx = torch.randint(0, 256, (4, SEQ))
    base = stn(idx, None, None, regularize=False)
    assert not torch.equal(stn(idx, None, torch.ones(4, 3), regularize=False), base)
    rates = torch.zeros(4, len(TRANSFORMER_HYPERS))
    rates[0, TRANSFORMER_HYPERS.index("resid_dropout")] = 0.5
    out = stn(idx, rates, None, regularize=True)
    assert not torch.equal(out[0], base[0]) and torch.equal(out[1:], base[1:])


def test_linearization_is_the_first_order_term_of_the_response():
    """f(w0) + J_w f·ΔW agrees with f(w0 + ΔW) to first order: the gap shrinks as |h|²."""
    _, stn = _pair("sp")
    idx = torch.randint(0, 256, (2, SEQ))
    base = stn(idx, None, None, regularize=False)
    gaps = []
    for size in (1e-1, 1e-2):
        h = torch.full((2, 3), size)

        def forward(t, h=h):
            return stn(idx, None, h, regularize=False, t=t, manual_attention=True)

        out, tangent = jvp(forward, (torch.zeros(()),), (torch.ones(()),))
        torch.testing.assert_close(out, base, rtol=1e-5, atol=1e-5)
        gaps.append((stn(idx, None, h, regularize=False) - (out + tangent)).abs().max().item())
    assert gaps[1] < gaps[0] / 30


def test_per_example_label_smoothing_matches_torch():
    logits, targets = torch.randn(3, 5, 256), torch.randint(0, 256, (3, 5))
    want = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), label_smoothing=0.2)
    torch.testing.assert_close(smoothed_loss(logits, targets, torch.full((3,), 0.2)), want)
    torch.testing.assert_close(smoothed_loss(logits, targets, torch.zeros(3)), smoothed_loss(logits, targets, None))


TINY = {"lr": 3e-3, "steps": 8, "width": 16, "depth": 1, "seq_len": 16, "batch_size": 4, "eval_batches": 1,
        "eval_every": 2, "train_bytes": 5000, "stn_steps_per_hyper": 1, "stn_warmup_frac": 0.25, "stn_hyper_lr": 0.1,
        "device": "cpu"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_runs_as_a_trial_and_reports_its_hyperparameters(variant):
    evals = []
    outcome = train_stn_trial({**TINY, "stn_variant": variant, "parametrization": "mup", "base_width": 8},
                              on_eval=evals.append)
    row = outcome.row
    assert row["status"] == "completed" and row["loss"] > 0 and row["flops"] > 0
    assert len(evals) == 4 and evals[-1]["eval_loss"] == row["loss"]
    metrics = {c["metric"] for c in outcome.curves}
    # the loss on data neither STN nor a search saw is a result, a curve point, not an hp_ setting column
    (test,) = [c for c in outcome.curves if c["metric"] == "test_loss"]
    assert test["value"] > 0 and test["step"] == TINY["steps"] and not any("test" in k for k in row)
    # fit-scaling reads a knob as the run's own estimate of its optimum only where the run tuned it
    tuned = set(tuned_online(pd.DataFrame([row])))
    assert tuned == (set() if variant == "fixed" else {f"hp_{n}" for n in TRANSFORMER_HYPERS})
    if variant == "fixed":
        assert row["hp_hyper_steps"] == 0 and row["hp_resid_dropout"] == 0.05
        assert not any(m.startswith("hp/") for m in metrics)
    else:
        assert row["hp_hyper_steps"] == 6 and row["hp_algorithm"] == "stn"
        assert {f"hp/{n}" for n in TRANSFORMER_HYPERS} <= metrics and "val_loss" in metrics
        assert row["hp_resid_dropout"] != row["hp_resid_dropout_init"]
        final = [c for c in outcome.curves if c["metric"] == "hp/resid_dropout"][-1]
        assert final["value"] == pytest.approx(row["hp_resid_dropout"])


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("stn_variant", "delta", "'stn_variant' = 'delta'"),
    ("stn_tune", "dropout", "'stn_tune' = 'dropout'"),
    ("resid_dropout", 0.0, "strictly inside"),
    ("model", "mlp", "transformer proxy"),
])
def test_bad_stn_settings_are_refused_with_the_key(key, value, needle):
    with pytest.raises(InputError, match=needle):
        train_stn_trial({**TINY, key: value})
