"""Per-app state: settings, database, secret, validator cache, clock and the work notifier."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from finales.db.engine import Database
from finales.domain.leases import utcnow
from finales.domain.principals import Principal
from finales.domain.validation import ValidatorCache
from finales.server.notifier import Notifier
from finales.services.unit_of_work import Transactions
from finales.settings import Settings

__all__ = ["AppState", "Notifier", "PrincipalCache"]


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
    tx: Transactions = field(init=False)

    def __post_init__(self) -> None:
        # Every write goes through a unit of work that publishes what it changed to the
        # notifier once committed: no route decides whom to wake.
        self.tx = Transactions(self.db, clock=self.clock, publish=self.notifier.publish)

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)
