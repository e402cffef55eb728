"""Run inventory: trials by status and compute spent, proxies vs target.

Budget accounting: total proxy FLOPs against the compute of one target run
(6·N·D at the target), the ratio the muTransfer paper puts at 7% for GPT-3 6.7B.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tunescale.analyses.figures import Section, new_figure, save, script_main
from tunescale.analyses.rundir import StudyRun
from tunescale.contract.schema import STATUSES
from tunescale.study.results import PROXIES, TARGET


def make(run: StudyRun, out_dir: Path) -> Section:
    v = run.verdict
    fig, (ax_n, ax_c) = new_figure(ncols=2, width=4.2, height=3.2)
    stages = [PROXIES, TARGET]
    bottom = [0, 0]
    for status in STATUSES:
        counts = [v.stages[s].by_status.get(status, 0) for s in stages]
        if any(counts):
            ax_n.bar(stages, counts, bottom=bottom, label=status)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax_n.set_ylabel("trials")
    ax_n.legend(fontsize=7)
    labels = ["proxies (all)", "target grid (all)", "one target run"]
    ax_c.bar(labels, [v.stages[PROXIES].flops, v.stages[TARGET].flops, v.target_run_flops], color="tab:gray")
    ax_c.set_yscale("log")
    ax_c.set_ylabel("training FLOPs")
    ax_c.tick_params(axis="x", labelsize=7)
    rows = []
    for s in stages:
        t = v.stages[s]
        rows.append([s, t.trials, *[t.by_status.get(st, 0) for st in STATUSES], t.flops, t.wall_time_s])
    ratio = v.compute_ratio
    numbers = {s: v.stages[s].to_json() for s in stages} | {"proxy_to_target_run_flops": ratio}
    return Section(
        title="Run inventory and budget",
        caption=f"Trials by status and compute spent. Proxy compute / one target run's compute = "
        f"{ratio:.3g} ({100 * ratio:.3g}%).",
        figures=[save(fig, out_dir, "inventory")],
        header=["stage", "trials", *STATUSES, "FLOPs", "wall s"],
        rows=rows,
        numbers=numbers,
    )


if __name__ == "__main__":
    sys.exit(script_main(make, __doc__))
