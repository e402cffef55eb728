"""tunescale scaling: from a table of runs to hyperparameter and loss laws. Never imports torch or ray.

Notations
---------
N, D, C = 6·N·D   params, tokens, flops;  L  final loss;  h*  optimum of a hyperparameter at one scale

Public API (each fit returns a frozen result with predict(), intervals, report(), summary()):
`fit_optimum`, `fit_joint_optimum` (scaling.optima), `fit_power_law` (scaling.hp_laws),
`fit_loss_law` (scaling.loss_law), `load` (scaling.columns) and `fit_scaling` (scaling.fit).
"""

from tunescale.scaling.columns import ColumnMap, load
from tunescale.scaling.fit import ScalingFit, fit_scaling
from tunescale.scaling.hp_laws import PowerLawResult, fit_power_law
from tunescale.scaling.loss_law import LossLawResult, fit_loss_law
from tunescale.scaling.optima import (
    JointOptimumResult,
    OptimumResult,
    fit_joint_optimum,
    fit_optimum,
)

__all__ = [
    "ColumnMap",
    "JointOptimumResult",
    "LossLawResult",
    "OptimumResult",
    "PowerLawResult",
    "ScalingFit",
    "fit_joint_optimum",
    "fit_loss_law",
    "fit_optimum",
    "fit_power_law",
    "fit_scaling",
    "load",
]
