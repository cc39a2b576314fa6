"""One claimed request being worked on: the handler's context and the runtime's bookkeeping."""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from finales import schemas
from finales.client import ServerError
from finales.errors import FinalesError, InvalidPayload, Unavailable
from finales.tenant.logs import KeyValueAdapter

RECONNECT_MAX_S = 10.0
# Answers meaning "the broker is down or struggling": wait and try again, never give up.
TRANSIENT = (Unavailable, ServerError)


class TenantSetupError(FinalesError):
    """The tenant cannot start: no server or credentials, credentials of another tenant,
    an unknown capability, limitations the broker refuses, ..."""

    status_code = 400
    code = "tenant_setup"


COUNTERS = ("handled", "failed", "lost_races", "leases_lost", "released_at_stop")


@dataclass
class RunStats:
    """What one ``run()`` did (counted from several threads)."""

    handled: int = 0  # results posted
    failed: int = 0  # handler errors and invalid results (each released with its reason)
    lost_races: int = 0  # claims another tenant won (normal)
    leases_lost: int = 0  # results dropped because the reservation was lost meanwhile
    released_at_stop: int = 0  # jobs released because the shutdown deadline passed
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTERS}


class Backoff:
    """Pauses between reconnection attempts: exponential with jitter, capped."""

    def __init__(self, base_s: float = 0.5, cap_s: float = RECONNECT_MAX_S) -> None:
        self.base_s, self.cap_s, self.n = base_s, cap_s, 0

    def next(self) -> float:
        ceiling = min(self.cap_s, self.base_s * 2**self.n)
        self.n += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.n = 0


class ResultInvalid(InvalidPayload):
    """The handler's result does not fit the capability's result schema (caught before it
    is sent); ``errors`` name each field by JSON pointer."""

    code = "invalid_result"


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


class JobContext:
    """What a handler gets besides the request.

    ``method`` is the method chosen (the first of the request's methods this tenant serves),
    ``parameters`` that method's parameter block, ``log`` a logger whose lines carry the
    request id, ``stopping`` an event set when the runtime shuts down or the lease is lost
    (long handlers may check it, or use ``stopping.wait(s)`` as an interruptible sleep).
    """

    def __init__(
        self,
        *,
        request: schemas.WorkItem,
        method: str,
        log: KeyValueAdapter,
        beat: Callable[[bool], bool],
    ) -> None:
        self.request = request
        self.method = method
        self.log = log
        self.stopping = threading.Event()
        self._beat = beat
        self._lease_lost = False

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
        return self._lease_lost

    def heartbeat(self) -> bool:
        """Extend the lease now (the runtime also does it every lease/3). False if lost."""
        return self._beat(True)

    def progress(self, message: str = "progress", **fields: Any) -> bool:
        """Log a progress line with ``fields`` and extend the lease (at most a few times a
        second, however often it is called). False if the lease is lost."""
        self.log.info(message, extra={"kv": fields})
        return self._beat(False)


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
    next_beat: float
    # One key for every attempt to post this job's result: a retry never posts twice.
    idempotency_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: JobState = JobState.RUNNING
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: float = field(default_factory=time.monotonic)
    last_beat: float = field(default_factory=time.monotonic)  # the claim counts as one

    @property
    def request_id(self) -> str:
        return self.item.id

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
