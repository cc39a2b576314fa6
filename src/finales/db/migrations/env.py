"""Alembic environment: runs on the connection or URL handed over by finales.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from finales.db.engine import make_engine
from finales.db.tables import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            _run_on(conn)
    finally:
        engine.dispose()


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    if connection.in_transaction():
        connection.commit()


run()
