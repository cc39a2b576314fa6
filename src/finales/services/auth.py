"""Principals, passwords (argon2), API keys (hashed, compared in constant time), tokens, and
the user administration (admin only)."""

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
from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from finales.db import tables as t
from finales.domain import policy
from finales.domain.principals import Principal, Role
from finales.domain.views import NewApiKey, UserView
from finales.errors import Conflict, NotFound, Unauthorized, invalid
from finales.services.common import new_id
from finales.services.rows import USER_COLUMNS, user_view
from finales.services.unit_of_work import UnitOfWork

API_KEY_PREFIX = "fk_"
JWT_ALGORITHM = "HS256"
_hasher = PasswordHash.recommended()


@functools.cache
def _dummy_hash() -> str:
    """Verifying against a real hash for unknown users keeps login time independent of
    whether the user exists (made on first use: hashing costs time at import)."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _principal(row: Row[Any]) -> Principal:
    return Principal(id=row.id, name=row.name, role=Role(row.role), tenant_id=row.tenant_id)


def add_principal(
    uow: UnitOfWork,
    *,
    name: str,
    role: Role,
    tenant_id: str | None = None,
    password: str | None = None,
) -> UserView:
    """Store a principal (the caller has decided it may); its password only as a hash."""
    conn = uow.conn
    if role is Role.TENANT and tenant_id is None:
        raise invalid("/tenant_id", "a tenant principal must be bound to a tenant")
    if role is not Role.TENANT and tenant_id is not None:
        raise invalid("/tenant_id", "only tenant principals are bound to a tenant")
    if tenant_id is not None:
        exists = conn.execute(sa.select(t.tenants.c.id).where(t.tenants.c.id == tenant_id))
        if exists.first() is None:
            raise NotFound(f"no tenant with id {tenant_id!r}")
    pid = new_id()
    try:
        with conn.begin_nested():
            conn.execute(
                t.principals.insert().values(
                    id=pid,
                    name=name,
                    role=role.value,
                    tenant_id=tenant_id,
                    password_hash=_hasher.hash(password) if password else None,
                    created_at=uow.now,
                )
            )
    except IntegrityError:
        raise Conflict(f"a principal named {name!r} already exists") from None
    return UserView(id=pid, name=name, role=role, tenant_id=tenant_id, created_at=uow.now)


def add_user(
    uow: UnitOfWork,
    *,
    principal: Principal,
    name: str,
    role: Role,
    tenant_id: str | None = None,
    password: str | None = None,
) -> UserView:
    """Create a principal (admin); a tenant principal is bound to one tenant."""
    policy.require_admin(principal)
    return add_principal(uow, name=name, role=role, tenant_id=tenant_id, password=password)


def password_fingerprint(password: str | None, *, secret: str) -> str | None:
    """What an idempotency fingerprint may keep of a password: a keyed digest, so that a
    retry with another password is a conflict while nothing reversible is stored."""
    if password is None:
        return None
    return hmac.new(secret.encode(), password.encode(), "sha256").hexdigest()


def _row(conn: Connection, *, name: str | None = None, principal_id: str | None = None) -> Any:
    col = t.principals.c.name if name is not None else t.principals.c.id
    value = name if name is not None else principal_id
    return conn.execute(sa.select(t.principals).where(col == value)).first()


def get_principal(conn: Connection, principal_id: str) -> Principal | None:
    row = _row(conn, principal_id=principal_id)
    return _principal(row) if row else None


def get_principal_by_name(conn: Connection, name: str) -> Principal:
    row = _row(conn, name=name)
    if row is None:
        raise NotFound(f"no principal named {name!r}")
    return _principal(row)


def me(conn: Connection, principal: Principal) -> UserView:
    """The authenticated principal, as stored."""
    row = conn.execute(sa.select(*USER_COLUMNS).where(t.principals.c.id == principal.id)).first()
    if row is None:
        raise Unauthorized("the credentials' principal no longer exists")
    return user_view(row)


def list_principals(conn: Connection) -> list[UserView]:
    """Every principal, by name (no password hashes)."""
    rows = conn.execute(sa.select(*USER_COLUMNS).order_by(t.principals.c.name))
    return [user_view(r) for r in rows]


def list_users(conn: Connection, principal: Principal) -> list[UserView]:
    """Every principal (admin)."""
    policy.require_admin(principal)
    return list_principals(conn)


def authenticate_password(conn: Connection, name: str, password: str) -> Principal:
    """Check a name and password; unknown names and wrong passwords both raise 401."""
    row = _row(conn, name=name)
    stored = row.password_hash if row is not None and row.password_hash else _dummy_hash()
    ok = _hasher.verify(password, stored)
    if row is None or not row.password_hash or not ok:
        raise Unauthorized("wrong name or password")
    return _principal(row)


def login(
    conn: Connection, *, name: str, password: str, secret: str, ttl_s: int, now: datetime
) -> str:
    """A bearer token for a name and password (401 for either wrong)."""
    principal = authenticate_password(conn, name, password)
    return issue_token(principal, secret=secret, ttl_s=ttl_s, now=now)


def _key_digest(secret: str) -> str:
    # API keys are 256-bit random secrets, so a plain SHA-256 is a sound hash for them (a slow
    # password hash would only slow every request down).
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(uow: UnitOfWork, *, principal_name: str) -> NewApiKey:
    """Create a key for a principal (the caller has decided it may). The key is never stored."""
    owner = get_principal_by_name(uow.conn, principal_name)
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    uow.conn.execute(
        t.api_keys.insert().values(
            id=key_id, principal_id=owner.id, key_hash=_key_digest(secret), created_at=uow.now
        )
    )
    return NewApiKey(id=key_id, principal=principal_name, key=f"{API_KEY_PREFIX}{key_id}_{secret}")


def issue_api_key(uow: UnitOfWork, *, principal: Principal, principal_name: str) -> NewApiKey:
    """Create a long-lived API key for a principal (admin)."""
    policy.require_admin(principal)
    return create_api_key(uow, principal_name=principal_name)


def authenticate_api_key(conn: Connection, key: str) -> Principal:
    try:
        key_id, secret = key[len(API_KEY_PREFIX) :].split("_", 1)
    except ValueError:
        raise Unauthorized("malformed API key") from None
    row = conn.execute(
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


def principal_id_from_token(token: str, *, secret: str, now: datetime | None = None) -> str:
    """The principal a token names, if its signature holds and it has not expired at ``now``
    (the broker's clock, so that tests move time instead of sleeping; default: real time)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "sub"], "verify_exp": now is None},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired; log in again") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("invalid token") from None
    exp = claims["exp"]
    if now is not None:
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise Unauthorized("invalid token")
        if exp <= now.timestamp():
            raise Unauthorized("the token has expired; log in again")
    return str(claims["sub"])


def authenticate_bearer(
    conn: Connection, credential: str, *, secret: str, now: datetime | None = None
) -> Principal:
    """The principal of an API key or a token (401 for anything else)."""
    if credential.startswith(API_KEY_PREFIX):
        return authenticate_api_key(conn, credential)
    principal = get_principal(conn, principal_id_from_token(credential, secret=secret, now=now))
    if principal is None:
        raise Unauthorized("the token's principal no longer exists")
    return principal
