import importlib.resources

import pytest

from tunescale.sweep.plan import describe, plan
from tunescale.sweep.spec import SpecError, load_spec, parse_spec

GOOD = {
    "name": "s",
    "algorithm": "grid",
    "model": {"widths": [32, 64], "depths": 2},
    "budget": {"steps": 10},
    "space": {"lr": {"type": "log", "low": 1e-3, "high": 1e-1, "num": 3},
              "batch_size": {"type": "choice", "values": [8, 16]}},
}


def test_every_problem_is_reported_with_its_key():
    bad = {
        "name": "s",
        "algoritm": "grid",
        "concurrency": 0,
        "model": {"widths": [32, -1], "parametrisation": "mup"},
        "budget": {"steps": 10, "tokens": 100.0},
        "space": {"lr": {"type": "log", "low": 0, "high": 1}, "wd": {"type": "beta"}},
        "scheduler": {"type": "pbt"},
        "resources": {"gpus": 1.5},
    }
    with pytest.raises(SpecError) as err:
        parse_spec(bad, source="bad.toml")
    msg = str(err.value)
    assert "\n" not in msg
    for key in ("'algoritm'", "did you mean 'algorithm'", "'concurrency'", "'model.widths'",
                "did you mean 'model.parametrization'", "'budget'", "'space.lr.low'",
                "'space.wd.type'", "'scheduler.type'", "'resources.gpus'"):
        assert key in msg, key
    assert msg.startswith("bad.toml: 9 problems")


def test_grid_plan_is_deterministic_and_covers_every_width():
    spec = parse_spec(GOOD)
    first, second = plan(spec), plan(spec)
    assert [t.trial_id for t in first] == [t.trial_id for t in second]
    assert len(first) == 2 * 3 * 2
    assert len({t.trial_id for t in first}) == len(first)
    by_width = {w: sorted((t.config["lr"], t.config["batch_size"]) for t in first if t.config["width"] == w)
                for w in (32, 64)}
    assert by_width[32] == by_width[64]


def test_transfer_mode_needs_two_widths_and_sets_base_width():
    with pytest.raises(SpecError, match="'model.widths'"):
        parse_spec({**GOOD, "mode": "transfer", "model": {"widths": 32}})
    spec = parse_spec({**GOOD, "mode": "transfer"})
    assert spec.model.base_width == 32
    assert {t.config["base_width"] for t in plan(spec)} == {32}


def test_random_plan_changes_with_seed_and_stays_in_bounds():
    raw = {
        **GOOD,
        "algorithm": "random",
        "num_samples": 5,
        "space": {"lr": {"type": "log", "low": 1e-3, "high": 1e-1}, "hp_depth": {"type": "int", "low": 1, "high": 3}},
    }
    a, b = plan(parse_spec(raw)), plan(parse_spec({**raw, "seed": 1}))
    assert [t.trial_id for t in a] != [t.trial_id for t in b]
    assert all(1e-3 <= t.config["lr"] <= 1e-1 and t.config["hp_depth"] in (1, 2, 3) for t in a)


def test_early_stopping_is_a_carbs_switch():
    assert parse_spec({**GOOD, "algorithm": "carbs", "early_stopping": False}).early_stopping is False
    assert parse_spec({**GOOD, "algorithm": "carbs"}).early_stopping is True
    with pytest.raises(SpecError) as err:
        parse_spec({**GOOD, "early_stopping": "no"})
    assert "'early_stopping': expected true or false" in str(err.value)
    with pytest.raises(SpecError, match="'early_stopping': only carbs stops trials itself"):
        parse_spec({**GOOD, "early_stopping": False})


def test_shipped_tiny_spec_is_valid():
    path = importlib.resources.files("tunescale.sweep") / "specs" / "tiny.toml"
    spec = load_spec(path)
    assert spec.mode == "transfer" and len(plan(spec)) == 6


@pytest.mark.parametrize("parametrization", ["mup", "umup", "ntk", "mfp"])
def test_multi_width_sweep_shares_the_smallest_width_as_base(parametrization):
    from tunescale.trials import parametrization as parametrizations
    from tunescale.trials.models.transformer import build_transformer
    from tunescale.trials.train import resolve_config

    spec = parse_spec({**GOOD, "model": {"widths": [32, 128], "parametrization": parametrization}})
    assert spec.model.base_width == 32 and spec.model.base_width_defaulted
    assert any("base_width = 32: the smallest width" in line for line in describe(spec))
    for trial in plan(spec):  # what the trials actually get
        cfg = resolve_config({**trial.config, "lr": 1e-2})
        par = parametrizations.make(cfg["parametrization"], cfg["width"], cfg["base_width"])
        assert par.width_mult == cfg["width"] / 32
        if parametrization in ("mup", "mfp"):
            model = build_transformer(width=cfg["width"], depth=1, seq_len=8, par=par)
            assert model.readout.multiplier == 32 / cfg["width"]
    given = parse_spec({**GOOD, "model": {"widths": [32, 128], "parametrization": "mup", "base_width": 64}})
    assert given.model.base_width == 64 and "from the spec" in describe(given)[-1]
    sp = parse_spec(GOOD)  # SP has no multipliers: its trial configs (and ids) stay as they were
    assert sp.model.base_width is None and "base_width" not in plan(sp)[0].config
