"""Engine construction for SQLite (WAL, busy timeout, BEGIN IMMEDIATE for writes) and
PostgreSQL (psycopg 3), and the write/read transaction helpers routes use."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from finales.errors import Unavailable

WRITE_OPTION = "finales_write"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for bare ``postgresql://`` URLs."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, busy_timeout_ms: int = 30_000, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            pool_size=kwargs.pop("pool_size", 16),
            max_overflow=kwargs.pop("max_overflow", 16),
            **kwargs,
        )
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    engine = sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=kwargs.pop("pool_size", 10),
        max_overflow=kwargs.pop("max_overflow", 20),
        **kwargs,
    )
    _configure_postgresql(engine)
    return engine


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # psycopg prepares a statement after a few runs, and PostgreSQL may then switch to a
        # generic plan, made without the parameter values: `status = $1` cannot tell the few
        # pending requests from the many resolved ones, and the status listings and the
        # hand-out walked the history (2 ms -> 30-60 ms at 100k requests). Plan with the values.
        with dbapi_conn.cursor() as cur:
            cur.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_conn.commit()


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that we can issue BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: sa.Connection) -> None:
        # Writers take the write lock up front: a deferred transaction that reads and then
        # tries to write can fail with SQLITE_BUSY instead of waiting (claims rely on this).
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


class Database:
    """The engine plus transaction helpers. Routes own transactions; services only flush."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 30_000, **kwargs: Any) -> None:
        self.url = normalise_url(url)
        self.busy_timeout_s = busy_timeout_ms / 1000
        self.engine = make_engine(self.url, busy_timeout_ms=busy_timeout_ms, **kwargs)
        # SQLite has one writer at a time. Left to itself, a thread that finds the write lock
        # taken sleeps in SQLite's busy handler (1, 2, 5, ... up to 100 ms per try), which at
        # 16 concurrent clients costs more than the writes themselves. Writers of this process
        # queue on a lock instead and are woken the moment the previous one commits; the busy
        # timeout still arbitrates with other processes (the CLI, a second server).
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None
        self._write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        self._read_engine = (
            self.engine.execution_options(isolation_level="REPEATABLE READ")
            if self.dialect == "postgresql"
            else self.engine
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: commit on success, roll back on any error."""
        lock = self._write_lock
        if lock is not None and not lock.acquire(timeout=self.busy_timeout_s):
            raise Unavailable("the database is busy; retry shortly")
        try:
            with _translate_db_errors(), self._write_engine.begin() as conn:
                yield conn
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One read-only transaction (a consistent snapshot on both backends)."""
        with _translate_db_errors(), self._read_engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _translate_db_errors() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        # SQLite "database is locked" after the busy timeout, or PostgreSQL gone away:
        # retryable, so 503 rather than 500.
        raise Unavailable("the database is busy or unreachable; retry shortly") from exc
