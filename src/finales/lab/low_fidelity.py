"""The simulated low-fidelity model (the demonstrator's "AiiDA" tenant):
``conductivity/polynomial_interpolation`` by the Rahmanian polynomial
(:func:`finales.lab.physics.low_fidelity_conductivity`). Instant, deterministic, rating 2,
in S/m (the original reported S/cm, a factor-100 bug).

Run it with ``finales tenant run finales.lab.low_fidelity:tenant``.
"""

from __future__ import annotations

from typing import Any

from finales.lab import physics
from finales.lab.base import (
    ANY_FORMULATION,
    ROOM_TEMPERATURE_K,
    SimulatedTenant,
    env_seed,
    run_info,
)
from finales.lab.composition import Composition

RATING = 2
JOB_S = 1.0  # lab seconds


class LowFidelityModel(SimulatedTenant):
    """The simulated low-fidelity model (see the module docstring)."""

    NAME = "low_fidelity_model"
    CONCURRENCY = 4

    def register(self) -> None:
        limits = {
            "formulation": ANY_FORMULATION,
            "temperature": [None, {"min": 243.0, "max": 333.0}],
        }
        self.tenant.serves("conductivity", "polynomial_interpolation", limitations=limits)(
            self.predict
        )

    def predict(self, request: Any, ctx: Any) -> dict[str, Any]:
        p = ctx.parameters
        temperature = p.get("temperature") or ROOM_TEMPERATURE_K
        composition = Composition.from_formulation(p["formulation"])
        self.clock.sleep(JOB_S, ctx.stopping)
        kappa = physics.low_fidelity_conductivity(composition, temperature)
        return {
            "run_info": run_info(composition, f"model-{request.id}", "polynomial model"),
            "conductivity": {
                "values": [round(kappa, 6)],
                "meta": {"success": True, "rating": RATING},
                "temperature": temperature,
            },
        }


tenant = LowFidelityModel(seed=env_seed()).tenant
