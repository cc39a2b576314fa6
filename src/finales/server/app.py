"""``create_app(settings)``: builds the engine, the secret and the routes. No globals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from finales import __version__
from finales.db.engine import Database
from finales.db.migrate import is_up_to_date, upgrade
from finales.domain.leases import utcnow
from finales.errors import ConfigurationError
from finales.server import compat, errors_http
from finales.server.deps import CurrentPrincipal
from finales.server.limits import BodySizeLimit, InputGuard
from finales.server.logins import LoginGate
from finales.server.routes import auth, capabilities, export, requests, results, search, tenants
from finales.server.state import AppState
from finales.server.wakeups import watch_changes
from finales.services.requests import expire_leases, leases_due
from finales.settings import Settings

API_PREFIX = "/api/v1"
log = logging.getLogger("finales.server")


def _operation_id(route: APIRoute) -> str:
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    database: Database | None = None,
    migrate: bool | None = None,
) -> FastAPI:
    """Build the broker app.

    ``migrate`` upgrades the schema on start; by default it does so on SQLite (embedded use)
    and refuses to start on an out-of-date PostgreSQL database (run ``finales db upgrade``).
    """
    settings = settings or Settings()
    secret = settings.signing_secret()
    db = database or Database(
        settings.resolved_database_url(), busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    if migrate if migrate is not None else db.dialect == "sqlite":
        upgrade(db)
    elif not is_up_to_date(db):
        raise ConfigurationError("the database schema is not up to date: run 'finales db upgrade'")
    state = AppState(settings=settings, db=db, secret=secret, clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.notifier.bind(asyncio.get_running_loop())
        stop = asyncio.Event()
        sweeper = asyncio.create_task(_sweep_leases(state, stop))
        watcher = asyncio.create_task(watch_changes(state, stop))
        state.search.start(state.tx.read)  # the search graph, built in a thread
        # PostgreSQL may be shared by several server processes: wake-ups cross them by
        # LISTEN/NOTIFY. SQLite is served by one process, so its notifier stays in-process.
        wakeups = None
        if db.dialect == "postgresql":
            from finales.server.pg_notify import PgWakeups  # psycopg: the postgres extra

            link = PgWakeups(db, state.notifier)
            wakeups = asyncio.create_task(link.run())
        try:
            yield
        finally:
            if wakeups is not None:
                wakeups.cancel()
                await asyncio.gather(wakeups, return_exceptions=True)
            # Let a sweep that is running in a worker thread finish before the engine goes.
            stop.set()
            await sweeper
            await watcher
            await asyncio.to_thread(state.search.stop)
            state.logins.close()
            if database is None:
                db.dispose()

    # The OpenAPI document and its docs page answer without credentials unless the settings
    # say otherwise; then the document needs credentials and the page (which could not send
    # them) is not served.
    public_docs = settings.public_docs
    app = FastAPI(
        title="finales",
        version=__version__,
        summary="A broker for self-driving laboratories",
        openapi_url=f"{API_PREFIX}/openapi.json" if public_docs else None,
        docs_url=f"{API_PREFIX}/docs" if public_docs else None,
        redoc_url=None,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.finales = state
    errors_http.install(app)
    # Flat includes: FastAPI matches nested routers level by level, which cost more CPU per
    # call than the hand-out query itself (profiled under benchmarks/broker_load.py).
    for module in (auth, capabilities, tenants, requests, results, export, search):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(compat.router)  # the FINALES 2 door, at the root as FINALES 2 had it
    _redact_access_log()

    if not public_docs:

        @app.get(f"{API_PREFIX}/openapi.json", include_in_schema=False)
        def openapi_document(_principal: CurrentPrincipal) -> JSONResponse:
            """The OpenAPI document, for callers with credentials (``public_docs`` off)."""
            return JSONResponse(app.openapi())

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: answers without credentials and reveals no data (the version: what a
        client needs to know it talks to the broker it expects)."""
        return {"status": "ok", "version": __version__}

    # Inside BodySizeLimit, which bounds what the guard reads.
    app.add_middleware(
        InputGuard, max_depth=settings.max_json_depth, max_nodes=settings.max_json_nodes
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(LoginGate, guard=state.logins)  # outermost: refuses before reading
    return app


class _RedactDumpKey(logging.Filter):
    """Keep the FINALES 2 dump key (a path segment) out of the access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            if args[2].startswith("/database_dump/") and len(args[2]) > len("/database_dump/"):
                record.args = (*args[:2], "/database_dump/<redacted>", *args[3:])
        return True


def _redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _RedactDumpKey) for f in access.filters):
        access.addFilter(_RedactDumpKey())


async def _sweep_leases(state: AppState, stop: asyncio.Event) -> None:
    """Record expired leases as events so that status listings stay truthful; the unit of
    work wakes the long-polls whose offers cover the requests that became claimable."""

    def sweep() -> int:
        with state.tx.read() as conn:  # take the write lock only when there is work
            if not leases_due(conn, state.now()):
                return 0
        with state.tx.write() as uow:
            return expire_leases(uow)

    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), state.settings.lease_sweep_s)
        if stop.is_set():
            return
        try:
            await run_in_threadpool(sweep)
        except Exception:  # keep sweeping: a busy database now is no reason to stop for good
            log.warning("lease sweep failed; retrying", exc_info=True)
