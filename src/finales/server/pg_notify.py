"""Cross-process long-poll wake-ups on PostgreSQL: ``LISTEN/NOTIFY`` on ``finales_work``.

Every server process sharing one database runs one :class:`PgWakeups` task. It holds two
small autocommit connections of its own, apart from the engine's pool:

- a *listen* connection (``application_name`` ``finales-listen``) that waits for
  notifications on the channel and wakes this process's long-polls;
- a *notify* connection (``finales-notify``) that broadcasts this process's own
  :meth:`Notifier.publish` calls as ``pg_notify('finales_work', <process token>)``.

The broadcast is sent *after* the writing transaction has committed (the unit of work
publishes once its transaction is over), so a woken waiter's re-query sees the change.
Sending it inside each writing transaction would also tie delivery to the commit, but every
write path would have to know about it; after-commit keeps it in one place. What it gives up: a
process that dies between commit and broadcast loses that one wake-up, which the periodic
re-check of every long-poll (``long_poll_recheck_s``) still covers. A broadcast that fails is
kept and sent after the reconnect, and the failure is logged.

Changes of credentials need no notification: on PostgreSQL no process caches principals
(``finales.server.state.PrincipalCache``), so a revocation applies to the next call everywhere.

No self-wake loop: a notification carrying this process's own token is ignored, and a
received notification only wakes local waiters, it is never broadcast again. No storm: calls
to ``publish`` that arrive while a broadcast is in flight collapse into one more broadcast.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import psycopg

from finales.db.engine import Database
from finales.server.state import Notifier

CHANNEL = "finales_work"
LISTEN_APPLICATION = "finales-listen"
NOTIFY_APPLICATION = "finales-notify"
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 15.0
LIBPQ_DEFAULTS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}

log = logging.getLogger("finales.server.pg_notify")


class PgWakeups:
    """Relays one process's work notifications to the others through PostgreSQL, and back."""

    def __init__(self, db: Database, notifier: Notifier) -> None:
        _args, kwargs = db.engine.dialect.create_connect_args(db.engine.url)
        kwargs.pop("context", None)  # the engine's (sync) adapters; the defaults do here
        # An idle LISTEN connection notices a silently dropped network only by keepalives.
        for key, value in LIBPQ_DEFAULTS.items():
            kwargs.setdefault(key, value)
        self._connect_kwargs: dict[str, Any] = dict(kwargs)
        self._notifier = notifier
        self.token = uuid.uuid4().hex  # tells our own notifications from the others'
        self._wanted = asyncio.Event()  # a broadcast is due
        self.connected = False  # both connections up and listening
        self._outage_logged = False

    def request_broadcast(self) -> None:
        """Called on the event loop for every local publication: coalesces into one NOTIFY."""
        self._wanted.set()

    async def run(self) -> None:
        """Stay connected until cancelled; reconnect with backoff after any failure."""
        self._notifier.relay_to(self.request_broadcast)
        backoff_s = RECONNECT_MIN_S
        try:
            while True:
                try:
                    await self._connected_period()
                except Exception as exc:  # any failure of this optional link: retry
                    if self.connected:
                        backoff_s = RECONNECT_MIN_S  # it was up: a fresh outage
                    self.connected = False
                    if not self._outage_logged:  # once per outage, not once per retry
                        log.warning(
                            "PostgreSQL notification link lost (%s); reconnecting, long-polls "
                            "fall back to their periodic re-check meanwhile",
                            type(exc).__name__,
                            # a database error says enough; anything else needs its trace
                            exc_info=not isinstance(exc, (psycopg.Error, OSError)),
                        )
                        self._outage_logged = True
                    await asyncio.sleep(backoff_s)
                    backoff_s = min(backoff_s * 2, RECONNECT_MAX_S)
        finally:
            self._notifier.relay_to(None)
            self.connected = False

    async def _connected_period(self) -> None:
        """One connection lifetime; it ends only by an error (or cancellation)."""
        async with (
            await self._connect(LISTEN_APPLICATION) as listen,
            await self._connect(NOTIFY_APPLICATION) as send,
        ):
            await listen.execute(f"LISTEN {CHANNEL}")
            self.connected = True
            if self._outage_logged:
                log.warning("PostgreSQL notification link restored")
                self._outage_logged = False
            # Notifications sent while we were not listening are gone: let waiters re-query.
            self._notifier.wake_local()
            tasks = [
                asyncio.create_task(self._receive(listen)),
                asyncio.create_task(self._broadcast(send)),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            for task in done:
                task.result()  # re-raises the connection error that ended the period
            raise psycopg.OperationalError("the notification stream ended")

    async def _connect(self, application_name: str) -> psycopg.AsyncConnection[Any]:
        kwargs = {**self._connect_kwargs, "application_name": application_name}
        return await psycopg.AsyncConnection.connect(autocommit=True, **kwargs)

    async def _receive(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async for note in conn.notifies():
            if note.payload != self.token:
                self._notifier.wake_local()

    async def _broadcast(self, conn: psycopg.AsyncConnection[Any]) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self.token))
            except BaseException:
                self._wanted.set()  # not lost: sent again once reconnected
                raise
