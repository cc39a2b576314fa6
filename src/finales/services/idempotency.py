"""Idempotency-Key: a creating POST repeated with the same key returns the first answer."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from finales.db import tables as t
from finales.errors import Conflict

MAX_KEY_CHARS = 200


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def lookup(
    session: Connection, *, principal_id: str, key: str, fingerprint_: str
) -> tuple[int, Any] | None:
    row = session.execute(
        sa.select(t.idempotency_keys).where(
            t.idempotency_keys.c.principal_id == principal_id, t.idempotency_keys.c.key == key
        )
    ).first()
    if row is None:
        return None
    if row.fingerprint != fingerprint_:
        raise Conflict("this Idempotency-Key was already used with a different request")
    return row.status_code, row.body


def store(
    session: Connection,
    *,
    principal_id: str,
    key: str,
    fingerprint_: str,
    status_code: int,
    body: Any,
    now: datetime,
) -> None:
    session.execute(
        t.idempotency_keys.insert().values(
            principal_id=principal_id,
            key=key,
            fingerprint=fingerprint_,
            status_code=status_code,
            body=body,
            created_at=now,
        )
    )
