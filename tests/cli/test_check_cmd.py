import json

from tunescale.cli.main import main
from tunescale.contract.store import read_trials
from tunescale.trials.transfer_check import run_transfer_check


def test_coord_check_command_prints_slopes_and_writes_figure(tmp_path, capsys):
    assert main(["coord-check", "--parametrization", "mup", "--widths", "32,64", "--steps", "2",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "readout" in out and (tmp_path / "coord-mup.png").exists()
    assert set(json.loads((tmp_path / "coord-mup.json").read_text())["slopes"]) >= {"readout"}


def test_check_commands_reject_misuse_with_one_line(tmp_path, capsys):
    assert main(["coord-check", "--parametrization", "xyz", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'xyz' is unknown" in err
    assert main(["transfer-check", "--widths", "32,sixty", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expected comma-separated integers" in err
    assert main(["transfer-check", "--widths", "32", "--out", str(tmp_path)]) == 2
    assert ">= 2 widths" in capsys.readouterr().err


def test_transfer_check_end_to_end_stores_fits_plots_and_resumes(tmp_path):
    kwargs = {
        "parametrizations": ("sp", "mup"),
        "widths": (32, 64),
        "lrs": (1e-3, 4e-3, 1.6e-2, 6.4e-2),
        "trial": {"steps": 12, "seq_len": 32, "batch_size": 8, "eval_batches": 2},
    }
    seen = []
    result = run_transfer_check(tmp_path, on_trial=seen.append, **kwargs)
    assert len(seen) == 16 and len(read_trials(tmp_path / "runs", validated=True)) == 16
    assert set(result.drift_decades) == {"sp", "mup"}
    assert all(d >= 0 for d in result.drift_decades.values())
    assert {(o.parametrization, o.width) for o in result.optima} == {
        (p, w) for p in ("sp", "mup") for w in (32, 64)
    }
    # both parametrizations are the same model at the base width
    base = {o.parametrization: o.value for o in result.optima if o.width == 32}
    assert base["sp"] == base["mup"]
    assert (tmp_path / "transfer.png").stat().st_size > 0
    assert json.loads((tmp_path / "transfer.json").read_text())["drift_decades"] == result.drift_decades
    again = []
    run_transfer_check(tmp_path, on_trial=again.append, **kwargs)
    assert again == []  # every trial was already in the store


def test_weight_decay_transfer_check_compares_rules_per_variant(tmp_path):
    result = run_transfer_check(
        tmp_path, parametrizations=("mup@coupled_group", "mup", "sp+plr"), hp="weight_decay",
        widths=(32, 64), lrs=(0.1, 1.0, 10.0),
        trial={"model": "mlp", "depth": 1, "steps": 10, "batch_size": 32, "lr": 1e-2},
    )
    assert result.hp == "weight_decay" and set(result.drift_decades) == {"mup@coupled_group", "mup", "sp+plr"}
    base = {o.parametrization: o.value for o in result.optima if o.width == 32}
    assert base["mup@coupled_group"] == base["mup"]  # the two rules agree at the base width
    rows = read_trials(tmp_path / "runs", validated=True).set_index("trial_id")
    assert rows.loc["sp+plr-w64-wd1.0000e+00", "hp_per_layer_lr"]
    assert rows.loc["mup@coupled_group-w64-wd1.0000e+00", "hp_wd_mode"] == "coupled_group"


def test_transfer_check_rejects_unknown_variants_and_a_missing_lr(tmp_path, capsys):
    assert main(["transfer-check", "--parametrizations", "sp+xyz", "--out", str(tmp_path)]) == 2
    assert "'+plr'" in capsys.readouterr().err
    assert main(["transfer-check", "--parametrizations", "mup@lr_free", "--out", str(tmp_path)]) == 2
    assert "not one of coupled" in capsys.readouterr().err
    assert main(["transfer-check", "--hp", "weight_decay", "--out", str(tmp_path)]) == 2
    assert "--lr" in capsys.readouterr().err
