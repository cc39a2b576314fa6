"""Helpers shared by the services: ids and cursors."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import Connection

from finales.errors import invalid

T = TypeVar("T")


def new_id() -> str:
    return str(uuid.uuid4())


MAX_SEQ = 2**63 - 1  # sequence numbers are 64-bit integers on both databases


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        seq = int(raw[1:]) if raw.startswith("s") else -1
        if not 0 <= seq <= MAX_SEQ:  # a forged larger one overflowed the column (a 500)
            raise ValueError
        return seq
    except (ValueError, UnicodeDecodeError):
        raise invalid("/cursor", "not a cursor returned by this server") from None


def first_seq_since(session: Connection, table: sa.Table, since: datetime) -> int | None:
    """The smallest ``seq`` of the rows created at or after ``since`` (None: there is none).

    Read from the table's (created_at, seq) index, so it costs the rows since, not the
    history: ``seq + 0`` keeps SQLite from its min() shortcut, which walks the primary key
    from the oldest row until one matches.
    """
    first = session.scalar(
        sa.select(sa.func.min(table.c.seq + 0)).where(table.c.created_at >= since)
    )
    return None if first is None else int(first)


def page_start(
    conn: Connection, table: sa.Table, *, cursor: str | None, since: datetime | None
) -> int | None:
    """The ``seq`` a listing page starts after: the cursor's, or on a first page with
    ``since`` the one before the first row since (None: no row since, an empty page)."""
    if since is None or cursor:
        return decode_cursor(cursor)
    first = first_seq_since(conn, table, since)
    return None if first is None else first - 1


def page(rows: list[T], limit: int, seq_of: Callable[[T], int]) -> tuple[list[T], str | None]:
    """Cut one extra fetched row off and turn it into the next cursor."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(seq_of(rows[-1]))
    return rows, None
