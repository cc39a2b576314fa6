"""ASAB, the simulated robotic electrolyte formulation and analysis station.

Serves ``conductivity/two_electrode``, ``density/vibrating_tube_densimetry`` (with
viscosity) and ``electrolyte/flow`` (lab-science.md, "Tenants of the demonstrator"):

* it mixes from four stock solutions (:mod:`finales.lab.stocks`), so it offers only what
  they reach; a request outside their hull is mixed as the nearest reachable composition;
* the *actual* formulation deviates ~0.5-1 % from the target and is what the result reports;
* the cell is at ≈ 299.65 K whatever the request says (within the offered window);
* three repeats with 1-3 % scatter; occasionally a fit fails (fewer values, lower rating),
  rarely all three (``success: false``);
* 30-60 lab minutes per sample; flow jobs fill one of 8 vials of its output rack. A vial's
  place is free again once a courier has carried it away: when the rack is full, ASAB reads
  the broker's ``transport / transport_service`` results and frees every vial that one
  carried off successfully (the vial's location, which the flow result gives, names the
  slot and the electrolyte in it, so a trip from an earlier fill of the same slot does not
  count; a lost trip leaves the vial where it was). With no free vial even then, a flow
  request cannot be served now (the job fails and the request is released). ``collect(n)``
  frees a slot by hand.

Run it with ``finales tenant run finales.lab.asab:tenant`` (seed: ``FINALES_LAB_SEED``,
time scale: ``FINALES_LAB_TIME_SCALE``).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from finales.lab import physics, stocks
from finales.lab.base import SimulatedTenant, env_seed, formulation_limits, run_info
from finales.lab.clock import LabClock
from finales.lab.composition import Composition

CELL_TEMPERATURE_K = 299.65
CELL_TEMPERATURE_WINDOW_K = (294.15, 304.15)
SAMPLE_MINUTES = (30.0, 60.0)
FLOW_MINUTES = (15.0, 30.0)
REPEATS = 3
FORMULATION_DEVIATION = (0.005, 0.01)  # relative, per component
SCATTER = (0.01, 0.03)  # relative, per repeat
FIT_FAILURE_P = 0.08  # one or two of the three fits fail
RUN_FAILURE_P = 0.02  # all three fail
VIALS = 8
MAX_VOLUME_ML = 10.0
LOCATION = "ASAB, simulated laboratory"


@dataclass(frozen=True)
class ConductivitySample:
    """One conductivity measurement: the composition actually mixed, the cell temperature (K),
    the lab time it takes (s), the repeat values (S/m) and their ``meta`` block."""

    actual: Composition
    temperature: float
    duration_s: float
    values: list[float]
    meta: dict[str, Any]


class NoFreeVial(RuntimeError):
    """All output vials hold electrolytes nobody has collected yet."""


def vial_location(vial: int, reference: str) -> dict[str, str]:
    """Where the electrolyte ``reference`` waits: slot ``vial`` (1-based) of the output rack."""
    return {
        "address": LOCATION,
        "detail_1": "ASAB output rack",
        "detail_2": f"Vial {vial}: {reference}",
    }


class ASAB(SimulatedTenant):
    """The simulated ASAB robot (see the module docstring)."""

    NAME = "ASAB"

    def __init__(
        self,
        *,
        name: str | None = None,
        seed: int = 0,
        clock: LabClock | None = None,
        vials: int = VIALS,
        **tenant_options: Any,
    ) -> None:
        self._vials: list[str | None] = [None] * vials  # the reference of what each holds
        self._vials_lock = threading.Lock()
        self._trips_seen: set[str] = set()  # transport results already looked at
        super().__init__(name=name, seed=seed, clock=clock, **tenant_options)

    # ------------------------------------------------------------------ offers

    @staticmethod
    def formulation_limitations() -> list[dict[str, Any]]:
        """The amount fractions the stock solutions reach (their bounding box)."""
        lim = stocks.limits()
        return formulation_limits(ec=lim["EC"], emc=lim["EMC"], lipf6=lim["LiPF6"])

    def register(self) -> None:
        formulation = self.formulation_limitations()
        low, high = CELL_TEMPERATURE_WINDOW_K
        measured = {
            "formulation": formulation,
            "temperature": [None, {"min": low, "max": high}],
        }
        flow = {
            "electrolyte": {"formulation": formulation},
            "volume": [{"min": 0.1, "max": MAX_VOLUME_ML}],
        }
        serves = self.tenant.serves
        serves("conductivity", "two_electrode", limitations=measured)(self.measure_conductivity)
        serves("density", "vibrating_tube_densimetry", limitations=measured)(self.measure_density)
        serves("electrolyte", "flow", limitations=flow)(self.formulate)

    # ------------------------------------------------------------------ handlers

    def measure_conductivity(self, request: Any, ctx: Any) -> dict[str, Any]:
        sample = self.conductivity_sample(ctx.parameters["formulation"], self.rng(request))
        self.clock.sleep(sample.duration_s, ctx.stopping)
        ctx.log.info("measured %d conductivity values", len(sample.values))
        block = {"values": sample.values, "meta": sample.meta}
        return {
            "run_info": run_info(sample.actual, f"asab-{request.id}", "ASAB sample"),
            "conductivity": {**block, "temperature": round(sample.temperature, 3)},
        }

    def measure_density(self, request: Any, ctx: Any) -> dict[str, Any]:
        rng = self.rng(request)
        actual, rating = self._mix(ctx.parameters["formulation"], rng)
        temperature = CELL_TEMPERATURE_K + rng.gauss(0, 0.05)
        self.clock.sleep(60 * rng.uniform(*SAMPLE_MINUTES), ctx.stopping)
        rho, rho_meta = self._repeats(physics.density(actual, temperature), rating, rng, 0.001)
        eta, eta_meta = self._repeats(physics.viscosity(actual, temperature), rating, rng)
        block = {"temperature": round(temperature, 3)}
        return {
            "run_info": run_info(actual, f"asab-{request.id}", "ASAB sample"),
            "density": {"values": rho, "meta": rho_meta, **block},
            "viscosity": {"values": eta, "meta": eta_meta, **block},
        }

    def formulate(self, request: Any, ctx: Any) -> dict[str, Any]:
        rng = self.rng(request)
        parameters = ctx.parameters
        reference = f"asab-{request.id}"
        vial = self._take_vial(reference)
        try:
            actual, rating = self._mix(parameters["electrolyte"]["formulation"], rng)
            self.clock.sleep(60 * rng.uniform(*FLOW_MINUTES), ctx.stopping)
        except BaseException:
            self.collect(vial)
            raise
        volume = parameters["volume"] * (1 + rng.gauss(0, 0.01))
        return {
            "run_info": run_info(actual, reference, f"ASAB vial {vial}"),
            "electrolyte": {
                "formulation": actual.to_formulation(),
                "volume": round(volume, 4),
                "location": vial_location(vial, reference),
                "meta": {"success": True, "rating": rating},
            },
        }

    # ------------------------------------------------------------------ vials

    def _take_vial(self, reference: str) -> int:
        for look in (False, True):
            if look:
                self._collect_carried()
            with self._vials_lock:
                for i, holder in enumerate(self._vials):
                    if holder is None:
                        self._vials[i] = reference
                        return i + 1
        raise NoFreeVial(f"all {len(self._vials)} output vials are full: collect one first")

    def _collect_carried(self) -> int:
        """Free the vials a courier has carried away (see the module docstring); how many."""
        client = self.broker()
        if client is None:
            return 0
        carried = set()
        trips = client.iter_results(quantity="transport", method="transport_service")
        with self._vials_lock:
            new = [r for r in trips if r.id not in self._trips_seen]
            self._trips_seen.update(r.id for r in new)
        for result in new:
            origin = result.parameters.get("origin") or {}
            if result.data.get("success") and origin.get("address") == LOCATION:
                carried.add(origin.get("detail_2"))
        freed = 0
        with self._vials_lock:
            for i, holder in enumerate(self._vials):
                if holder is not None and vial_location(i + 1, holder)["detail_2"] in carried:
                    self._vials[i] = None
                    freed += 1
        return freed

    def collect(self, vial: int) -> None:
        """Empty vial number ``vial`` (1-based): its electrolyte was picked up."""
        with self._vials_lock:
            self._vials[vial - 1] = None

    @property
    def free_vials(self) -> int:
        with self._vials_lock:
            return sum(holder is None for holder in self._vials)

    # ------------------------------------------------------------------ simulation

    @classmethod
    def conductivity_sample(cls, formulation: Any, rng: random.Random) -> ConductivitySample:
        """One conductivity measurement of a requested formulation, without the waiting:
        what the handler reports, drawn from ``rng`` in the handler's order (so that an
        in-process benchmark sees exactly what a served request would)."""
        actual, rating = cls._mix(formulation, rng)
        temperature = CELL_TEMPERATURE_K + rng.gauss(0, 0.05)
        duration_s = 60 * rng.uniform(*SAMPLE_MINUTES)
        truth = physics.conductivity(actual, temperature)
        values, meta = cls._repeats(truth, rating, rng)
        return ConductivitySample(actual, temperature, duration_s, values, meta)

    @staticmethod
    def _mix(formulation: Any, rng: random.Random) -> tuple[Composition, int]:
        """The composition the robot actually makes for a requested formulation, and the
        rating it deserves (lower when the target was out of reach)."""
        target = Composition.from_formulation(formulation)
        reachable = stocks.nearest_reachable(target)
        missed = abs(reachable.x_ec - target.x_ec) + abs(reachable.x_lipf6 - target.x_lipf6)
        spread = rng.uniform(*FORMULATION_DEVIATION)
        parts = [
            x * (1 + rng.gauss(0, spread))
            for x in (reachable.x_ec, reachable.x_emc, reachable.x_lipf6)
        ]
        actual = Composition.of(*(max(0.0, x) for x in parts))
        return actual, (5 if missed < 1e-3 else 3)

    @staticmethod
    def _repeats(
        truth: float, rating: int, rng: random.Random, scatter: float | None = None
    ) -> tuple[list[float], dict[str, Any]]:
        sigma = scatter if scatter is not None else rng.uniform(*SCATTER)
        values = [max(0.0, truth * (1 + rng.gauss(0, sigma))) for _ in range(REPEATS)]
        roll = rng.random()
        if roll < RUN_FAILURE_P:
            return [], {"success": False, "rating": 0}
        if roll < RUN_FAILURE_P + FIT_FAILURE_P:
            kept = rng.randint(1, REPEATS - 1)
            return [round(v, 6) for v in values[:kept]], {"success": True, "rating": min(rating, 2)}
        if sigma > 0.02:
            rating = min(rating, 4)
        return [round(v, 6) for v in values], {"success": True, "rating": rating}


tenant = ASAB(seed=env_seed()).tenant
