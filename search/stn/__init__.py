"""Self-Tuning Networks (MacKay et al. 2019) and the Delta-STN centred variant (Bae & Grosse 2020).

Importing this package imports torch; `search/__init__.py` does not import it.
"""

from search.stn.hyperparams import HyperParameters, HyperSpec
from search.stn.layers import StnEmbedding, StnLinear
from search.stn.model import HyperMLP, mlp_hyper_names
from search.stn.trainer import RunResult, StnConfig, StnTrainer, fit_fixed, fit_stn

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
