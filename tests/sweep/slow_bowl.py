"""The sweep spec the process-level sweep tests run: a grid over lr of the synthetic bowl,
slowed per evaluation so a test can act (interrupt, kill, inspect sockets) mid-sweep."""

from __future__ import annotations

from pathlib import Path


def write_spec(tmp_path: Path, name: str, *, sleep_s: float, low: float = 1e-4, high: float = 1e-1,
               num: int = 8) -> Path:
    """`tmp_path/<name>.toml`, storing into `tmp_path/run`."""
    path = tmp_path / f"{name}.toml"
    path.write_text(f"""
name = "{name}"
algorithm = "grid"
trainable = "tunescale.trials.synthetic:quadratic_trial"
storage = "{tmp_path / 'run'}"
concurrency = 2
[model]
widths = 16
[budget]
steps = 10
[space.lr]
type = "log"
low = {low}
high = {high}
num = {num}
[fixed]
hp_sleep_s = {sleep_s}
""")
    return path
