"""Migrations bring an empty database to exactly the schema the code declares."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from finales.db.engine import Database
from finales.db.migrate import current_revision, head_revision, upgrade
from finales.db.tables import metadata
from tests.conftest import PG_ADMIN_URL, _pg_url


def _empty_url(backend: str, tmp_path: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}", None
    name = f"finales_empty_{tmp_path.name[-20:].replace('-', '_').lower()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return _pg_url(name), name


def test_upgrade_from_empty(backend: str, tmp_path: Path) -> None:
    url, pg_name = _empty_url(backend, tmp_path)
    db = Database(url)
    try:
        assert current_revision(db) is None
        upgrade(db)
        assert current_revision(db) == head_revision()
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, metadata) == []
        upgrade(db)  # idempotent
        assert current_revision(db) == head_revision()
    finally:
        db.dispose()
        if pg_name:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
