"""matplotlib for files only, set up in this one place for every figure tunescale draws.

The Agg backend needs no display (CI, a headless GPU box). pyplot is imported when a
figure is drawn, not when a module that draws is imported, so `fit-scaling` and the
store commands start fast.
"""

from __future__ import annotations


def pyplot():
    """`matplotlib.pyplot` on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
