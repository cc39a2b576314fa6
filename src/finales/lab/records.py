"""The simulated cell lab's physical world, read from the broker's records.

A simulated cycler must know which electrolyte the cell on its channel holds, and a
simulated AutoBASS how much electrolyte a vial holds; in a real lab the objects carry that,
but our tenants may run in separate processes. So they read it where every tenant can: the
results already posted (the assembly result of a cell, the ``electrolyte / flow`` result of
a vial). Reading results is what any tenant may do; no tenant writes anything here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from finales.client import FinalesClient


@dataclass(frozen=True)
class AssembledCell:
    """A cell as its assembly result describes it."""

    uuid: str
    electrolyte: list[dict[str, Any]]
    success: bool


class Records:
    """Indexes of assembly and flow results, brought up to date on each lookup (only the
    results posted since the last one are fetched)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cells: dict[str, AssembledCell] = {}
        self._vials: dict[str, float] = {}  # formulation_info.uuid -> volume (mL)
        self._seen: set[str] = set()

    def cell(self, client: FinalesClient | None, uuid: str | None) -> AssembledCell | None:
        """The assembly record of cell ``uuid``, if the broker holds one."""
        if uuid is None:
            return None
        with self._lock:
            if uuid not in self._cells and client is not None:
                self._index(client, "cell_assembly", "autobass_assembly", self._add_batch)
            return self._cells.get(uuid)

    def vial_volume_ml(self, client: FinalesClient | None, uuid: str | None) -> float | None:
        """The volume ASAB reported for the electrolyte whose ``formulation_info.uuid`` (or
        ``internal_reference``) is ``uuid``."""
        if uuid is None:
            return None
        with self._lock:
            if uuid not in self._vials and client is not None:
                self._index(client, "electrolyte", "flow", self._add_flow)
            return self._vials.get(uuid)

    def _index(self, client: FinalesClient, quantity: str, method: str, add: Any) -> None:
        for result in client.iter_results(quantity=quantity, method=method):
            if result.id not in self._seen:
                self._seen.add(result.id)
                add(result.data)

    def _add_batch(self, data: dict[str, Any]) -> None:
        for entry in data.get("batch_output", []):
            uuid = entry.get("cell_info", {}).get("uuid")
            if uuid:
                chemistry = entry["cell"]["battery_chemistry"]
                success = bool(entry["meta"]["success"])
                self._cells[uuid] = AssembledCell(uuid, chemistry["electrolyte"], success)

    def _add_flow(self, data: dict[str, Any]) -> None:
        run = data.get("run_info", {})
        volume = float(data["electrolyte"]["volume"])
        for key in (run.get("internal_reference"), (run.get("formulation_info") or {}).get("uuid")):
            if key:
                self._vials[key] = volume
