"""Regularization vs scale from STN sweeps: run `sweep/specs/stn-law.toml` at several token budgets, then fit-scaling.

    python benchmarks/stn_regularization_law.py [--steps 150 300 600] [--store runs/stn-law] [-- FIT-SCALING OPTIONS]

Every budget is one sweep of the spec (Delta-STN runs at 5 widths x 3 seeds) in its own store,
`<store>/s<steps>`; a budget already stored is resumed, not rerun. The runs of every budget are
collected in `<store>/runs.parquet`, and `fit-scaling` reads it in this process: each knob the
runs tuned online becomes a law in params and tokens (mean of a scale's runs, bootstrap over
runs, leave-largest-out), written to `<store>/fit`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tunescale.cli import fit_scaling  # noqa: E402
from tunescale.contract.spec_file import read_toml  # noqa: E402
from tunescale.contract.store import read_trials  # noqa: E402
from tunescale.sweep.engine import run_sweep  # noqa: E402
from tunescale.sweep.spec import SpecError, parse_spec  # noqa: E402

SPEC = REPO / "sweep" / "specs" / "stn-law.toml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--steps", type=int, nargs="+", default=[150, 300, 600], help="token budgets, in train steps")
    parser.add_argument("--store", type=Path, default=Path("runs/stn-law"))
    parser.add_argument("--num-cpus", type=int, default=1)
    parser.add_argument("fit_args", nargs="*", help="more fit-scaling options, after --")
    args = parser.parse_args()
    raw = read_toml(args.spec, SpecError)
    stores = [args.store / f"s{steps}" for steps in args.steps]
    for steps, store in zip(args.steps, stores, strict=True):
        spec = parse_spec({**raw, "name": f"{raw['name']}-s{steps}", "storage": str(store), "budget": {"steps": steps}},
                          source=str(args.spec))
        run_sweep(spec, resume=True, num_cpus=args.num_cpus)
    runs = args.store / "runs.parquet"
    pd.concat([read_trials(s) for s in stores], ignore_index=True).to_parquet(runs)
    return fit_scaling.main([str(runs), "--out", str(args.store / "fit"), *args.fit_args])


if __name__ == "__main__":
    sys.exit(main())
