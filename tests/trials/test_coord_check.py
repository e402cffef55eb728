import json

from tunescale.trials.coord_check import run_coord_check

LAYERS = {"embedding", "readout"} | {f"{kind}{i}" for kind in ("attn_logits", "mlp_hidden", "block") for i in (0, 1)}


def test_mup_slopes_are_flat_and_sp_updates_grow(tmp_path):
    mup = run_coord_check("mup", widths=(32, 64, 128, 256), out_dir=tmp_path)
    assert set(mup.slopes) == set(mup.delta_slopes) == LAYERS
    for layer in LAYERS:
        assert abs(mup.slopes[layer]) <= 0.15, (layer, mup.slopes[layer])
        assert abs(mup.delta_slopes[layer]) <= 0.2, (layer, mup.delta_slopes[layer])
    assert (tmp_path / "coord-mup.png").stat().st_size > 0
    saved = json.loads((tmp_path / "coord-mup.json").read_text())
    assert saved["delta_slopes"] == mup.delta_slopes and set(saved["delta"]) == LAYERS
    sp = run_coord_check("sp", widths=(32, 64, 128, 256))
    assert sp.slopes["readout"] > 0.5
    assert sp.slopes["block1"] > 0.4
    for layer in ("attn_logits0", "mlp_hidden0", "block1", "readout"):  # |h_t - h_0| grows with width
        assert sp.delta_slopes[layer] > 0.5, (layer, sp.delta_slopes[layer])
