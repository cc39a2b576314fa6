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

Run it with ``finales tenant run finales.lab.transport:tenant``.
"""

from __future__ import annotations

from typing import Any

from finales.lab.base import SimulatedTenant, env_seed

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

    def register(self) -> None:
        self.tenant.serves("transport", "transport_service")(self.carry)

    def carry(self, request: Any, ctx: Any) -> dict[str, Any]:
        rng = self.rng(request.id)
        p = ctx.parameters
        minutes = travel_minutes(p["origin"], p["destination"]) + HANDLING_MINUTES
        minutes *= 1 + rng.uniform(-JITTER, JITTER)
        self.clock.sleep(60 * minutes, ctx.stopping)
        executant = rng.choice(COURIERS)
        ctx.log.info("%s carried it in %.0f lab minutes", executant, minutes)
        return {"success": True, "actual_new_location": p["destination"], "executant": executant}


tenant = Courier(seed=env_seed()).tenant
