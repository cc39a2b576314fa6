"""Principals, passwords (argon2), API keys (hashed, compared in constant time), tokens, and
the user administration (admin only): creation, roles, passwords, disabling, revoking keys and
ending tokens, each recorded in the principal's audit history (``principal_events``).

Revocation takes effect on the next call: the check is made against the database on every
lookup, and every change reports ``CredentialsChanged`` so that the servers' caches of
authenticated principals are emptied (``finales.server.state``)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
import sqlalchemy as sa
from pwdlib import PasswordHash
from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from finales.db import tables as t
from finales.domain import policy
from finales.domain.changes import CredentialsChanged
from finales.domain.names import check_name
from finales.domain.principals import BINDABLE_ROLES, Principal, Role
from finales.domain.views import ApiKeyView, NewApiKey, PrincipalEventView, UserView
from finales.errors import Conflict, Forbidden, NotFound, Unauthorized, invalid
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


MIN_PASSWORD_CHARS = 8


def _principal(row: Row[Any]) -> Principal:
    return Principal(id=row.id, name=row.name, role=Role(row.role), tenant_id=row.tenant_id)


def _audit(uow: UnitOfWork, principal_id: str, action: str, actor: str, message: str = "") -> None:
    """Append to the principal's audit history (never a secret in ``message``)."""
    uow.conn.execute(
        t.principal_events.insert().values(
            principal_id=principal_id, at=uow.now, actor=actor, action=action, message=message
        )
    )


def check_password(password: str) -> None:
    """The one rule for a new password, whichever door sets it."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise invalid("/password", f"a password needs at least {MIN_PASSWORD_CHARS} characters")


def add_principal(
    uow: UnitOfWork,
    *,
    name: str,
    role: Role,
    tenant_id: str | None = None,
    password: str | None = None,
    actor: str = "system",
) -> UserView:
    """Store a principal (the caller has decided it may); its password only as a hash."""
    conn = uow.conn
    check_name(name, "/name")
    _check_binding(conn, role, tenant_id)
    if password is not None:
        check_password(password)
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
    bound = f" bound to tenant {tenant_id}" if tenant_id else ""
    _audit(uow, pid, "created", actor, f"role {role.value}{bound}")
    return UserView(id=pid, name=name, role=role, tenant_id=tenant_id, created_at=uow.now)


def _check_binding(conn: Connection, role: Role, tenant_id: str | None) -> None:
    if role is Role.TENANT and tenant_id is None:
        raise invalid("/tenant_id", "a tenant principal must be bound to a tenant")
    if role not in BINDABLE_ROLES and tenant_id is not None:
        raise invalid("/tenant_id", "only tenant and archiver principals are bound to a tenant")
    if tenant_id is not None:
        exists = conn.execute(sa.select(t.tenants.c.id).where(t.tenants.c.id == tenant_id))
        if exists.first() is None:
            raise NotFound(f"no tenant with id {tenant_id!r}")


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
    return add_principal(
        uow, name=name, role=role, tenant_id=tenant_id, password=password, actor=principal.name
    )


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
    """Check a name and password; unknown names and wrong passwords both raise 401 (after the
    same work). A disabled user is told so only once the password was right."""
    row = _row(conn, name=name)
    stored = row.password_hash if row is not None and row.password_hash else _dummy_hash()
    ok = _hasher.verify(password, stored)
    if row is None or not row.password_hash or not ok:
        raise Unauthorized("wrong name or password")
    if row.disabled_at is not None:
        raise Unauthorized("this user is disabled; ask an admin")
    return _principal(row)


def login(
    conn: Connection, *, name: str, password: str, secret: str, ttl_s: int, now: datetime
) -> str:
    """A bearer token for a name and password (401 for either wrong)."""
    principal = authenticate_password(conn, name, password)
    generation = _row(conn, principal_id=principal.id).token_generation
    return issue_token(principal, secret=secret, ttl_s=ttl_s, now=now, generation=generation)


def _key_digest(secret: str) -> str:
    # API keys are 256-bit random secrets, so a plain SHA-256 is a sound hash for them (a slow
    # password hash would only slow every request down).
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(uow: UnitOfWork, *, principal_name: str, actor: str = "system") -> NewApiKey:
    """Create a key for a principal (the caller has decided it may). The key is never stored."""
    owner = get_principal_by_name(uow.conn, principal_name)
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    uow.conn.execute(
        t.api_keys.insert().values(
            id=key_id, principal_id=owner.id, key_hash=_key_digest(secret), created_at=uow.now
        )
    )
    _audit(uow, owner.id, "api_key_created", actor, f"key {key_id}")
    return NewApiKey(id=key_id, principal=principal_name, key=f"{API_KEY_PREFIX}{key_id}_{secret}")


def issue_api_key(uow: UnitOfWork, *, principal: Principal, principal_name: str) -> NewApiKey:
    """Create a long-lived API key for a principal (admin)."""
    policy.require_admin(principal)
    return create_api_key(uow, principal_name=principal_name, actor=principal.name)


def list_api_keys(
    conn: Connection, principal: Principal | None = None, *, owner: str | None = None
) -> list[ApiKeyView]:
    """The API keys (admin; ``principal`` None: the CLI), oldest first, or those of one
    principal (``owner``, a name). Never a key or its hash."""
    if principal is not None:
        policy.require_admin(principal)
    query = (
        sa.select(
            t.api_keys.c.id,
            t.principals.c.name,
            t.api_keys.c.created_at,
            t.api_keys.c.revoked_at,
        )
        .join(t.principals, t.principals.c.id == t.api_keys.c.principal_id)
        .order_by(t.api_keys.c.created_at, t.api_keys.c.id)
    )
    if owner is not None:
        query = query.where(t.principals.c.id == get_principal_by_name(conn, owner).id)
    return [
        ApiKeyView(id=r.id, principal=r.name, created_at=r.created_at, revoked_at=r.revoked_at)
        for r in conn.execute(query)
    ]


def revoke_api_key(uow: UnitOfWork, *, principal: Principal, key_id: str) -> ApiKeyView:
    """Revoke a key (an admin, or the principal the key authenticates as): refused from the
    next call on. Revoking a revoked key changes nothing."""
    conn = uow.conn
    row = conn.execute(
        sa.select(t.api_keys, t.principals.c.name)
        .join(t.principals, t.principals.c.id == t.api_keys.c.principal_id)
        .where(t.api_keys.c.id == key_id)
    ).first()
    if row is None:
        raise NotFound(f"no API key with id {key_id!r}")
    if not (principal.is_admin or principal.id == row.principal_id):
        # A key id alone opens nothing (the secret is needed), so saying it exists is safe.
        raise Forbidden("only an admin or the key's own principal revokes an API key")
    revoked_at = row.revoked_at
    if revoked_at is None:
        revoked_at = uow.now
        conn.execute(
            t.api_keys.update().where(t.api_keys.c.id == key_id).values(revoked_at=revoked_at)
        )
        _audit(uow, row.principal_id, "api_key_revoked", principal.name, f"key {key_id}")
        uow.report(CredentialsChanged())
    return ApiKeyView(
        id=key_id, principal=row.name, created_at=row.created_at, revoked_at=revoked_at
    )


@dataclass(frozen=True, slots=True)
class UserChange:
    """What an admin changes of a user; None leaves a field as it is. ``tenant_id`` counts
    only with ``role`` (a tenant principal is bound to one tenant, an archiver may be, the
    others are bound to none)."""

    role: Role | None = None
    tenant_id: str | None = None
    disabled: bool | None = None
    password: str | None = None


def update_user(
    uow: UnitOfWork, *, principal: Principal, name: str, change: UserChange
) -> UserView:
    """Change a user's role, password or whether it is disabled (admin), each change recorded
    in its audit history. A new password or disabling ends the user's tokens. The last enabled
    admin can be neither disabled nor given another role (nobody could undo it by the API)."""
    policy.require_admin(principal)
    conn = uow.conn
    row = _row(conn, name=name)
    if row is None:
        raise NotFound(f"no principal named {name!r}")
    values: dict[str, Any] = {}
    notes: list[tuple[str, str]] = []
    role = Role(row.role)
    if change.role is not None:
        tenant_id = change.tenant_id if change.role in BINDABLE_ROLES else None
        if change.role not in BINDABLE_ROLES and change.tenant_id is not None:
            raise invalid("/tenant_id", "only tenant and archiver principals are bound to a tenant")
        _check_binding(conn, change.role, tenant_id)
        if change.role is not role or tenant_id != row.tenant_id:
            values.update(role=change.role.value, tenant_id=tenant_id)
            bound = f" bound to tenant {tenant_id}" if tenant_id else ""
            notes.append(("role_changed", f"role {role.value} -> {change.role.value}{bound}"))
    elif change.tenant_id is not None:
        raise invalid("/tenant_id", "give the role with the tenant (role tenant or archiver)")
    generation = row.token_generation
    if change.password is not None:
        check_password(change.password)
        values["password_hash"] = _hasher.hash(change.password)
        generation += 1
        notes.append(("password_set", "password set; earlier tokens ended"))
    if change.disabled is not None and change.disabled != (row.disabled_at is not None):
        values["disabled_at"] = uow.now if change.disabled else None
        if change.disabled:
            generation += 1
        notes.append(("disabled", "") if change.disabled else ("enabled", ""))
    if role is Role.ADMIN and row.disabled_at is None:
        loses_admin = values.get("role", Role.ADMIN.value) != Role.ADMIN.value or bool(
            values.get("disabled_at")
        )
        if loses_admin and _enabled_admins(conn) <= 1:
            raise Conflict(f"{name!r} is the last enabled admin: add another admin first")
    if values:
        values["token_generation"] = generation
        conn.execute(t.principals.update().where(t.principals.c.id == row.id).values(**values))
        for action, message in notes:
            _audit(uow, row.id, action, principal.name, message)
        uow.report(CredentialsChanged())
    return _user_view(conn, row.id)


def _enabled_admins(conn: Connection) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(t.principals)
        .where(t.principals.c.role == Role.ADMIN.value, t.principals.c.disabled_at.is_(None))
    )
    return int(conn.execute(query).scalar_one())


def _user_view(conn: Connection, principal_id: str) -> UserView:
    return user_view(
        conn.execute(sa.select(*USER_COLUMNS).where(t.principals.c.id == principal_id)).one()
    )


def end_tokens(uow: UnitOfWork, *, principal: Principal, name: str) -> UserView:
    """Log a user out everywhere: every token issued so far is refused from the next call on
    (API keys stay valid: revoke them one by one). An admin may do it to anyone, a user to
    itself."""
    row = _row(uow.conn, name=name)
    if row is None or not (principal.is_admin or principal.id == row.id):
        if row is not None:
            raise Forbidden("only an admin ends another user's tokens")
        raise NotFound(f"no principal named {name!r}")
    uow.conn.execute(
        t.principals.update()
        .where(t.principals.c.id == row.id)
        .values(token_generation=t.principals.c.token_generation + 1)
    )
    _audit(uow, row.id, "tokens_ended", principal.name, "every token issued so far")
    uow.report(CredentialsChanged())
    return _user_view(uow.conn, row.id)


def principal_history(
    conn: Connection, principal: Principal | None, name: str
) -> list[PrincipalEventView]:
    """The audit history of a principal, oldest first (admin; None: the CLI)."""
    if principal is not None:
        policy.require_admin(principal)
    target = get_principal_by_name(conn, name)
    rows = conn.execute(
        sa.select(t.principal_events)
        .where(t.principal_events.c.principal_id == target.id)
        .order_by(t.principal_events.c.seq)
    )
    return [
        PrincipalEventView(
            seq=r.seq, principal=name, at=r.at, actor=r.actor, action=r.action, message=r.message
        )
        for r in rows
    ]


def credentials_mark(conn: Connection) -> int:
    """Grows with every change of credentials (the audit history is appended to by each):
    a server process that sees it move forgets the principals it has cached."""
    return int(
        conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(t.principal_events.c.seq), 0))
        ).scalar_one()
    )


def authenticate_api_key(conn: Connection, key: str) -> Principal:
    try:
        key_id, secret = key[len(API_KEY_PREFIX) :].split("_", 1)
    except ValueError:
        raise Unauthorized("malformed API key") from None
    row = conn.execute(
        sa.select(t.api_keys.c.key_hash, t.api_keys.c.revoked_at, t.principals)
        .join(t.principals, t.principals.c.id == t.api_keys.c.principal_id)
        .where(t.api_keys.c.id == key_id)
    ).first()
    stored = row.key_hash if row is not None else _key_digest("")
    if not hmac.compare_digest(stored, _key_digest(secret)) or row is None:
        raise Unauthorized("invalid API key")
    if row.revoked_at is not None:
        raise Unauthorized("this API key was revoked")
    if row.disabled_at is not None:
        raise Unauthorized("this user is disabled; ask an admin")
    return _principal(row)


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says: whom it names and the generation it was issued under."""

    principal_id: str
    generation: int


def issue_token(
    principal: Principal, *, secret: str, ttl_s: int, now: datetime, generation: int = 0
) -> str:
    """A signed token; ``iat`` and ``gen`` (the user's token generation) let it be ended
    before it expires. ``exp`` keeps its fraction of a second (RFC 7519 NumericDate allows
    it): truncated to a whole second, a 2 s token could live barely 1 s, shorter than the
    ``expires_in`` the login answered, and a client refreshing halfway would find it dead."""
    claims = {
        "sub": principal.id,
        "iat": int(now.timestamp()),
        "exp": round((now + timedelta(seconds=ttl_s)).timestamp(), 3),
        "gen": generation,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def token_claims(token: str, *, secret: str, now: datetime | None = None) -> TokenClaims:
    """The claims of a token whose signature holds and that has not expired at ``now`` (the
    broker's clock, so that tests move time instead of sleeping; default: real time)."""
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
    generation = claims.get("gen", 0)  # tokens from before generations: generation 0
    if not isinstance(generation, int) or isinstance(generation, bool):
        raise Unauthorized("invalid token")
    return TokenClaims(principal_id=str(claims["sub"]), generation=generation)


def principal_id_from_token(token: str, *, secret: str, now: datetime | None = None) -> str:
    """The principal a token names (see :func:`token_claims`)."""
    return token_claims(token, secret=secret, now=now).principal_id


def authenticate_bearer(
    conn: Connection, credential: str, *, secret: str, now: datetime | None = None
) -> Principal:
    """The principal of an API key or a token (401 for anything else, including a revoked
    key, a disabled user and a token issued before its user's tokens were ended)."""
    if credential.startswith(API_KEY_PREFIX):
        return authenticate_api_key(conn, credential)
    claims = token_claims(credential, secret=secret, now=now)
    row = _row(conn, principal_id=claims.principal_id)
    if row is None:
        raise Unauthorized("the token's principal no longer exists")
    if row.disabled_at is not None:
        raise Unauthorized("this user is disabled; ask an admin")
    if claims.generation != row.token_generation:
        raise Unauthorized("this token was ended (logged out everywhere); log in again")
    return _principal(row)
