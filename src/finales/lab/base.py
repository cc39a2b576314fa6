"""What the simulated tenants share: a seeded random stream per request, the lab clock,
the formulation limitations, and the ``run_info`` block of their results."""

from __future__ import annotations

import abc
import hashlib
import json
import os
import random
import threading
from typing import Any

from finales.client import FinalesClient
from finales.errors import FinalesError
from finales.lab.clock import LabClock
from finales.lab.composition import EC_KEY, EMC_KEY, LIPF6_KEY, Composition, chemicals_info
from finales.tenant import RunStats, Tenant

SEED_ENV = "FINALES_LAB_SEED"
ROOM_TEMPERATURE_K = 298.15


def env_seed() -> int:
    """The seed from ``FINALES_LAB_SEED`` (0 when unset)."""
    return int(os.environ.get(SEED_ENV, "0"))


def formulation_limits(
    *, ec: tuple[float, float], emc: tuple[float, float], lipf6: tuple[float, float]
) -> list[dict[str, Any]]:
    """Limitations of a formulation of EC, EMC and LiPF6 within the given amount fractions
    (components in any order; any may be left out)."""
    return [
        {
            "chemical": {"InChIKey": key},
            "fraction": [{"min": low, "max": high}],
            "fraction_type": ["molPerMol"],
        }
        for key, (low, high) in ((EC_KEY, ec), (EMC_KEY, emc), (LIPF6_KEY, lipf6))
    ]


ANY_FORMULATION = formulation_limits(ec=(0.0, 1.0), emc=(0.0, 1.0), lipf6=(0.0, 0.5))


def run_info(composition: Composition, reference: str, name: str) -> dict[str, Any]:
    """The ``run_info`` of a result: the formulation actually used and its documentation."""
    return {
        "formulation": composition.to_formulation(),
        "internal_reference": reference,
        "formulation_info": {"name": name, "uuid": reference},
        "chemicals_info": chemicals_info(),
    }


class SimulatedTenant(abc.ABC):
    """A simulated tenant: a ``finales.tenant.Tenant`` (``.tenant``) whose handlers draw on
    published physics, a seeded random stream and a shared :class:`LabClock`.

    ``seed`` makes each request's outcome reproducible: the stream is keyed by seed, tenant
    and the request's place in the campaign (:meth:`request_key`), not by the broker's
    random request id, so neither concurrency nor a rerun changes it. Other keyword
    arguments go to ``Tenant`` (``server``, ``api_key``, ``concurrency``, ``poll_s``, ...).
    """

    NAME = "simulated"
    CONCURRENCY = 1

    def __init__(
        self,
        *,
        name: str | None = None,
        seed: int = 0,
        clock: LabClock | None = None,
        **tenant_options: Any,
    ) -> None:
        tenant_options.setdefault("concurrency", self.CONCURRENCY)
        self.seed = seed
        self.clock = clock or LabClock.from_env()
        self.tenant = Tenant(name or self.NAME, **tenant_options)
        self._broker: FinalesClient | None = None
        self._broker_lock = threading.Lock()
        self._keys: dict[str, str] = {}  # request id -> request_key
        self._same: dict[str, list[str]] = {}  # content digest -> request ids, first seen first
        self._keys_lock = threading.Lock()
        self.register()

    @abc.abstractmethod
    def register(self) -> None:
        """Declare the served capabilities on ``self.tenant``."""

    def broker(self) -> FinalesClient | None:
        """A client of the broker this tenant serves, to read the lab's records (the cell
        lab's simulated physical world: which electrolyte a cell holds, how much a vial
        holds); the tenant's own client when it was given one, else one made from its
        server and credentials; None when it has neither."""
        if self.tenant.client is not None:
            return self.tenant.client
        with self._broker_lock:
            t = self.tenant
            if self._broker is None and t.server and (t.api_key or t.username):
                self._broker = FinalesClient(
                    t.server, api_key=t.api_key, username=t.username, password=t.password
                )
            return self._broker

    def rng(self, request: Any) -> random.Random:
        """The random stream of one request (a request, or a key of its own as a string)."""
        key = request if isinstance(request, str) else self.request_key(request)
        return random.Random(f"{self.seed}:{self.tenant.name}:{key}")

    def request_key(self, request: Any) -> str:
        """Where a request stands in the campaign, the same in every run with the same seed.

        A workflow's sub-request (labels ``workflow_step``, ``index``, ``attempt`` under a
        parent) is its parent's key and that path; any other request is the digest of what
        it asks (quantity, methods, parameters) and how many identical ones this tenant saw
        before (a repeat is a new sample, not a copy of the first). The broker's request ids
        are random, so a stream keyed by them would make every run of a campaign different.
        """
        with self._keys_lock:
            known = self._keys.get(request.id)
        if known is not None:
            return known
        labels = getattr(request, "labels", None) or {}
        parent = getattr(request, "parent_request_id", None)
        key = None
        if parent and "workflow_step" in labels:
            parent_key = self._parent_key(parent)
            if parent_key is not None:
                path = f"{labels['workflow_step']}[{labels.get('index')}]#{labels.get('attempt')}"
                key = f"{parent_key}/{path}"
        if key is None:
            key = self._content_key(request)
        with self._keys_lock:
            return self._keys.setdefault(request.id, key)

    def _content_key(self, request: Any) -> str:
        asked = {"q": request.quantity, "m": request.methods, "p": request.parameters}
        digest = hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()[:16]
        with self._keys_lock:
            seen = self._same.setdefault(digest, [])
            if request.id not in seen:
                seen.append(request.id)
            return f"{digest}#{seen.index(request.id)}"

    def _parent_key(self, parent_id: str) -> str | None:
        with self._keys_lock:
            known = self._keys.get(parent_id)
        if known is not None:
            return known
        client = self.broker()
        if client is None:
            return None
        try:
            parent = client.get_request(parent_id)
        except FinalesError:
            return None  # the broker cannot say: the sub-request's own content then
        return self.request_key(parent)

    def close(self) -> None:
        """Close the client ``broker()`` made, if any (``run`` does it when it returns)."""
        with self._broker_lock:
            if self._broker is not None:
                self._broker.close()
                self._broker = None

    def run(self, **options: Any) -> RunStats:
        """Serve until stopped (see ``Tenant.run``)."""
        try:
            return self.tenant.run(**options)
        finally:
            self.close()

    def run_once(self) -> RunStats:
        """Serve the work there is now, then return."""
        try:
            return self.tenant.run_once()
        finally:
            self.close()

    def stop(self, *, force: bool = False) -> None:
        self.tenant.stop(force=force)
