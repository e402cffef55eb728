"""The 8x study: proxies up to width 32, a target 8x wider (256), all three laws verified on 2 CPU cores.

Run:  python benchmarks/study_8x.py [--out runs/study_8x] [--resume]

Runs `study/specs/study_cpu_8x.toml` end to end (`study.run.run_study`: lr x batch-size grid
and weight decay at every proxy scale, laws, prediction, the target trained at the predicted
triple and one-at-a-time grids around it; goal under ~45 minutes on 2 cores), then prints for
each of lr, batch size and weight decay: the loss at the predicted setting against the best of
its target grid (goal <= 0.5%), and once: the predicted against the achieved loss and the proxy
compute as a fraction of one target run. Numbers, not asserts.
"""

from __future__ import annotations

import argparse
import sys

from tunescale.analyses.verification import GOAL_PCT
from tunescale.study.run import run_study, spec_path

SPEC = "study_cpu_8x.toml"


def verdict_lines(result) -> list[str]:
    """The closing table of the 8x study, one line per hyperparameter and the totals."""
    v, pred = result.verdict, result.fit.prediction
    at = v.at_predicted
    lines = [f"{'hp':<13} {'law (interval)':<32} {'trained':>10} {'best of grid':>12} {'loss@pred':>10} "
             f"{'best loss':>10} {'gap %':>7}  goal <= {GOAL_PCT}%"]
    for hp, p in pred.hps.items():
        if p.setting is None:  # the weight-decay timescale: its λ is the weight_decay line
            continue
        law = f"{p.law.value:.4g} ({p.law.low:.3g} .. {p.law.high:.3g})" if p.law is not None else "no law"
        line = v.line(hp) if hp in v.gridded() else ()
        best = min(line, key=lambda r: r.loss) if line else None
        gap = v.gap_pct_of(hp) if best is not None else None
        lines.append(f"{hp:<13} {law:<32} {p.setting if p.setting is not None else '-':>10} "
                     f"{best.settings[hp] if best else '-':>12} {at.loss if at else float('nan'):>10.4f} "
                     f"{best.loss if best else float('nan'):>10.4f} "
                     f"{gap if gap is not None else float('nan'):>+7.3f}  "
                     f"{'met' if gap is not None and gap <= GOAL_PCT else 'not met' if gap is not None else '-'}")
    lines += [
        f"loss: predicted {pred.loss.value:.4f} ({pred.loss.low:.4f} .. {pred.loss.high:.4f}), achieved at the "
        f"predicted triple {at.loss if at else float('nan'):.4f}, best of all target runs "
        f"{v.best_of_grid.loss if v.best_of_grid else float('nan'):.4f} (gap {v.gap_pct or float('nan'):+.3f}%)",
        f"proxy compute = {v.compute_ratio:.3g} x one target run; wall {v.wall_s:.0f} s",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/study_8x")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    result = run_study(spec_path(SPEC), out=args.out, resume=args.resume)
    print(result.report())
    print("\n".join(verdict_lines(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
