"""The lease keeper: the one owner of the reservations a tenant run holds.

It makes every claim (a fresh one, and the re-claim after a lost lease), renews each lease
on one cadence, marks a lease lost when the broker says it is no longer ours (which runs the
lease's ``on_lost`` callbacks: the job context sets its ``stopping`` there), and releases.
A handler sees its reservation as ``ctx.lease``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from finales import schemas
from finales.client import RetryPolicy
from finales.errors import Conflict, FinalesError, Forbidden, NotFound
from finales.tenant import logs
from finales.tenant.backoff import TRANSIENT

# ctx.progress() in a tight loop must not hammer the broker.
PROGRESS_BEAT_MIN_S = 0.25
# The broker's ways of saying "this reservation is not yours (any more)".
LEASE_GONE = (Conflict, Forbidden, NotFound)

Log = logging.Logger | logging.LoggerAdapter[Any]
LostCallback = Callable[["Lease"], None]


class LeaseApi(Protocol):
    """The broker calls the lease keeper makes (``FinalesClient`` has them)."""

    def claim(self, request_id: str, *, lease_seconds: float | None = None) -> schemas.Request: ...

    def heartbeat(
        self, request_id: str, *, lease_seconds: float | None = None
    ) -> schemas.Request: ...

    def release(self, request_id: str, *, message: str = "") -> schemas.Request: ...


@dataclass(frozen=True)
class Cadence:
    """The timing of heartbeats for one lease length: computed here and nowhere else."""

    lease_s: float

    @property
    def beat_every_s(self) -> float:
        """A lease is renewed every third of its length: one lost beat does not lose it."""
        return self.lease_s / 3

    @property
    def retry_s(self) -> float:
        """The pause before trying again after a heartbeat the broker did not answer."""
        return min(1.0, self.lease_s / 6)

    @property
    def tick_s(self) -> float:
        """How often the keeper looks for leases due for renewal."""
        return max(0.05, min(1.0, self.lease_s / 6))

    def client_retry(self) -> RetryPolicy:
        """The SDK's retry policy for a tenant with this lease: backoff pauses well under a
        third of the lease, so that a heartbeat retried through a server restart lands
        before the lease runs out."""
        return RetryPolicy(
            total_s=max(30.0, self.lease_s), max_backoff_s=min(5.0, max(0.5, self.lease_s / 4))
        )


class Lease:
    """The reservation of one claimed request, as its handler sees it (``ctx.lease``).

    ``lost`` turns True when the broker says the reservation is no longer ours (the lease
    expired, the request was retracted or is someone else's); ``reason`` says why.
    ``on_lost(callback)`` runs ``callback(lease)`` at that moment, from the runtime's
    heartbeat thread (at once if the lease is already lost). ``renew()`` extends it now.
    Leases are made by the runtime's lease keeper, never by a handler.
    """

    def __init__(self, keeper: LeaseKeeper, request_id: str, *, log: Log, now: float) -> None:
        self.request_id = request_id
        self.log = log
        self._keeper = keeper
        self._lock = threading.Lock()
        self._lost_reason: str | None = None
        self._callbacks: list[LostCallback] = []
        # The keeper's bookkeeping (only it writes these); the claim counts as a beat.
        self._last_beat = now
        self._next_beat = now

    def __repr__(self) -> str:
        state = f"lost: {self._lost_reason}" if self.lost else "held"
        return f"<Lease {self.request_id} ({state})>"

    @property
    def lost(self) -> bool:
        """True once the broker said the reservation is no longer ours."""
        return self._lost_reason is not None

    @property
    def reason(self) -> str | None:
        """Why the lease was lost (the broker's message), or None while it is held."""
        return self._lost_reason

    def on_lost(self, callback: LostCallback) -> None:
        """Call ``callback(lease)`` when the lease is lost (now, if it already is)."""
        with self._lock:
            if self._lost_reason is None:
                self._callbacks.append(callback)
                return
        self._run(callback)

    def renew(self, *, at_most_every_s: float = 0.0) -> bool:
        """Extend the lease now, unless it was renewed less than ``at_most_every_s`` ago.
        False once it is lost or given back."""
        return self._keeper.renew(self, at_most_every_s=at_most_every_s)

    # -- for the keeper (same module)

    def _mark_lost(self, reason: str) -> bool:
        """Record the loss and run the callbacks; False if it was already lost."""
        with self._lock:
            if self._lost_reason is not None:
                return False
            self._lost_reason = reason
            callbacks = list(self._callbacks)
        for callback in callbacks:
            self._run(callback)
        return True

    def _restore(self) -> None:
        """Held again (re-claimed); the callbacks stay armed for a next loss."""
        with self._lock:
            self._lost_reason = None

    def _run(self, callback: LostCallback) -> None:
        try:
            callback(self)
        except Exception:  # a handler's callback must not stop the heartbeats of all jobs
            logs.event(self.log, logging.ERROR, "lease-lost callback failed", exc_info=True)


class LeaseKeeper:
    """Holds every lease of one tenant run: claims, renews on the cadence, marks lost, releases.

    ``start()`` runs a heartbeat thread that renews each held lease every ``lease_s / 3``;
    ``beat_due()`` is one round of it. Thread-safe: job threads claim, renew and release
    while the heartbeat thread renews.
    """

    def __init__(
        self,
        client: LeaseApi,
        *,
        lease_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.cadence = Cadence(lease_s)
        self._clock = clock
        self._held: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ claims

    def claim(self, request_id: str, *, log: Log) -> tuple[schemas.Request, Lease]:
        """Reserve a pending request and hold its lease from now on.

        Raises the broker's ``Conflict`` (another tenant was faster), ``Forbidden`` or
        ``NotFound`` when it is not claimable, and ``TRANSIENT`` errors as they come.
        """
        claimed = self._claim(request_id)
        lease = Lease(self, request_id, log=log, now=self._clock())
        self._hold(lease)
        return claimed, lease

    def reclaim(self, lease: Lease) -> bool:
        """After a lost lease: take the request back if nobody took it meanwhile (so that
        finished work is not wasted). True if it is ours again."""
        try:
            self._claim(lease.request_id)
        except FinalesError:
            return False
        lease._restore()
        self._hold(lease)
        logs.event(lease.log, logging.INFO, "reclaimed the request after losing the lease")
        return True

    def _claim(self, request_id: str) -> schemas.Request:
        # The tenant runtime's only claim call: fresh claims and re-claims both come here.
        return self.client.claim(request_id, lease_seconds=self.cadence.lease_s)

    def _hold(self, lease: Lease) -> None:
        self._renewed(lease)
        with self._lock:
            self._held[lease.request_id] = lease

    # ------------------------------------------------------------------ renewal

    def renew(self, lease: Lease, *, at_most_every_s: float = 0.0) -> bool:
        """Extend ``lease`` now (see ``Lease.renew``)."""
        if lease.lost or not self.holds(lease):
            return False
        if self._clock() - lease._last_beat < at_most_every_s:
            return True
        return self._beat(lease)

    def beat_due(self) -> None:
        """Renew every held lease whose time has come (one round of the heartbeat thread)."""
        now = self._clock()
        for lease in self.held():
            if lease.lost or now < lease._next_beat:
                continue
            try:
                self._beat(lease)
            except Exception:  # one odd answer must not stop the heartbeats of all jobs
                logs.event(lease.log, logging.ERROR, "heartbeat error", exc_info=True)

    def _beat(self, lease: Lease) -> bool:
        try:
            self.client.heartbeat(lease.request_id, lease_seconds=self.cadence.lease_s)
        except LEASE_GONE as exc:
            self._lose(lease, exc.detail)
            return False
        except TRANSIENT as exc:
            lease._next_beat = self._clock() + self.cadence.retry_s
            logs.event(lease.log, logging.WARNING, "heartbeat failed; retrying", error=exc.detail)
            return True
        self._renewed(lease)
        return True

    def _renewed(self, lease: Lease) -> None:
        lease._last_beat = self._clock()
        lease._next_beat = lease._last_beat + self.cadence.beat_every_s

    def _lose(self, lease: Lease, reason: str) -> None:
        # The broker says the reservation is gone: no more beats; the callbacks tell the job.
        if lease._mark_lost(reason):
            logs.event(lease.log, logging.WARNING, "lease lost", reason=reason)

    # ------------------------------------------------------------------ giving back

    def release(self, lease: Lease, reason: str) -> None:
        """Give the request back with ``reason`` (kept in its history), if it is still ours."""
        self.drop(lease)
        if lease.lost:
            logs.event(lease.log, logging.INFO, "not released: the reservation is already lost")
            return
        try:
            self.client.release(lease.request_id, message=reason)
        except LEASE_GONE as exc:
            logs.event(lease.log, logging.INFO, "not released: no longer ours", reason=exc.detail)
        except TRANSIENT as exc:
            logs.event(
                lease.log,
                logging.WARNING,
                "could not release; the lease will expire instead",
                error=exc.detail,
            )
        else:
            logs.event(lease.log, logging.INFO, "released", reason=reason)

    def drop(self, lease: Lease) -> None:
        """Stop renewing ``lease``: its job is over (the result posted, or given up)."""
        with self._lock:
            if self._held.get(lease.request_id) is lease:
                del self._held[lease.request_id]

    def holds(self, lease: Lease) -> bool:
        with self._lock:
            return self._held.get(lease.request_id) is lease

    def held(self) -> list[Lease]:
        """The leases being renewed now."""
        with self._lock:
            return list(self._held.values())

    # ------------------------------------------------------------------ the thread

    def start(self, *, name: str = "leases") -> None:
        """Renew the held leases on the cadence, in a daemon thread, until ``stop()``."""
        self._done.clear()
        self._thread = threading.Thread(target=self._beat_loop, name=name, daemon=True)
        self._thread.start()

    def stop(self, *, timeout_s: float = 5.0) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None

    def _beat_loop(self) -> None:
        while not self._done.wait(self.cadence.tick_s):
            self.beat_due()
