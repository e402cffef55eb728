"""`tunescale stn SPEC` end to end: a real (tiny) run lands in the store with curves and a figure."""

import pytest

from tunescale.cli.main import main
from tunescale.contract.store import read_curves, read_trials
from tunescale.trials.stn.run import load_spec

SPEC = """
name = "stn-test"
out = "{out}"

[train]
hidden = [32]
epochs = 3
batch_size = 250
warmup_epochs = 1
train_steps_per_hyper = 1
hyper_lr = 0.1
centred = true

[hyper.dropout_1]
low = 0.0
high = 0.9
init = 0.2

[hyper.cutout]
low = 0
high = 8
init = 2
discrete = true
"""


def test_stn_command_writes_trial_curves_and_figure(tmp_path, capsys):
    spec = tmp_path / "stn.toml"
    spec.write_text(SPEC.format(out=tmp_path / "run"))
    assert main(["stn", str(spec), "--seed", "3"]) == 0
    assert "stn-test-seed3: completed" in capsys.readouterr().out
    row = read_trials(tmp_path / "run", validated=True).iloc[0]
    assert row["trial_id"] == "stn-test-seed3" and row["seed"] == 3
    assert row["hp_algorithm"] == "stn" and row["hp_centred"]
    assert 0.0 <= row["hp_dropout_1"] <= 0.9 and float(row["hp_cutout"]).is_integer()
    assert row["tokens"] == 3 * 1000 and row["flops"] > 0
    curves = read_curves(tmp_path / "run")
    metrics = set(curves["metric"])
    assert {"hp/dropout_1", "hp/cutout", "hp_scale/dropout_1", "train_loss", "val_loss"} <= metrics
    hp = curves[curves["metric"] == "hp/dropout_1"].sort_values("step")
    assert hp["step"].tolist() == [0, 4, 8, 12]
    assert hp["value"].iloc[-1] == pytest.approx(row["hp_dropout_1"])
    assert (tmp_path / "run" / "stn-test.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('nmae = "x"', "'nmae': unknown key; did you mean 'name'?"),
        ("[train]\nepochs = 'ten'", "'train.epochs': expected an integer >= 0, got 'ten'"),
        ("[train]\nlearning_rate = 1.0", "'train.learning_rate': unknown key"),
        ("[hyper.dropout_9]\nlow = 0.0\nhigh = 0.5\ninit = 0.1", "'hyper.dropout_9': not a hyperparameter"),
        ("[hyper.dropout_1]\nlow = 0.0\nhigh = 0.5", "'hyper.dropout_1.init': expected a number, got None"),
        ("[train\n", "not valid TOML"),
        ("train = 5", "'train': expected a table [train], got int"),
        ("hyper = 5", "'hyper': expected a table [hyper], got int"),
        ("[train]\nresponse_rank = -3", "'train.response_rank': expected an integer >= 1"),
        ("[hyper.dropout_1]\nlow = 0.0\nhigh = 5.0\ninit = 2.0", "a dropout rate needs 0 <= low < high <= 1"),
        ('name = "../../../tmp/x"', "'name': use letters, digits"),
    ],
)
def test_bad_specs_exit_2_with_one_line(tmp_path, capsys, text, needle):
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    assert main(["stn", str(spec)]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_every_problem_of_a_spec_is_listed_at_once(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text('nmae = "x"\n[train]\nepochs = 0\nresponse_rank = 0\n')
    assert main(["stn", str(spec)]) == 2
    err = capsys.readouterr().err
    assert all(key in err for key in ("'nmae'", "'train.response_rank'", "'train'"))


def test_out_that_is_a_file_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    spec = tmp_path / "s.toml"
    spec.write_text(f'out = "{tmp_path / "taken"}"\n')
    assert main(["stn", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "'out':" in err and "is a file" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("key, under", [("out", ""), ("out", "run"), ("figure", "f.png")])
def test_out_or_figure_that_cannot_be_written_is_refused_before_training(tmp_path, capsys, unwritable_dir, key, under):
    spec = tmp_path / "s.toml"
    spec.write_text(f'{key} = "{unwritable_dir / under}"\n')
    assert main(["stn", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"'{key}': {unwritable_dir} cannot be written" in err and err.count("\n") == 1, err


def test_missing_spec_file_is_one_line(tmp_path, capsys):
    assert main(["stn", str(tmp_path / "nope.toml")]) == 2
    assert "no such spec file" in capsys.readouterr().err


def test_default_spec_tunes_every_mlp_hyperparameter(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text("[train]\nhidden = [16, 16, 16]\n")
    names = [s.name for s in load_spec(spec).specs]
    assert names == ["cutout", "input_noise", "input_dropout", "dropout_1", "dropout_2", "dropout_3"]
