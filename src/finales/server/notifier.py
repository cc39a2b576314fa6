"""Wakes long-polls (``GET /work``, ``GET /requests/{id}/results``) when what they wait for may
have appeared - and only those.

``publish`` may be called from any thread (the units of work of routes that run in a thread
pool publish their changes after commit); waiters live on the event loop. Each change
(``finales.domain.changes``) wakes only the waiters it concerns:

- a request that became claimable wakes the ``GET /work`` polls whose offers and limitations
  cover it. Waiters are indexed by the (quantity, method) pairs they offer and grouped by
  identical offers, so a new request costs one limitations match per distinct offer set of
  its pairs, not a re-query by every idle tenant;
- a request whose status or results changed wakes the polls waiting for its results.

- offers or capabilities changed (``CatalogueChanged``), or a notification without a change
  (shutdown, a remote process's notification): every waiter wakes and re-queries.

A wait also ends when the poll's client has gone (``Waiter.wait(until=...)``: the route passes
the wait for the ASGI ``http.disconnect``), so a tenant that exited holds no waiter - nor, at
shutdown, a connection the server would wait for.

On PostgreSQL a relay (``finales.server.pg_notify``) passes each publication on to the other
server processes, whose own notifications arrive here through ``wake_local``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from finales.domain.changes import CatalogueChanged, Change, RequestChanged, RequestClaimable
from finales.domain.offers import covered_methods
from finales.domain.views import OfferView

Pair = tuple[str, str]


class Waiter:
    """One waiting long-poll."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.group: str | None = None  # work waiters: the fingerprint of their offers

    def wake(self) -> None:
        self._event.set()

    def clear(self) -> None:
        """Forget earlier wake-ups. Call it *before* querying, so that a change that lands
        between the query and the wait still wakes the wait."""
        self._event.clear()

    async def wait(self, timeout_s: float, until: asyncio.Future[Any] | None = None) -> None:
        """Return when woken, after ``timeout_s``, or as soon as ``until`` is done (the
        poll's client disconnected). One task either way, as ``wait_for`` makes one."""
        if until is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout_s)
            return
        woken = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait(
                (woken, until), timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            woken.cancel()


@dataclass
class _Group:
    """Work waiters with identical offers: one match decides for all of them."""

    offers: list[OfferView]
    pairs: frozenset[Pair]
    waiters: set[Waiter] = field(default_factory=set)


class Notifier:
    """See the module docstring. Every method except ``publish`` and ``wake_all`` runs on
    the event loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._relay: Callable[[], None] | None = None
        self._all: set[Waiter] = set()
        self._unsorted: set[Waiter] = set()  # work waiters whose offers are not known yet
        self._groups: dict[str, _Group] = {}  # offers fingerprint -> group
        self._by_pair: dict[Pair, set[str]] = {}  # (quantity, method) -> fingerprints
        self._by_request: dict[str, set[Waiter]] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def waiting(self) -> int:
        return len(self._all)

    # -- waiters
    @contextlib.contextmanager
    def work_waiter(self) -> Iterator[Waiter]:
        """A ``GET /work`` poll: woken by every change until ``set_offers`` sorts it."""
        w = Waiter()
        self._all.add(w)
        self._unsorted.add(w)
        try:
            yield w
        finally:
            self._all.discard(w)
            self._unsorted.discard(w)
            self._leave_group(w)

    def set_offers(self, waiter: Waiter, offers: Sequence[OfferView]) -> None:
        """From now on wake ``waiter`` only for requests ``offers`` cover (and broadcasts)."""
        key = json.dumps([o.as_dict() for o in offers], sort_keys=True, default=str)
        self._unsorted.discard(waiter)
        if waiter.group == key:
            return
        self._leave_group(waiter)
        group = self._groups.get(key)
        if group is None:
            pairs = frozenset((o.quantity, o.method) for o in offers)
            group = self._groups[key] = _Group(offers=list(offers), pairs=pairs)
            for pair in pairs:
                self._by_pair.setdefault(pair, set()).add(key)
        group.waiters.add(waiter)
        waiter.group = key

    def _leave_group(self, waiter: Waiter) -> None:
        key, waiter.group = waiter.group, None
        if key is None or key not in self._groups:
            return
        group = self._groups[key]
        group.waiters.discard(waiter)
        if group.waiters:
            return
        del self._groups[key]
        for pair in group.pairs:
            keys = self._by_pair.get(pair)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_pair[pair]

    @contextlib.contextmanager
    def request_waiter(self, request_id: str) -> Iterator[Waiter]:
        """A poll for the results of one request."""
        w = Waiter()
        self._all.add(w)
        self._by_request.setdefault(request_id, set()).add(w)
        try:
            yield w
        finally:
            self._all.discard(w)
            waiters = self._by_request.get(request_id)
            if waiters is not None:
                waiters.discard(w)
                if not waiters:
                    del self._by_request[request_id]

    # -- notifications
    def relay_to(self, relay: Callable[[], None] | None) -> None:
        """Also call ``relay`` (on the event loop) for every publication; None stops it."""
        self._relay = relay

    def publish(self, changes: Sequence[Change]) -> None:
        """Wake the waiters ``changes`` concern, here and (through the relay) in the other
        server processes. Thread-safe: units of work call it after their commit."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._publish_on_loop, tuple(changes))

    def wake_all(self) -> None:
        """Wake every waiter, here and elsewhere (shutdown; anything may have changed)."""
        self.publish((CatalogueChanged(),))

    def wake_all_here(self) -> None:
        """Wake every waiter of this process only: this server is going down (the others on
        the same database are not). Safe from any thread and from a signal handler: it only
        schedules the wake-up on the event loop."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._fire, None)

    def wake_local(self, change: Change | None = None) -> None:
        """Wake this process's waiters only: for remote notifications (None: every one)."""
        self._fire(change)

    def _publish_on_loop(self, changes: tuple[Change, ...]) -> None:
        woken: set[Waiter] = set()
        for change in changes:
            woken |= self._concerned(change)
        for w in woken:
            w.wake()
        if self._relay is not None:
            self._relay()

    def _fire(self, change: Change | None) -> None:
        for w in self._concerned(change):
            w.wake()

    def _concerned(self, change: Change | None) -> set[Waiter]:
        if change is None or isinstance(change, CatalogueChanged):
            return set(self._all)
        woken = set(self._unsorted)
        if isinstance(change, RequestChanged):
            woken |= self._by_request.get(change.request_id, set())
        elif isinstance(change, RequestClaimable):
            for group in self._covering(change):
                woken |= group.waiters
        return woken

    def _covering(self, request: RequestClaimable) -> Iterator[_Group]:
        keys: set[str] = set().union(
            *(self._by_pair.get((request.quantity, m), ()) for m in request.methods)
        )
        for key in keys:
            group = self._groups[key]
            try:
                covered = bool(
                    covered_methods(
                        group.offers,
                        quantity=request.quantity,
                        methods=request.methods,
                        parameters=request.parameters,
                    )
                )
            except Exception:  # a match that fails must not silence the others: wake, re-query
                covered = True
            if covered:
                yield group
