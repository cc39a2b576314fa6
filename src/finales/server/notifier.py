"""Wakes long-polls (``GET /work``, ``GET /requests/{id}/results``) when what they wait for may
have appeared - and only those.

``publish`` may be called from any thread (the units of work of routes that run in a thread
pool publish their changes after commit); waiters live on the event loop. Each change
(``finales.domain.changes``) wakes only the waiters it concerns:

- a request that became claimable wakes the ``GET /work`` polls whose offers and limitations
  cover it. Waiters are indexed by the (quantity, method) pairs they offer and grouped by
  identical offers, so a new request costs one limitations match per distinct offer set of
  its pairs, not a re-query by every idle tenant (see "Matching off the loop" below);
- a request whose status or results changed wakes the polls waiting for its results.

- offers or capabilities changed (``CatalogueChanged``), or a notification without a change
  (shutdown, a remote process's notification): every waiter wakes and re-queries.

A wait also ends when the poll's client has gone (``Waiter.wait(until=...)``: the route passes
the wait for the ASGI ``http.disconnect``), so a tenant that exited holds no waiter - nor, at
shutdown, a connection the server would wait for.

On PostgreSQL a relay (``finales.server.pg_notify``) passes each publication on to the other
server processes, whose own notifications arrive here through ``wake_local``.

Matching off the loop. Which groups a new request concerns is decided in the thread that
publishes it - the worker thread whose unit of work committed it - and the loop only wakes the
waiters of the groups it is handed. A limitation match costs microseconds with compiled
matchers, but its cost still grows with the limitations a tenant chose, and every millisecond on
the loop delays every other request this process serves; the committing thread is already off
the loop, holds no lock, and was going to hand the change over anyway. The offers arrive
compiled (``handout_offers`` compiles them once per offer set, in the poll's query thread), so
``set_offers`` on the loop only files the waiter under the offers' fingerprint. Requests found
by the periodic re-check (``wake_local``, called on the loop) are matched in the loop's
executor. The alternatives were weaker: matching on the loop with compiled matchers keeps the
cost on the loop, only smaller; matching in a task per publication adds a thread hop to every
commit for nothing.

The one race this opens - a group created on the loop after the publishing thread looked at
the index - is closed by a generation number: every group records the generation it was born
in, the thread records the generation it matched against (reading it *before* the index, and
the loop bumps it *after* filing a group), and the loop also wakes the groups born since. Those
are woken without a match: a waiter woken for nothing re-queries once, a waiter missed would
sleep through its work.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from finales.domain.changes import CatalogueChanged, Change, RequestChanged, RequestClaimable
from finales.domain.offers import CompiledOffers
from finales.domain.views import OfferView

Pair = tuple[str, str]
# What a publishing thread matched: the generation it looked at, and the groups that cover one
# of the claimable requests (None: no claimable request among the changes).
Matched = tuple[int, set["_Group"]] | None


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


@dataclass(eq=False)  # compared and hashed by identity: publishing threads hand sets of them
class _Group:
    """Work waiters with identical offers: one match decides for all of them."""

    offers: CompiledOffers
    born: int  # the notifier's generation when the group was filed
    waiters: set[Waiter] = field(default_factory=set)


class Notifier:
    """See the module docstring. Every method except ``publish``, ``wake_all`` and
    ``wake_all_here`` runs on the event loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._relay: Callable[[], None] | None = None
        self._all: set[Waiter] = set()
        self._unsorted: set[Waiter] = set()  # work waiters whose offers are not known yet
        # Insertion order is birth order: ``_born_after`` walks it backwards.
        self._groups: dict[str, _Group] = {}  # offers fingerprint -> group
        # (quantity, method) -> groups. Publishing threads read it (``get`` only, atomic); the
        # loop writes it, replacing a pair's tuple whole, never changing one in place.
        self._by_pair: dict[Pair, tuple[_Group, ...]] = {}
        self._generation = 0
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
        """From now on wake ``waiter`` only for requests ``offers`` cover (and broadcasts).

        ``offers`` should come compiled (``CompiledOffers``, as ``handout_offers`` returns
        them): plain offers are compiled here, on the loop."""
        compiled = CompiledOffers.of(offers)
        key = compiled.fingerprint
        self._unsorted.discard(waiter)
        if waiter.group == key:
            return
        self._leave_group(waiter)
        group = self._groups.get(key)
        if group is None:
            born = self._generation + 1
            group = self._groups[key] = _Group(offers=compiled, born=born)
            for pair in compiled.pairs:
                self._by_pair[pair] = (*self._by_pair.get(pair, ()), group)
            self._generation = born  # only now: a thread that reads it finds the group filed
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
        for pair in group.offers.pairs:
            rest = tuple(g for g in self._by_pair.get(pair, ()) if g is not group)
            if rest:
                self._by_pair[pair] = rest
            else:
                self._by_pair.pop(pair, None)

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
        server processes. Thread-safe: units of work call it after their commit, and the
        limitations are matched here, in their thread (module docstring)."""
        self._deliver(tuple(changes), relay=True)

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
        """Wake this process's waiters only: for remote notifications (None: every one).

        A claimable request is matched in the loop's executor when called on the loop (the
        periodic re-check does), inline otherwise (no loop bound: tests)."""
        if isinstance(change, RequestClaimable):
            self._deliver((change,), relay=False)
        else:
            self._fire(change)

    def _deliver(self, changes: tuple[Change, ...], *, relay: bool) -> None:
        """Match ``changes`` off the loop, then wake on the loop."""
        loop = self._loop
        if loop is None:  # nothing runs a loop (tests): wake at once
            self._wake(changes, self._match(changes))
            return
        if loop.is_closed():
            return
        if self._match_needed(changes) and _running_loop() is loop:
            try:
                loop.run_in_executor(None, functools.partial(self._deliver, changes, relay=relay))
            except RuntimeError:  # the executor is shut down (shutdown): wake every waiter
                self._wake((CatalogueChanged(),), None)
            return
        loop.call_soon_threadsafe(self._publish_on_loop, changes, self._match(changes), relay)

    @staticmethod
    def _match_needed(changes: tuple[Change, ...]) -> bool:
        return any(isinstance(c, RequestClaimable) for c in changes)

    def _match(self, changes: tuple[Change, ...]) -> Matched:
        """The groups covering the claimable requests among ``changes``: any thread."""
        if not self._match_needed(changes):
            return None
        generation = self._generation  # before the index: see the module docstring
        covering: set[_Group] = set()
        for change in changes:
            if isinstance(change, RequestClaimable):
                covering.update(self._covering(change))
        return generation, covering

    def _publish_on_loop(self, changes: tuple[Change, ...], matched: Matched, relay: bool) -> None:
        self._wake(changes, matched)
        if relay and self._relay is not None:
            self._relay()

    def _wake(self, changes: tuple[Change, ...], matched: Matched) -> None:
        woken: set[Waiter] = set()
        for change in changes:
            woken |= self._concerned(change)
        if matched is not None:
            generation, covering = matched
            for group in covering:
                woken |= group.waiters
            for group in self._born_after(generation):
                woken |= group.waiters
        for w in woken:
            w.wake()

    def _born_after(self, generation: int) -> Iterator[_Group]:
        """Groups filed after a publishing thread read ``generation``: newest first, so the
        walk stops at the first older one."""
        for group in reversed(self._groups.values()):
            if group.born <= generation:
                return
            yield group

    def _fire(self, change: Change | None) -> None:
        for w in self._concerned(change):
            w.wake()

    def _concerned(self, change: Change | None) -> set[Waiter]:
        if change is None or isinstance(change, CatalogueChanged):
            return set(self._all)
        woken = set(self._unsorted)  # claimable requests: the groups come matched (``_match``)
        if isinstance(change, RequestChanged):
            woken |= self._by_request.get(change.request_id, set())
        return woken

    def _covering(self, request: RequestClaimable) -> Iterator[_Group]:
        """Runs in a publishing thread: reads ``_by_pair`` only through ``get``."""
        groups: set[_Group] = set()
        for m in request.methods:
            groups.update(self._by_pair.get((request.quantity, m), ()))
        for group in groups:
            try:
                covered = bool(
                    group.offers.covered_methods(
                        quantity=request.quantity,
                        methods=request.methods,
                        parameters=request.parameters,
                    )
                )
            except Exception:  # a match that fails must not silence the others: wake, re-query
                covered = True
            if covered:
                yield group


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
