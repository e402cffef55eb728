"""Regularization vs scale from an STN sweep: one power law per tuned knob, h* = c · params^k.

    python benchmarks/stn_regularization_law.py runs/stn-widths [--knob resid_dropout ...]

Each STN trial's final value of a knob (its `hp_<knob>` column) is that run's estimate
of the optimum at its scale, so the optimum per scale is the mean over the seeds of a
width, with no sweep of the knob. `fit-scaling` fits laws only for lr, batch_size and
weight_decay from optima it estimates itself; this script feeds the STN optima to the
same pieces (`scaling.hp_laws.fit_power_law`, `scaling.validation.leave_largest_out`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tunescale.contract.store import read_trials  # noqa: E402
from tunescale.scaling.hp_laws import fit_power_law  # noqa: E402
from tunescale.scaling.validation import leave_largest_out  # noqa: E402
from tunescale.trials.stn.transformer import TRANSFORMER_HYPERS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="sweep directory of an algorithm = \"stn\" sweep")
    parser.add_argument("--knob", action="append", choices=TRANSFORMER_HYPERS)
    args = parser.parse_args()
    rows = read_trials(args.store, validated=True)
    rows = rows[(rows["status"] == "completed") & (rows["hp_algorithm"] == "stn")]
    for knob in args.knob or TRANSFORMER_HYPERS:
        column = f"hp_{knob}"
        if column not in rows.columns:
            continue
        per_scale = rows.groupby("params", as_index=False).agg(**{knob: (column, "mean"), "runs": (column, "size"),
                                                                   "width": ("width", "first")})
        print(f"\n{knob}: optimum per scale (mean of the seeds' final values)")
        for _, r in per_scale.iterrows():
            print(
                f"    width {int(r['width']):>4}  params {int(r['params']):>9}  {knob} {r[knob]:.4f}"
                f"  ({r['runs']} run(s))"
            )
        law = fit_power_law(
            per_scale[knob].to_numpy(), {"params": per_scale["params"].to_numpy()}, target=knob, n_bootstrap=1000
        )
        print(law.report())

        def refit(points, knob=knob):
            return fit_power_law(
                points[knob].to_numpy(), {"params": points["params"].to_numpy()}, target=knob, n_bootstrap=0
            )

        print(leave_largest_out(f"{knob} ~ params", per_scale, ("params",), knob, refit, kind="log10").report())


if __name__ == "__main__":
    main()
