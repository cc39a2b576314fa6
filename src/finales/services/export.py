"""Consistent snapshots: a JSON bundle of every table (both backends) and the SQLite file."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from finales.db import tables as t

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
    "request_events",
    "request_state",
    "results",
    "result_events",
    "result_state",
)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def json_bundle(session: Connection) -> dict[str, Any]:
    """Every table as rows, read in one transaction (the caller's snapshot); no secrets."""
    bundle: dict[str, Any] = {"format": "finales-export", "version": 1, "tables": {}}
    for name in EXPORT_TABLES:
        table = t.metadata.tables[name]
        hidden = SECRET_COLUMNS.get(name, set())
        cols = [c for c in table.c if c.name not in hidden]
        order = list(table.primary_key.columns)
        rows = session.execute(sa.select(*cols).order_by(*order))
        bundle["tables"][name] = [{k: _jsonable(v) for k, v in r._mapping.items()} for r in rows]
    return bundle


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
