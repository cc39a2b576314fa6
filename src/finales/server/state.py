"""Per-app state: settings, database, secret, validator cache, clock and the work notifier."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from finales.db.engine import Database
from finales.domain.changes import Change, CredentialsChanged
from finales.domain.leases import utcnow
from finales.domain.principals import Principal
from finales.domain.validation import ValidatorCache
from finales.server.logins import LoginGuard
from finales.server.notifier import Notifier
from finales.services.search import SearchIndex
from finales.services.unit_of_work import Transactions
from finales.settings import Settings

__all__ = ["AppState", "Notifier", "PrincipalCache"]


class PrincipalCache:
    """Credential -> principal for a few seconds, keyed by a digest (no secret kept).

    Used only where one server process serves the database (SQLite). There it is emptied
    whenever credentials change: at once by the process that made the change (before it
    answers), and at the next look for changes (``long_poll_recheck_s``) for a change made
    by the CLI. The TTL is a last bound.

    On PostgreSQL it is off (``enabled=False``): several processes and the CLI share the
    database, and a revocation must apply to the next call on every one of them. A
    notification reaches the other processes only some time after the commit (under load,
    after their next call: a clean-clone test run saw it), and checking that no change was
    committed costs a database read, as much as the lookup the cache would save.
    """

    def __init__(self, ttl_s: float = 30.0, maxsize: int = 4096, *, enabled: bool = True) -> None:
        self.enabled = enabled
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
        if not self.enabled:
            return
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
    logins: LoginGuard = field(init=False)
    search: SearchIndex = field(init=False)

    def __post_init__(self) -> None:
        # Every write goes through a unit of work that publishes what it changed to the
        # notifier once committed: no route decides whom to wake.
        self.tx = Transactions(self.db, clock=self.clock, publish=self._publish)
        if self.db.dialect == "postgresql":
            self.principals = PrincipalCache(enabled=False)  # see PrincipalCache
        s = self.settings
        self.search = SearchIndex(sparql_concurrency=s.sparql_concurrency)
        self.logins = LoginGuard(
            per_user=s.login_rate_per_user,
            per_address=s.login_rate_per_address,
            workers=s.password_hash_workers,
            queue_max=s.login_queue_max,
            failure_delay_s=s.login_failure_delay_s,
        )

    def _publish(self, changes: Sequence[Change]) -> None:
        """After a commit: forget cached principals when credentials changed (here, in the
        committing thread, so that the caller's next call is checked afresh), and wake the
        long-polls the other changes concern."""
        if any(isinstance(c, CredentialsChanged) for c in changes):
            self.principals.clear()
            changes = [c for c in changes if not isinstance(c, CredentialsChanged)]
        if changes:
            self.notifier.publish(changes)

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)
