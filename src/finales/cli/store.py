"""The database side of the administration commands (needs the server extra).

Commands open the database named by the settings, upgrade an SQLite schema on the way
(embedded use), refuse an out-of-date PostgreSQL one, and run one unit of work. No change is
published: a server running on the same database notices it by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from finales.cli.context import Options, err, errors, fail
from finales.db.engine import Database
from finales.db.migrate import current_revision, head_revision, upgrade
from finales.services.unit_of_work import Transactions, UnitOfWork
from finales.settings import Settings, load_settings

T = TypeVar("T")


def settings() -> Settings:
    with errors():
        return load_settings(Options.config)
    raise AssertionError("unreachable: errors() exits")  # pragma: no cover


def shown(url: str) -> str:
    """A database URL fit to print: no password (libpq URLs may carry one in the user part
    or in the query string)."""
    return make_url(url).set(query={}).render_as_string(hide_password=True)


@contextmanager
def raw_database() -> Iterator[Database]:
    """The configured database as it is (no migration, no check), announced on stderr - which
    database, and "(created)" when this command makes it - so that a command run with another
    FINALES_HOME than the server's does not write elsewhere unnoticed."""
    s = settings()
    url = s.resolved_database_url()
    parsed = make_url(url)
    path = parsed.database if parsed.get_backend_name() == "sqlite" else None
    created = bool(path) and path != ":memory:" and not Path(str(path)).exists()
    try:
        db = Database(url, busy_timeout_ms=s.sqlite_busy_timeout_ms)
        with db.engine.connect():
            pass
    except (OSError, OperationalError) as exc:
        reason = getattr(exc, "orig", None) or exc
        fail(
            f"cannot open the database {shown(url)}: {str(reason).splitlines()[0]} "
            "(set FINALES_HOME to a writable directory, or FINALES_DATABASE_URL)"
        )
    err.print(f"finales: database {shown(url)}{' (created)' if created else ''}", highlight=False)
    try:
        yield db
    finally:
        db.dispose()


@contextmanager
def database() -> Iterator[Database]:
    """The configured database with an up-to-date schema."""
    with raw_database() as db:
        try:
            if db.dialect == "sqlite":
                upgrade(db)
            elif current_revision(db) != head_revision():
                fail("the database schema is not up to date: run 'finales db upgrade'")
        except OperationalError as exc:
            fail(f"cannot use the database: {str(exc.orig or exc).splitlines()[0]}")
        yield db


def write(fn: Callable[[UnitOfWork], T]) -> T:
    """Run ``fn`` in one write transaction (finales errors become one line)."""
    with errors(), database() as db, Transactions(db).write() as uow:
        return fn(uow)


def read(fn: Callable[[Connection], T]) -> T:
    """Run ``fn`` in one read transaction."""
    with errors(), database() as db, db.read() as conn:
        return fn(conn)
