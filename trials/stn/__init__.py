"""Self-Tuning Networks (MacKay et al. 2019) and the Delta-STN centred variant (Bae & Grosse 2020).

Importing this package imports torch; `search/__init__.py` does not import it.
"""

from tunescale.trials.stn.hyperparams import HyperParameters, HyperSpec
from tunescale.trials.stn.layers import StnEmbedding, StnLinear
from tunescale.trials.stn.model import HyperMLP, mlp_hyper_names
from tunescale.trials.stn.trainer import RunResult, StnConfig, StnTrainer, fit_fixed, fit_stn

__all__ = [
    "HyperParameters",
    "HyperSpec",
    "StnLinear",
    "StnEmbedding",
    "HyperMLP",
    "mlp_hyper_names",
    "StnConfig",
    "StnTrainer",
    "RunResult",
    "fit_stn",
    "fit_fixed",
]
