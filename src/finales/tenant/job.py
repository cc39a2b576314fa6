"""One claimed request being worked on: the handler's context and the runtime's bookkeeping."""

from __future__ import annotations

import enum
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from finales import schemas
from finales.errors import FinalesError, InvalidPayload
from finales.tenant.lease import PROGRESS_BEAT_MIN_S, Lease
from finales.tenant.logs import KeyValueAdapter


class TenantSetupError(FinalesError):
    """The tenant cannot start: no server or credentials, credentials of another tenant,
    an unknown capability, limitations the broker refuses, ..."""

    status_code = 400
    code = "tenant_setup"


Counter = Literal["handled", "failed", "lost_races", "leases_lost", "released_at_stop"]
COUNTERS: tuple[Counter, ...] = get_args(Counter)


@dataclass
class RunStats:
    """What one ``run()`` did (counted from several threads)."""

    handled: int = 0  # results posted
    failed: int = 0  # handler errors and invalid results (each released with its reason)
    lost_races: int = 0  # claims another tenant won (normal)
    leases_lost: int = 0  # results dropped because the reservation was lost meanwhile
    released_at_stop: int = 0  # jobs released because the shutdown deadline passed
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, name: Counter) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTERS}


class ResultInvalid(InvalidPayload):
    """The handler's result does not fit the capability's result schema (caught before it
    is sent); ``errors`` name each field by JSON pointer."""

    code = "invalid_result"


class Release(Exception):
    """Raised by a handler to give its request back on purpose, with ``reason`` kept in the
    request's history (e.g. a person at a terminal said "release"). Unlike a failure it is
    not logged as an error; like one, this tenant leaves the request to others for
    ``retry_failed_after_s`` so that it is not handed straight back."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Service:
    """A capability this tenant serves: its limitations and the handler doing the work."""

    quantity: str
    method: str
    limitations: Any
    handler: Callable[..., Any]

    @property
    def offer(self) -> dict[str, Any]:
        return {"quantity": self.quantity, "method": self.method, "limitations": self.limitations}


@dataclass(frozen=True)
class TenantSpec:
    """What one run of a tenant serves and how: the ``Tenant``'s registration and settings,
    frozen when ``run()`` starts."""

    name: str
    services: tuple[Service, ...]
    concurrency: int
    lease_s: float
    poll_s: float
    grace_s: float
    retry_failed_after_s: float
    publish_offers: bool

    def pick(self, item: schemas.WorkItem) -> Service | None:
        """The service for the first of the request's methods (the requester's order)
        that this tenant serves."""
        served = {(s.quantity, s.method): s for s in self.services}
        for method in item.matching_methods:
            service = served.get((item.quantity, method))
            if service is not None:
                return service
        return None


class JobContext:
    """What a handler gets besides the request.

    ``method`` is the method chosen (the first of the request's methods this tenant serves),
    ``parameters`` that method's parameter block, ``log`` a logger whose lines carry the
    request id, ``stopping`` an event set when the runtime shuts down or the lease is lost
    (long handlers may check it, or use ``stopping.wait(s)`` as an interruptible sleep),
    ``lease`` the reservation (``ctx.lease.lost``, ``ctx.lease.on_lost(callback)``),
    ``result_inputs`` the ids of the results the returned data were made from (provenance).
    """

    def __init__(
        self,
        *,
        request: schemas.WorkItem,
        method: str,
        log: KeyValueAdapter,
        lease: Lease,
    ) -> None:
        self.request = request
        self.method = method
        self.log = log
        self.lease = lease
        self.stopping = threading.Event()
        # Ids of the results the handler's result was made from: posted as its ``inputs``
        # (provenance), e.g. by the workflow orchestrator.
        self.result_inputs: list[str] = []
        lease.on_lost(self._on_lease_lost)

    def _on_lease_lost(self, _lease: Lease) -> None:
        self.stopping.set()

    @property
    def request_id(self) -> str:
        """The id of the request being served."""
        return self.request.id

    @property
    def quantity(self) -> str:
        """The quantity asked for."""
        return self.request.quantity

    @property
    def parameters(self) -> dict[str, Any]:
        """The parameter block of the chosen method."""
        return self.request.parameters[self.method]

    @property
    def lease_lost(self) -> bool:
        """True once the broker said the reservation is no longer ours (expired, retracted)."""
        return self.lease.lost

    def heartbeat(self) -> bool:
        """Extend the lease now (the runtime also does it every lease/3). False if lost."""
        return self.lease.renew()

    def progress(self, message: str = "progress", **fields: Any) -> bool:
        """Log a progress line with ``fields`` and extend the lease (at most a few times a
        second, however often it is called). False if the lease is lost."""
        self.log.info(message, extra={"kv": fields})
        return self.lease.renew(at_most_every_s=PROGRESS_BEAT_MIN_S)


class JobState(enum.Enum):
    RUNNING = "running"  # the handler runs; shutdown may abandon (release) it
    FINISHING = "finishing"  # posting the result or releasing; shutdown waits for it
    ABANDONED = "abandoned"  # released at shutdown; whatever the handler returns is dropped
    DONE = "done"


@dataclass(eq=False)
class Job:
    """The runtime's record of one claimed request."""

    item: schemas.WorkItem
    service: Service
    ctx: JobContext
    # One key for every attempt to post this job's result: a retry never posts twice.
    idempotency_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: JobState = JobState.RUNNING
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: float = field(default_factory=time.monotonic)

    @property
    def request_id(self) -> str:
        return self.item.id

    @property
    def lease(self) -> Lease:
        return self.ctx.lease

    def transition(self, expected: JobState, new: JobState) -> bool:
        """Compare-and-set of the state: the job thread and shutdown race for it."""
        with self.lock:
            if self.state is not expected:
                return False
            self.state = new
            return True


def request_logger(
    base: logging.Logger, *, tenant: str, request_id: str, method: str
) -> KeyValueAdapter:
    return KeyValueAdapter(base, {"tenant": tenant, "request_id": request_id, "method": method})
