"""The unit of work: one write transaction, its clock reading, its idempotency record and
the changes it made.

Services write through a ``UnitOfWork`` and report what changed (``uow.report``); when the
transaction has committed, ``Transactions`` publishes those changes (the server passes its
notifier, which wakes long-polls here and, on PostgreSQL, in the other server processes).
Nothing is published for a transaction that rolled back, and a waiter woken by a change
always finds it committed. No door decides whom to wake.

``Transactions.create`` runs a creating operation at most once per ``Idempotency-Key``: the
answer is stored in the same transaction as the object it describes, so a retried POST
either finds both or neither, and a replay creates nothing (and so publishes nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from finales.db.engine import Database
from finales.domain.changes import Change
from finales.domain.leases import utcnow
from finales.services import idempotency

Publish = Callable[[Sequence[Change]], None]
P = ParamSpec("P")
V = TypeVar("V")


class UnitOfWork:
    """One write transaction: its connection, the time it runs at, what it changed."""

    __slots__ = ("changes", "conn", "now")

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn = conn
        self.now = now
        self.changes: list[Change] = []

    def report(self, change: Change) -> None:
        """Announce ``change`` to waiters once (and only if) this transaction commits."""
        self.changes.append(change)


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client's ``Idempotency-Key`` and the fingerprint of the call it was sent with."""

    principal_id: str
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Creation:
    """A creating call: its idempotency key (None: not keyed) and its success status."""

    key: IdempotencyKey | None
    status_code: int = 201


@dataclass(frozen=True, slots=True)
class Answer:
    """What a creating call answered (``replayed``: the stored answer of an earlier call)."""

    status_code: int
    body: Any
    replayed: bool = False


class Transactions:
    """Opens units of work on one database with one clock, and publishes their changes."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] = utcnow,
        publish: Publish | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self._publish = publish

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot on both backends)."""
        with self.db.read() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[UnitOfWork]:
        """A write transaction; its reported changes are published after the commit."""
        with self.db.write() as conn:
            uow = UnitOfWork(conn, self.now())
            yield uow
        if uow.changes and self._publish is not None:
            self._publish(tuple(uow.changes))

    def create(
        self,
        creation: Creation,
        shape: Callable[[V], Any],
        service: Callable[Concatenate[UnitOfWork, P], V],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Answer:
        """Run ``service(uow, *args, **kwargs)`` once per idempotency key; ``shape`` turns
        what it returns into the answer's JSON body (what a replay answers)."""
        key, status_code = creation.key, creation.status_code
        if key is None:
            with self.write() as uow:
                return Answer(status_code, shape(service(uow, *args, **kwargs)))
        try:
            with self.write() as uow:
                hit = self._lookup(uow.conn, key)
                if hit is not None:
                    return hit
                body = shape(service(uow, *args, **kwargs))
                idempotency.store(
                    uow.conn,
                    principal_id=key.principal_id,
                    key=key.key,
                    fingerprint_=key.fingerprint,
                    status_code=status_code,
                    body=body,
                    now=uow.now,
                )
        except IntegrityError:
            # A concurrent call with the same key committed first: answer as it did.
            with self.read() as conn:
                hit = self._lookup(conn, key)
            if hit is None:
                raise
            return hit
        return Answer(status_code, body)

    @staticmethod
    def _lookup(conn: Connection, key: IdempotencyKey) -> Answer | None:
        hit = idempotency.lookup(
            conn, principal_id=key.principal_id, key=key.key, fingerprint_=key.fingerprint
        )
        return None if hit is None else Answer(hit[0], hit[1], replayed=True)
