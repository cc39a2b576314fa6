"""AutoBASS, the simulated coin-cell assembly robot: ``cell_assembly / autobass_assembly``.

Behaviour (lab-science.md, "Tenants of the demonstrator"):

* CR2032 cells (graphite || LiNiO2, Celgard 2325, 35 µL electrolyte unless asked otherwise)
  in batches of up to 64; about 3.2 lab minutes per cell (2.9-3.5, ours);
* each batch has an assembly failure rate drawn in 2-5 %; a failed cell is reported in the
  batch with ``meta.success`` false, rating 0, and its location the reject tray;
* every cell gets an id (``cell_info.uuid``), the batch an id;
* the electrolyte is drawn from the vial named by ``cell_info.electrolyte_info.uuid``; the
  vial holds what ASAB reported for that electrolyte (its ``electrolyte / flow`` result,
  read from the broker), or 5 mL when no such result exists (ours). Each cell draws the
  requested volume with 2 % pipetting scatter (ours), the first draw 100 µL of dead volume
  more (ours); when the vial runs dry the remaining cells of the batch fail. The vial's
  remainder is kept between batches.

Run it with ``finales tenant run finales.lab.autobass:tenant``.
"""

from __future__ import annotations

import copy
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from finales.capabilities.cells import MAX_BATCH_CELLS
from finales.lab.base import ANY_FORMULATION, ROOM_TEMPERATURE_K, SimulatedTenant, env_seed
from finales.lab.clock import LabClock
from finales.lab.records import Records

CELL_MINUTES = (2.9, 3.5)  # ~3.2 min per cell (lab-science.md)
FAILURE_RATE = (0.02, 0.05)  # per batch, then per cell
DEFAULT_ELECTROLYTE_UL = 35.0
PIPETTING_SCATTER = 0.02
DEAD_VOLUME_UL = 100.0
DEFAULT_VIAL_ML = 5.0
LOCATION = "AutoBASS, simulated laboratory"


class AutoBASS(SimulatedTenant):
    """The simulated AutoBASS robot (see the module docstring)."""

    NAME = "AutoBASS"

    def __init__(
        self,
        *,
        name: str | None = None,
        seed: int = 0,
        clock: LabClock | None = None,
        failure_rate: tuple[float, float] = FAILURE_RATE,
        **tenant_options: Any,
    ) -> None:
        self.failure_rate = failure_rate
        self.records = Records()
        self._vials: dict[str, float] = {}  # vial id -> µL left
        self._vials_lock = threading.Lock()
        super().__init__(name=name, seed=seed, clock=clock, **tenant_options)

    def register(self) -> None:
        limits = {
            "cell": {"battery_chemistry": {"electrolyte": ANY_FORMULATION}},
            "batch_volume": [None, {"min": 1, "max": MAX_BATCH_CELLS}],
        }
        self.tenant.serves("cell_assembly", "autobass_assembly", limitations=limits)(self.assemble)

    # ------------------------------------------------------------------ vials

    def vial_left_ul(self, vial: str) -> float | None:
        """What is left in a vial this robot has drawn from (None: never used)."""
        with self._vials_lock:
            return self._vials.get(vial)

    def _draw(self, vial: str, volume_ul: float) -> bool:
        """Take ``volume_ul`` from the vial; False (and nothing taken) when too little is left."""
        with self._vials_lock:
            if vial not in self._vials:
                known = self.records.vial_volume_ml(self.broker(), vial)
                full_ul = 1000.0 * (known if known is not None else DEFAULT_VIAL_ML)
                self._vials[vial] = full_ul - DEAD_VOLUME_UL
            if self._vials[vial] < volume_ul:
                return False
            self._vials[vial] -= volume_ul
            return True

    # ------------------------------------------------------------------ handler

    def assemble(self, request: Any, ctx: Any) -> dict[str, Any]:
        rng = self.rng(request)
        p = ctx.parameters
        cells = p.get("batch_volume") or 1
        fail_p = rng.uniform(*self.failure_rate)
        batch_id = f"autobass-{uuid.UUID(int=rng.getrandbits(128), version=4).hex[:12]}"
        info = p["cell_info"]
        vial = (info.get("electrolyte_info") or {}).get("uuid") or "unlabelled vial"
        asked_ul = p["cell"].get("electrolyte_volume") or DEFAULT_ELECTROLYTE_UL
        output = []
        for i in range(1, cells + 1):
            self.clock.sleep(60 * rng.uniform(*CELL_MINUTES), ctx.stopping)
            drawn = round(asked_ul * (1 + rng.gauss(0, PIPETTING_SCATTER)), 2)
            has_electrolyte = self._draw(vial, drawn)
            failed = not has_electrolyte or rng.random() < fail_p
            cell_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            why = "no electrolyte left" if not has_electrolyte else "assembly failed"
            output.append(self._cell(p, i, cell_id, batch_id, drawn, why if failed else None))
            ctx.progress("cell assembled", cell=i, of=cells, failed=failed)
        ctx.log.info("batch %s: %d cells", batch_id, cells)
        return {"batch_output": output, "batch_id": batch_id}

    @staticmethod
    def _cell(
        p: dict[str, Any], i: int, cell_id: str, batch_id: str, drawn: float, failure: str | None
    ) -> dict[str, Any]:
        cell = copy.deepcopy(p["cell"])
        cell["electrolyte_volume"] = drawn
        cell.setdefault("separator", {"material": "Celgard 2325"})
        now = datetime.now(UTC)
        info = {
            **copy.deepcopy(p["cell_info"]),
            "cell_name": p["cell_info"].get("cell_name") or "CR2032",
            "uuid": cell_id,
            "assembly_date": now.date().isoformat(),
            "batch": batch_id,
            "cell_location": {
                "address": LOCATION,
                "detail_1": "reject tray" if failure else "output tray",
                "detail_2": f"position {i}" + (f": {failure}" if failure else ""),
            },
        }
        return {
            "cell_info": info,
            "cell": cell,
            "manufacturing_img": f"images/{batch_id}/cell-{i:02d}.jpg",
            "meta": {"success": failure is None, "rating": 0 if failure else 5},
            "temperature": ROOM_TEMPERATURE_K,
            "sealing_time": now.isoformat(),
        }


tenant = AutoBASS(seed=env_seed()).tenant
