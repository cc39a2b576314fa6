"""The simulated molecular-dynamics tenant: ``conductivity/molecular_dynamics`` (+ density).

Classical MD of a few hundred molecules gets conductivity trends but not their level: a
systematic bias (a factor 0.5-2, smooth in composition) and 10-20 % noise from the finite
trajectory (lab-science.md). The bias function below is *ours* (invented, documented as
such). The simulated cell holds whole molecules, so the formulation actually simulated is
the requested one rounded to molecule counts, and is reported. Hours of lab time per job.

Run it with ``finales tenant run finales.lab.molecular_dynamics:tenant``.
"""

from __future__ import annotations

import math
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

JOB_HOURS = (3.0, 8.0)
NOISE = (0.10, 0.20)  # relative standard deviation per job
MOLECULES = 600
RATING = 3
TEMPERATURE_WINDOW_K = (243.15, 353.15)


def bias(composition: Composition, temperature_k: float) -> float:
    """The MD force field's systematic factor on the conductivity (ours, invented):
    exp(0.45·sin(2.2·m + 0.6) + 0.35·tanh(4·(w_EC - 0.3)) + 0.004·(T - 298.15)), clipped
    to [0.5, 2]. Smooth, so that a multi-fidelity model can learn it."""
    m, w = composition.molality, composition.w_ec
    log_b = 0.45 * math.sin(2.2 * m + 0.6) + 0.35 * math.tanh(4 * (w - 0.3))
    log_b += 0.004 * (temperature_k - ROOM_TEMPERATURE_K)
    return min(2.0, max(0.5, math.exp(log_b)))


def molecule_counts(composition: Composition, total: int = MOLECULES) -> dict[str, int]:
    """Whole molecules per component of a cell of about ``total`` molecules."""
    counts = {
        "EC": round(composition.x_ec * total),
        "EMC": round(composition.x_emc * total),
        "LiPF6": round(composition.x_lipf6 * total),
    }
    if composition.x_lipf6 > 0 and counts["LiPF6"] == 0:
        counts["LiPF6"] = 1
    return counts


class MolecularDynamics(SimulatedTenant):
    """The simulated MD tenant (see the module docstring)."""

    NAME = "molecular_dynamics"
    CONCURRENCY = 4

    def register(self) -> None:
        low, high = TEMPERATURE_WINDOW_K
        limits = {"formulation": ANY_FORMULATION, "temperature": [None, {"min": low, "max": high}]}
        self.tenant.serves("conductivity", "molecular_dynamics", limitations=limits)(self.simulate)

    def simulate(self, request: Any, ctx: Any) -> dict[str, Any]:
        rng = self.rng(request.id)
        p = ctx.parameters
        temperature = p.get("temperature") or ROOM_TEMPERATURE_K
        counts = molecule_counts(Composition.from_formulation(p["formulation"]))
        simulated = Composition.of(counts["EC"], counts["EMC"], counts["LiPF6"])
        self.clock.sleep(3600 * rng.uniform(*JOB_HOURS), ctx.stopping)
        sigma = rng.uniform(*NOISE)
        kappa = physics.conductivity(simulated, temperature) * bias(simulated, temperature)
        kappa = max(0.0, kappa * (1 + rng.gauss(0, sigma)))
        rho = physics.density(simulated, temperature) * (1 + rng.gauss(0, 0.01))
        meta = {"success": True, "rating": RATING}
        return {
            "run_info": run_info(simulated, f"md-{request.id}", "MD cell"),
            "conductivity": {"values": [round(kappa, 6)], "meta": meta, "temperature": temperature},
            "density": {"values": [round(rho, 5)], "meta": meta, "temperature": temperature},
            "number_molecules_per_component": counts,
        }


tenant = MolecularDynamics(seed=env_seed()).tenant
