from tunescale.trials.coord_check import run_coord_check


def test_mup_slopes_are_flat_and_sp_readout_grows(tmp_path):
    mup = run_coord_check("mup", widths=(32, 64, 128, 256), out_dir=tmp_path)
    assert set(mup.slopes) == {"embedding", "block0", "block1", "readout"}
    for layer, slope in mup.slopes.items():
        assert abs(slope) <= 0.15, (layer, slope)
    assert (tmp_path / "coord-mup.png").stat().st_size > 0
    sp = run_coord_check("sp", widths=(32, 64, 128, 256))
    assert sp.slopes["readout"] > 0.5
    assert sp.slopes["block1"] > 0.4
