"""Wake-ups for changes this process did not announce itself.

A waiting ``GET /work`` does not re-query on a timer (200 idle tenants would otherwise cost 100
hand-out queries a second). Requests posted or released through this process wake the long-
polls they concern directly (units of work publish their changes to the notifier). What remains
are changes made elsewhere - another server process on the same database, or the CLI editing
offers and capabilities - and a notification that got lost. For those, one task per process
looks at the database every ``long_poll_recheck_s``: the set of pending requests (from an
index, so the cost follows the live queue, not the history), the latest offer set and
capability event, and the latest change of credentials. Requests that turned pending since the
last look wake the long-polls whose offers cover them; changed offers or capabilities wake every
long-poll, whose hand-out then re-reads them; changed credentials (the CLI disabled a user...)
empty the principal cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.concurrency import run_in_threadpool

from finales.domain.changes import RequestClaimable
from finales.server.state import AppState
from finales.services import auth, work

log = logging.getLogger("finales.server.wakeups")


async def watch_changes(state: AppState, stop: asyncio.Event) -> None:
    """Run until ``stop`` is set; see the module docstring."""
    last: work.Snapshot | None = None
    credentials: int | None = None

    def look(
        previous: work.Snapshot | None,
    ) -> tuple[work.Snapshot, list[RequestClaimable], int]:
        with state.tx.read() as conn:
            now = work.snapshot(conn)
            fresh = [] if previous is None else sorted(now.pending - previous.pending)
            # Only waiters need the requests themselves.
            views = work.claimable_changes(conn, fresh) if state.notifier.waiting else []
            return now, views, auth.credentials_mark(conn)

    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), state.settings.long_poll_recheck_s)
        if stop.is_set():
            return
        try:
            now, views, mark = await run_in_threadpool(look, last)
        except Exception:  # a busy or unreachable database now is no reason to stop for good
            log.warning("looking for changes failed; retrying", exc_info=True)
            continue
        if last is not None and (
            now.offers_mark != last.offers_mark or now.capabilities_mark != last.capabilities_mark
        ):
            state.notifier.wake_local()
        for change in views:
            state.notifier.wake_local(change)
        if credentials is not None and mark != credentials:
            state.principals.clear()
        last, credentials = now, mark
