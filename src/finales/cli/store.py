"""The database side of the administration commands (needs the server extra).

Commands open the database named by the settings, upgrade an SQLite schema on the way
(embedded use), refuse an out-of-date PostgreSQL one, and run one unit of work. No change is
published: a server running on the same database notices it by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection

from finales.cli.context import Options, errors, fail
from finales.db.engine import Database
from finales.db.migrate import current_revision, head_revision, upgrade
from finales.services.unit_of_work import Transactions, UnitOfWork
from finales.settings import Settings, load_settings

T = TypeVar("T")


def settings() -> Settings:
    with errors():
        return load_settings(Options.config)
    raise AssertionError("unreachable: errors() exits")  # pragma: no cover


@contextmanager
def raw_database() -> Iterator[Database]:
    """The configured database as it is (no migration, no check)."""
    s = settings()
    db = Database(s.resolved_database_url(), busy_timeout_ms=s.sqlite_busy_timeout_ms)
    try:
        yield db
    finally:
        db.dispose()


@contextmanager
def database() -> Iterator[Database]:
    """The configured database with an up-to-date schema."""
    with raw_database() as db:
        if db.dialect == "sqlite":
            upgrade(db)
        elif current_revision(db) != head_revision():
            fail("the database schema is not up to date: run 'finales db upgrade'")
        yield db


def write(fn: Callable[[UnitOfWork], T]) -> T:
    """Run ``fn`` in one write transaction (finales errors become one line)."""
    with errors(), database() as db, Transactions(db).write() as uow:
        return fn(uow)


def read(fn: Callable[[Connection], T]) -> T:
    """Run ``fn`` in one read transaction."""
    with errors(), database() as db, db.read() as conn:
        return fn(conn)
