"""Helpers shared by the services: ids, row views, cursors, event appends."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from finales.db import tables as t
from finales.errors import NotFound, invalid


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


def page(rows: list[Any], limit: int, seq_of: Any) -> tuple[list[Any], str | None]:
    """Cut one extra fetched row off and turn it into the next cursor."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(seq_of(rows[-1]))
    return rows, None


REQUEST_COLUMNS = (
    t.requests.c.seq,
    t.requests.c.id,
    t.requests.c.quantity,
    t.requests.c.methods,
    t.requests.c.parameters,
    t.requests.c.capability_ids,
    t.requests.c.parent_request_id,
    t.requests.c.requester_tenant_id,
    t.principals.c.name.label("requester"),
    t.requests.c.requester_principal_id,
    t.request_state.c.status,
    t.request_state.c.reserved_by,
    t.request_state.c.lease_expires_at,
    t.requests.c.created_at,
    t.request_state.c.updated_at,
)


def request_select() -> sa.Select[Any]:
    """The base query of request views (built once: selects are immutable)."""
    return _REQUEST_SELECT


_REQUEST_SELECT = sa.select(*REQUEST_COLUMNS).select_from(
    t.requests.join(t.request_state, t.request_state.c.request_seq == t.requests.c.seq).join(
        t.principals, t.principals.c.id == t.requests.c.requester_principal_id
    )
)


# Hot statements are built once with bind parameters: building a select and computing its
# cache key cost more CPU than running it on SQLite (profiled under benchmarks/broker_load.py).
_REQUEST_BY_ID = _REQUEST_SELECT.where(t.requests.c.id == sa.bindparam("request_id"))


def get_request(session: Connection, request_id: str) -> dict[str, Any]:
    row = session.execute(_REQUEST_BY_ID, {"request_id": request_id}).first()
    if row is None:
        raise NotFound(f"no request with id {request_id!r}")
    return dict(row._mapping)


RESULT_COLUMNS = (
    t.results.c.seq,
    t.results.c.id,
    t.requests.c.id.label("request_id"),
    t.results.c.request_seq,
    t.results.c.quantity,
    t.results.c.method,
    t.results.c.parameters,
    t.results.c.data,
    t.results.c.tenant_id,
    t.results.c.principal_id,
    t.results.c.capability_id,
    t.result_state.c.status,
    t.results.c.supersedes,
    t.result_state.c.superseded_by,
    t.results.c.created_at,
)


def result_select() -> sa.Select[Any]:
    """The base query of result views (built once)."""
    return _RESULT_SELECT


_RESULT_SELECT = sa.select(*RESULT_COLUMNS).select_from(
    t.results.join(t.result_state, t.result_state.c.result_seq == t.results.c.seq).join(
        t.requests, t.requests.c.seq == t.results.c.request_seq
    )
)


_RESULT_BY_ID = _RESULT_SELECT.where(t.results.c.id == sa.bindparam("result_id"))


def get_result(session: Connection, result_id: str) -> dict[str, Any]:
    row = session.execute(_RESULT_BY_ID, {"result_id": result_id}).first()
    if row is None:
        raise NotFound(f"no result with id {result_id!r}")
    return dict(row._mapping)


_INSERT_REQUEST_EVENT = t.request_events.insert()
_INSERT_RESULT_EVENT = t.result_events.insert()


def add_request_event(
    session: Connection,
    *,
    request_seq: int,
    now: datetime,
    actor: str,
    from_status: str | None,
    to_status: str,
    message: str = "",
    tenant_id: str | None = None,
    lease_expires_at: datetime | None = None,
) -> None:
    session.execute(
        _INSERT_REQUEST_EVENT,
        {
            "request_seq": request_seq,
            "at": now,
            "actor": actor,
            "tenant_id": tenant_id,
            "from_status": from_status,
            "to_status": to_status,
            "message": message,
            "lease_expires_at": lease_expires_at,
        },
    )


def add_result_event(
    session: Connection,
    *,
    result_seq: int,
    now: datetime,
    actor: str,
    from_status: str | None,
    to_status: str,
    message: str = "",
) -> None:
    session.execute(
        _INSERT_RESULT_EVENT,
        {
            "result_seq": result_seq,
            "at": now,
            "actor": actor,
            "from_status": from_status,
            "to_status": to_status,
            "message": message,
        },
    )
