"""Per-app state: settings, database, secret, validator cache, clock and the work notifier."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from finales.db.engine import Database
from finales.domain.leases import utcnow
from finales.domain.principals import Principal
from finales.domain.validation import ValidatorCache
from finales.settings import Settings


class Notifier:
    """Wakes long-polling ``GET /work`` calls when work may have appeared.

    ``notify`` may be called from any thread (routes run in a thread pool); waiters live on the
    event loop. A waiter takes the current event *before* it queries, so a notification that
    lands between its query and its wait is not lost. On PostgreSQL a relay
    (``finales.server.pg_notify``) also passes each ``notify`` on to the other server
    processes, whose own notifications arrive here through ``wake_local``.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._relay: Callable[[], None] | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event | None:
        return self._event

    def relay_to(self, relay: Callable[[], None] | None) -> None:
        """Also call ``relay`` (on the event loop) for every ``notify``; None stops it."""
        self._relay = relay

    def notify(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._notify_on_loop)

    def wake_local(self) -> None:
        """Wake this process's waiters only (event loop only): for remote notifications."""
        self._fire()

    def _notify_on_loop(self) -> None:
        self._fire()
        if self._relay is not None:
            self._relay()

    def _fire(self) -> None:
        event, self._event = self._event, asyncio.Event()
        if event is not None:
            event.set()

    @staticmethod
    async def wait(event: asyncio.Event | None, timeout_s: float) -> None:
        if event is None:
            await asyncio.sleep(timeout_s)
            return
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except TimeoutError:
            pass


class PrincipalCache:
    """Credential -> principal for a few seconds, keyed by a digest (no secret kept).

    Principals are immutable today (no role changes, no key revocation); when those arrive
    they must call ``clear``. The TTL bounds how stale an entry can be meanwhile.
    """

    def __init__(self, ttl_s: float = 30.0, maxsize: int = 4096) -> None:
        self.ttl_s = ttl_s
        self.maxsize = maxsize
        self._items: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(credential: str) -> str:
        return hashlib.sha256(credential.encode()).hexdigest()

    def get(self, credential: str) -> Principal | None:
        key = self._key(credential)
        with self._lock:
            hit = self._items.get(key)
            if hit is None or hit[0] < time.monotonic():
                self._items.pop(key, None)
                return None
            return hit[1]

    def put(self, credential: str, principal: Principal) -> None:
        with self._lock:
            if len(self._items) >= self.maxsize:
                self._items.clear()
            self._items[self._key(credential)] = (time.monotonic() + self.ttl_s, principal)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@dataclass
class AppState:
    settings: Settings
    db: Database
    secret: str
    clock: Callable[[], datetime] = utcnow
    validators: ValidatorCache = field(default_factory=ValidatorCache)
    notifier: Notifier = field(default_factory=Notifier)
    principals: PrincipalCache = field(default_factory=PrincipalCache)
    stopping: bool = False  # set on shutdown: long-polls return at once

    def now(self) -> datetime:
        return self.clock()
