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
import random
from dataclasses import dataclass
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
        p = ctx.parameters
        temperature = p.get("temperature") or ROOM_TEMPERATURE_K
        run = simulation(p["formulation"], temperature, self.rng(request))
        self.clock.sleep(run.duration_s, ctx.stopping)
        block = {"meta": {"success": True, "rating": RATING}, "temperature": temperature}
        return {
            "run_info": run_info(run.simulated, f"md-{request.id}", "MD cell"),
            "conductivity": {"values": [round(run.conductivity, 6)], **block},
            "density": {"values": [round(run.density, 5)], **block},
            "number_molecules_per_component": run.counts,
        }


@dataclass(frozen=True)
class Simulation:
    """One MD run: the cell simulated (whole molecules), its lab time (s), the conductivity
    (S/m) and density (g/mL) it yields."""

    simulated: Composition
    counts: dict[str, int]
    duration_s: float
    conductivity: float
    density: float


def simulation(formulation: Any, temperature_k: float, rng: random.Random) -> Simulation:
    """One MD run of a requested formulation, without the waiting: what the tenant reports,
    drawn from ``rng`` in the handler's order (in-process benchmarks use it)."""
    counts = molecule_counts(Composition.from_formulation(formulation))
    simulated = Composition.of(counts["EC"], counts["EMC"], counts["LiPF6"])
    duration_s = 3600 * rng.uniform(*JOB_HOURS)
    sigma = rng.uniform(*NOISE)
    kappa = physics.conductivity(simulated, temperature_k) * bias(simulated, temperature_k)
    kappa = max(0.0, kappa * (1 + rng.gauss(0, sigma)))
    rho = physics.density(simulated, temperature_k) * (1 + rng.gauss(0, 0.01))
    return Simulation(simulated, counts, duration_s, kappa, rho)


tenant = MolecularDynamics(seed=env_seed()).tenant
