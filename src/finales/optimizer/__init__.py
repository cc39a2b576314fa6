"""The Bayesian optimiser tenant: maximise a quantity over EC/EMC/LiPF6 compositions.

It talks to the broker only through :class:`finales.client.FinalesClient`: it reads offers
(limitations) and results, and posts requests. See :mod:`.model` for the multi-fidelity
Gaussian-process surrogate and :mod:`.config` for the TOML file.

    from finales.optimizer import Optimizer, OptimizerConfig
    Optimizer(OptimizerConfig.from_toml("optimizer.toml"), client).run()

or ``python -m finales.optimizer optimizer.toml [--server URL] [--api-key KEY]``.
"""

from __future__ import annotations

from .config import OptimizerConfig, Pair
from .model import MultiFidelityModel, expected_improvement
from .optimizer import Optimizer, State, StepOutcome

__all__ = [
    "MultiFidelityModel",
    "Optimizer",
    "OptimizerConfig",
    "Pair",
    "State",
    "StepOutcome",
    "expected_improvement",
]
