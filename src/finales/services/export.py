"""Consistent snapshots: a JSON bundle of every table (both backends) and the SQLite file."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from finales.db import tables as t
from finales.db.engine import Database
from finales.domain import policy
from finales.domain.principals import Principal
from finales.errors import BadRequest

SECRET_COLUMNS = {"principals": {"password_hash"}, "api_keys": {"key_hash"}}
EXPORT_TABLES = (
    "principals",
    "capabilities",
    "capability_events",
    "tenants",
    "offer_sets",
    "offers",
    "requests",
    "request_methods",
    "request_labels",
    "request_events",
    "request_state",
    "results",
    "result_events",
    "result_state",
)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def json_bundle(conn: Connection) -> dict[str, Any]:
    """Every table as rows, read in one transaction (the caller's snapshot); no secrets."""
    bundle: dict[str, Any] = {"format": "finales-export", "version": 1, "tables": {}}
    for name in EXPORT_TABLES:
        table = t.metadata.tables[name]
        hidden = SECRET_COLUMNS.get(name, set())
        cols = [c for c in table.c if c.name not in hidden]
        order = list(table.primary_key.columns)
        rows = conn.execute(sa.select(*cols).order_by(*order))
        bundle["tables"][name] = [{k: _jsonable(v) for k, v in r._mapping.items()} for r in rows]
    return bundle


def snapshot_json(conn: Connection, principal: Principal) -> dict[str, Any]:
    """The JSON bundle, for the archiver role and admins."""
    policy.require_exporter(principal)
    return json_bundle(conn)


def sqlite_backup(source_path: str, target: Path) -> None:
    """Copy a live SQLite database with the online-backup API (a consistent snapshot), then
    blank password hashes and key hashes in the copy."""
    src = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("UPDATE principals SET password_hash = NULL")
        dst.execute("DELETE FROM api_keys")
        dst.commit()
        dst.execute("VACUUM")
    finally:
        src.close()
        dst.close()


def sqlite_snapshot_file(db: Database, *, why_not: str = "use format=json") -> Path:
    """A consistent copy of the SQLite database (secrets blanked) in a new temporary file,
    which the caller sends and deletes; 400 on PostgreSQL, which keeps no file."""
    if db.dialect != "sqlite":
        raise BadRequest(
            f"this needs a SQLite database, and this server uses PostgreSQL; {why_not}"
        )
    fd, name = tempfile.mkstemp(suffix=".sqlite", prefix="finales-snapshot-")
    os.close(fd)
    try:
        sqlite_backup(str(make_url(db.url).database), Path(name))
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def sqlite_snapshot(db: Database, principal: Principal) -> Path:
    """The SQLite snapshot, for the archiver role and admins."""
    policy.require_exporter(principal)
    return sqlite_snapshot_file(db, why_not="use format=json")


def finales2_dump(db: Database, *, given_key: str | None, dump_key: str | None) -> Path:
    """FINALES 2's ``database_dump``: the SQLite snapshot, for the holder of the dump key."""
    policy.check_dump_key(given_key, dump_key)
    return sqlite_snapshot_file(db, why_not=policy.EXPORT_HINT)
