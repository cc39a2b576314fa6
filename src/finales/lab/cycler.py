"""The simulated battery cycler: ``cycling_channel / service`` and ``capacity / cycling``.

Behaviour (lab-science.md, "Tenants of the demonstrator"; what is ours says so):

* 64 channels, of which 24 are usable (ours: the first three of each block of eight);
* ``cycling_channel / service`` reserves channels: ``success`` false when too few are free;
  a reservation's unused channels go back to the pool when it has not been used for
  ``RESERVATION_HOLD_H`` (48) lab hours (ours);
* ``capacity / cycling`` puts one cell on a channel of its reservation (or any free channel
  when the reservation is unknown or expired; with none free the request is released, to be
  served later) and runs the standard protocol: a 6 h rest, formation cycles (3 at C/10 unless
  asked otherwise), then ``number_cycles`` cycles at 1C/1C with a CV step (~2.2 h each), or
  fewer when the cell reaches its end of life (80 %) first. With 40 cycles the result comes
  6-7 lab days after the start, as in the demonstrator; more cycles give full-life data.
* the result lists, per cycle after formation, the charge and discharge capacity (Ah,
  alternately), and the Severson-style features of cycle 40 against cycle 10
  (:func:`finales.lab.cycle_life.features`);
* a channel can fault mid-run (``FAULT_RATE_PER_CYCLE``, ours: about 2 % of 40-cycle runs):
  the cell is lost; the result gives the cycles before the fault, no features, and the cell's
  location says "lost: channel N fault at cycle k" (the capacity/cycling schema has no
  success flag; see docs/lab.md).

The cell's truth (:mod:`finales.lab.cycle_life`) comes from its electrolyte, read from its
assembly result in the broker (:mod:`finales.lab.records`); a cell the broker does not know
is taken to hold the reference electrolyte, 1 M LiPF6 in EC:EMC 3:7 (w/w). Its random
draws are keyed by seed and cell id, so a cell is the same cell whenever it is cycled.

Run it with ``finales tenant run finales.lab.cycler:tenant``.
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from finales.lab import cycle_life
from finales.lab.base import SimulatedTenant, env_seed
from finales.lab.clock import LabClock
from finales.lab.composition import Composition
from finales.lab.records import Records
from finales.tenant import Release

CHANNELS = 64
USABLE_CHANNELS = tuple(c for c in range(CHANNELS) if c % 8 < 3)  # 24
RESERVATION_HOLD_H = 48.0
FAULT_RATE_PER_CYCLE = 5e-4
REST_H = 6.0
FORMATION_CYCLES = 3
FORMATION_C_RATE = 0.1
CV_STEP_H = 0.2
DURATION_JITTER = 0.03
LOCATION = "Cycler room, simulated laboratory"
REFERENCE_ELECTROLYTE = Composition.from_molality(1.1, 0.3)  # ~1 M LiPF6 in EC:EMC 3:7


@dataclass
class Reservation:
    """Channels held for one requester until used or expired (lab seconds)."""

    id: str
    channels: list[int]
    last_used: float
    in_use: list[int] = field(default_factory=list)


class Cycler(SimulatedTenant):
    """The simulated 64-channel cycler (see the module docstring)."""

    NAME = "cycler"
    CONCURRENCY = len(USABLE_CHANNELS) + 4  # every usable channel busy, reservations still served

    def __init__(
        self,
        *,
        name: str | None = None,
        seed: int = 0,
        clock: LabClock | None = None,
        fault_rate_per_cycle: float = FAULT_RATE_PER_CYCLE,
        reservation_hold_h: float = RESERVATION_HOLD_H,
        **tenant_options: Any,
    ) -> None:
        self.fault_rate_per_cycle = fault_rate_per_cycle
        self.reservation_hold_s = 3600 * reservation_hold_h
        self.records = Records()
        self._lock = threading.Lock()
        self._free: list[int] = list(USABLE_CHANNELS)
        self._reservations: dict[str, Reservation] = {}
        super().__init__(name=name, seed=seed, clock=clock, **tenant_options)

    def register(self) -> None:
        reserve = {"number_required_channels": [{"min": 1, "max": len(USABLE_CHANNELS)}]}
        cycling = {"cycling_protocol": ["BIG-MAP-Standard"]}
        serves = self.tenant.serves
        serves("cycling_channel", "service", limitations=reserve)(self.reserve)
        serves("capacity", "cycling", limitations=cycling)(self.cycle)

    # ------------------------------------------------------------------ channels

    @property
    def free_channels(self) -> int:
        """Usable channels neither reserved nor cycling."""
        with self._lock:
            self._expire()
            return len(self._free)

    def _expire(self) -> None:
        now = self.clock.now()
        for rid, r in list(self._reservations.items()):
            if now - r.last_used > self.reservation_hold_s:
                self._free.extend(r.channels)
                r.channels = []
                if not r.in_use:
                    del self._reservations[rid]

    def reserve(self, request: Any, ctx: Any) -> dict[str, Any]:
        wanted = ctx.parameters["number_required_channels"]
        rid = f"cycler-{uuid.UUID(int=self.rng(request).getrandbits(128), version=4).hex[:12]}"
        with self._lock:
            self._expire()
            if len(self._free) < wanted:
                ctx.log.info("%d channels asked, %d free", wanted, len(self._free))
                return {"success": False}
            channels, self._free = self._free[:wanted], self._free[wanted:]
            self._reservations[rid] = Reservation(rid, channels, self.clock.now())
        return {"success": True, "reservation_id": rid}

    def _take_channel(self, reservation_id: str) -> int:
        with self._lock:
            self._expire()
            r = self._reservations.get(reservation_id)
            if r is not None and r.channels:
                channel = r.channels.pop(0)
                r.in_use.append(channel)
                r.last_used = self.clock.now()
                return channel
            if self._free:
                return self._free.pop(0)
        raise Release(f"reservation {reservation_id} holds no channel and none is free")

    def _give_back(self, reservation_id: str, channel: int) -> None:
        with self._lock:
            r = self._reservations.get(reservation_id)
            if r is not None and channel in r.in_use:
                r.in_use.remove(channel)
                if not r.channels and not r.in_use:
                    del self._reservations[reservation_id]
            self._free.append(channel)

    # ------------------------------------------------------------------ cycling

    def cell_truth(self, cell_id: str | None) -> cycle_life.CellTruth:
        """The cell on the channel: its electrolyte from the broker's records."""
        found = self.records.cell(self.broker(), cell_id)
        composition = REFERENCE_ELECTROLYTE
        if found is not None:
            try:
                composition = Composition.from_formulation(found.electrolyte)
            except ValueError:
                pass  # other chemicals: the reference electrolyte
        return true_cell(self.seed, cell_id, composition)

    def cycle(self, request: Any, ctx: Any) -> dict[str, Any]:
        p = ctx.parameters
        rng = self.rng(request)
        cell_id = p["cell_info"].get("uuid")
        channel = self._take_channel(p["reservation_number"])
        try:
            truth = self.cell_truth(cell_id)
            data = cycle_life.cycle(truth, p["number_cycles"], rng)
            fault = self._fault_cycle(data.cycles, rng)
            cycles = data.cycles if fault is None else fault - 1
            self.clock.sleep(self._duration_s(p, cycles, rng), ctx.stopping)
        finally:
            self._give_back(p["reservation_number"], channel)
        info = dict(p["cell_info"])
        result: dict[str, Any] = {"channel_list": [channel], "cell_info": info}
        if fault is not None:
            data = cycle_life.CycleData(*(values[:cycles] for values in _columns(data)))
            info["cell_location"] = {
                "address": LOCATION,
                "detail_1": f"channel {channel}",
                "detail_2": f"lost: channel {channel} fault at cycle {fault}",
            }
            ctx.log.warning("channel %d faulted at cycle %d: cell lost", channel, fault)
        else:
            found = cycle_life.features(truth, data, rng)
            result.update(found or {})
        result["capacity_list"] = [
            round(q / 1000.0, 10)
            for pair in zip(data.charge_mah, data.discharge_mah, strict=True)
            for q in pair
        ]
        return result

    def _fault_cycle(self, cycles: int, rng: random.Random) -> int | None:
        for n in range(1, cycles + 1):
            if rng.random() < self.fault_rate_per_cycle:
                return n
        return None

    @staticmethod
    def _duration_s(p: dict[str, Any], cycles: int, rng: random.Random) -> float:
        formation = p.get("repetions_formation_cycle")
        formation = FORMATION_CYCLES if formation is None else formation
        c_formation = min(
            p.get("c_rate_charge_formation") or FORMATION_C_RATE,
            p.get("c_rate_discharge_formation") or FORMATION_C_RATE,
        )
        per_cycle_h = 1 / (p.get("c_rate_charge") or 1.0) + 1 / (p.get("c_rate_discharge") or 1.0)
        hours = REST_H + formation * 2 / c_formation + cycles * (per_cycle_h + CV_STEP_H)
        return 3600 * hours * (1 + rng.uniform(-DURATION_JITTER, DURATION_JITTER))


def true_cell(seed: int, cell_id: str | None, composition: Composition) -> cycle_life.CellTruth:
    """The hidden truth of cell ``cell_id`` holding ``composition``, as a cycler seeded with
    ``seed`` finds it (a report may compare predictions with it: the lab is simulated)."""
    return cycle_life.draw_cell(composition, random.Random(f"{seed}:cell:{cell_id}"))


def _columns(data: cycle_life.CycleData) -> tuple[list[float], ...]:
    return (data.charge_mah, data.discharge_mah, data.coulombic_efficiency, data.voltage_gap_v)


tenant = Cycler(seed=env_seed()).tenant
