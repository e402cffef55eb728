"""matplotlib for files only, set up in this one place for every figure tunescale draws.

The Agg backend needs no display (CI, a headless GPU box). pyplot is imported when a
figure is drawn, not when a module that draws is imported, so `fit-scaling` and the
store commands start fast.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from tunescale.contract.atomic import replacing


def pyplot():
    """`matplotlib.pyplot` on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, paths: Sequence[str | os.PathLike], **savefig) -> None:
    """Write `fig` to each path (the format follows its suffix), each file whole or not at all
    (`contract.atomic`), then close it. `savefig`: matplotlib's options (dpi, bbox_inches)."""
    for path in paths:
        with replacing(path) as tmp:
            fig.savefig(tmp, **savefig)
    pyplot().close(fig)
