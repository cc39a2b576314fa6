"""The simulated courier: ``transport / transport_service``.

In the demonstrator people carried vials and cells, told what to move by a chat and
answering "done" (lab-science.md). This courier walks instead of chatting: the trip takes
the travel time between the two places plus handling, then the object is where it was
asked to be. The travel times are ours (invented for a lab on one floor of one building):

| between | lab minutes |
|---|---|
| ASAB and AutoBASS | 20 |
| AutoBASS and the cycler | 10 |
| ASAB and the cycler | 25 |
| two places of one station, or unknown places at one address | 15 |
| different addresses (another site) | 24 h |

plus 5 minutes of handling, all ±20 %. Two couriers work at once (``CONCURRENCY``).

Lost transports (ours, a fault to survive): with ``loss_rate`` (default 0) a trip is lost
with that probability, drawn from the request's random stream; ``lose_next=n`` is a fault
drill that loses the next n trips whatever the rate. A lost trip takes its time like any
other and is reported the only way the transport result allows: ``success`` false,
``actual_new_location`` where the object was last seen (the origin, ``detail_2`` saying it
was lost) and the courier's note in ``executant``; a requester's default success test
(``success: false`` is a failure) then retries or gives up.

Run it with ``finales tenant run finales.lab.transport:tenant``.
"""

from __future__ import annotations

import threading
from typing import Any

from finales.lab.base import SimulatedTenant, env_seed
from finales.lab.clock import LabClock

STATIONS = ("asab", "autobass", "cycler")
TRAVEL_MINUTES = {
    frozenset({"asab", "autobass"}): 20.0,
    frozenset({"autobass", "cycler"}): 10.0,
    frozenset({"asab", "cycler"}): 25.0,
}
SAME_SITE_MINUTES = 15.0
OTHER_SITE_MINUTES = 24 * 60.0
HANDLING_MINUTES = 5.0
JITTER = 0.2
COURIERS = ("courier Ada", "courier Ben")


def station(location: dict[str, Any]) -> str | None:
    """Which station of the simulated lab a location names, if any."""
    text = " ".join(str(location.get(k) or "") for k in ("address", "detail_1")).lower()
    return next((s for s in STATIONS if s in text), None)


def travel_minutes(origin: dict[str, Any], destination: dict[str, Any]) -> float:
    """Lab minutes of walking from ``origin`` to ``destination`` (handling not included)."""
    a, b = station(origin), station(destination)
    if a is not None and b is not None and a != b:
        return TRAVEL_MINUTES[frozenset({a, b})]
    if a is not None and a == b:
        return SAME_SITE_MINUTES
    if origin["address"].strip().lower() == destination["address"].strip().lower():
        return SAME_SITE_MINUTES
    return OTHER_SITE_MINUTES


class Courier(SimulatedTenant):
    """The simulated courier (see the module docstring)."""

    NAME = "transport"
    CONCURRENCY = len(COURIERS)

    def __init__(
        self,
        *,
        name: str | None = None,
        seed: int = 0,
        clock: LabClock | None = None,
        loss_rate: float = 0.0,
        lose_next: int = 0,
        **tenant_options: Any,
    ) -> None:
        if not 0.0 <= loss_rate <= 1.0:
            raise ValueError(f"loss_rate must be within 0 and 1, not {loss_rate}")
        self.loss_rate = loss_rate
        self._lose_next = lose_next
        self._drill_lock = threading.Lock()
        self.lost = 0  # trips lost so far (for a report)
        super().__init__(name=name, seed=seed, clock=clock, **tenant_options)

    def register(self) -> None:
        self.tenant.serves("transport", "transport_service")(self.carry)

    def carry(self, request: Any, ctx: Any) -> dict[str, Any]:
        rng = self.rng(request)
        p = ctx.parameters
        minutes = travel_minutes(p["origin"], p["destination"]) + HANDLING_MINUTES
        minutes *= 1 + rng.uniform(-JITTER, JITTER)
        self.clock.sleep(60 * minutes, ctx.stopping)
        executant = rng.choice(COURIERS)
        if self._loses(rng.random()):
            ctx.log.warning("%s lost it on the way", executant)
            last_seen = {**p["origin"], "detail_2": f"lost in transit by {executant}"}
            note = f"{executant} (lost on the way to {describe(p['destination'])})"
            return {"success": False, "actual_new_location": last_seen, "executant": note}
        ctx.log.info("%s carried it in %.0f lab minutes", executant, minutes)
        return {"success": True, "actual_new_location": p["destination"], "executant": executant}

    def _loses(self, draw: float) -> bool:
        """Whether this trip is lost: the drill's count first, then the rate."""
        with self._drill_lock:
            lost = self._lose_next > 0 or draw < self.loss_rate
            self._lose_next = max(0, self._lose_next - 1)
            self.lost += lost
            return lost


def describe(location: dict[str, Any]) -> str:
    """A location in words, most specific first."""
    parts = [location.get(k) for k in ("detail_2", "detail_1", "address")]
    return ", ".join(str(x) for x in parts if x)


tenant = Courier(seed=env_seed()).tenant
