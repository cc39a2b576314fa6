"""Principals, passwords (argon2), API keys (hashed, compared in constant time), tokens."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

import jwt
import sqlalchemy as sa
from pwdlib import PasswordHash
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from finales.db import tables as t
from finales.domain.principals import Principal, Role
from finales.errors import Conflict, NotFound, Unauthorized, invalid
from finales.services.common import new_id

API_KEY_PREFIX = "fk_"
JWT_ALGORITHM = "HS256"
_hasher = PasswordHash.recommended()


@functools.cache
def _dummy_hash() -> str:
    """Verifying against a real hash for unknown users keeps login time independent of
    whether the user exists (made on first use: hashing costs time at import)."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _principal(row: Any) -> Principal:
    return Principal(id=row.id, name=row.name, role=Role(row.role), tenant_id=row.tenant_id)


def add_principal(
    session: Connection,
    *,
    name: str,
    role: Role,
    now: datetime,
    tenant_id: str | None = None,
    password: str | None = None,
) -> Principal:
    if role is Role.TENANT and tenant_id is None:
        raise invalid("/tenant_id", "a tenant principal must be bound to a tenant")
    if role is not Role.TENANT and tenant_id is not None:
        raise invalid("/tenant_id", "only tenant principals are bound to a tenant")
    if tenant_id is not None:
        exists = session.execute(sa.select(t.tenants.c.id).where(t.tenants.c.id == tenant_id))
        if exists.first() is None:
            raise NotFound(f"no tenant with id {tenant_id!r}")
    pid = new_id()
    try:
        with session.begin_nested():
            session.execute(
                t.principals.insert().values(
                    id=pid,
                    name=name,
                    role=role.value,
                    tenant_id=tenant_id,
                    password_hash=_hasher.hash(password) if password else None,
                    created_at=now,
                )
            )
    except IntegrityError:
        raise Conflict(f"a principal named {name!r} already exists") from None
    return Principal(id=pid, name=name, role=role, tenant_id=tenant_id)


def principal_row(
    session: Connection, *, name: str | None = None, principal_id: str | None = None
) -> Any:
    col = t.principals.c.name if name is not None else t.principals.c.id
    return session.execute(
        sa.select(t.principals).where(col == (name if name is not None else principal_id))
    ).first()


def get_principal(session: Connection, principal_id: str) -> Principal | None:
    row = principal_row(session, principal_id=principal_id)
    return _principal(row) if row else None


def get_principal_by_name(session: Connection, name: str) -> Principal:
    row = principal_row(session, name=name)
    if row is None:
        raise NotFound(f"no principal named {name!r}")
    return _principal(row)


def list_principals(session: Connection) -> list[dict[str, Any]]:
    rows = session.execute(
        sa.select(
            t.principals.c.id,
            t.principals.c.name,
            t.principals.c.role,
            t.principals.c.tenant_id,
            t.principals.c.created_at,
        ).order_by(t.principals.c.name)
    )
    return [dict(r._mapping) for r in rows]


def authenticate_password(session: Connection, name: str, password: str) -> Principal:
    """Check a name and password; unknown names and wrong passwords both raise 401."""
    row = principal_row(session, name=name)
    stored = row.password_hash if row is not None and row.password_hash else _dummy_hash()
    ok = _hasher.verify(password, stored)
    if row is None or not row.password_hash or not ok:
        raise Unauthorized("wrong name or password")
    return _principal(row)


def _key_digest(secret: str) -> str:
    # API keys are 256-bit random secrets, so a plain SHA-256 is a sound hash for them (a slow
    # password hash would only slow every request down).
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(session: Connection, *, principal_name: str, now: datetime) -> tuple[str, str]:
    """Create a key for a principal; returns ``(key_id, key)``. The key is never stored."""
    principal = get_principal_by_name(session, principal_name)
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    session.execute(
        t.api_keys.insert().values(
            id=key_id, principal_id=principal.id, key_hash=_key_digest(secret), created_at=now
        )
    )
    return key_id, f"{API_KEY_PREFIX}{key_id}_{secret}"


def authenticate_api_key(session: Connection, key: str) -> Principal:
    try:
        key_id, secret = key[len(API_KEY_PREFIX) :].split("_", 1)
    except ValueError:
        raise Unauthorized("malformed API key") from None
    row = session.execute(
        sa.select(t.api_keys.c.key_hash, t.principals)
        .join(t.principals, t.principals.c.id == t.api_keys.c.principal_id)
        .where(t.api_keys.c.id == key_id)
    ).first()
    stored = row.key_hash if row is not None else _key_digest("")
    if not hmac.compare_digest(stored, _key_digest(secret)) or row is None:
        raise Unauthorized("invalid API key")
    return _principal(row)


def issue_token(principal: Principal, *, secret: str, ttl_s: int, now: datetime) -> str:
    claims = {
        "sub": principal.id,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl_s)).timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def principal_id_from_token(token: str, *, secret: str) -> str:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired; log in again") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("invalid token") from None
    return str(claims["sub"])


def authenticate_bearer(session: Connection, credential: str, *, secret: str) -> Principal:
    if credential.startswith(API_KEY_PREFIX):
        return authenticate_api_key(session, credential)
    principal = get_principal(session, principal_id_from_token(credential, secret=secret))
    if principal is None:
        raise Unauthorized("the token's principal no longer exists")
    return principal
