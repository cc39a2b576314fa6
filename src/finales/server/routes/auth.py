"""Login, API keys and users."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from finales import schemas
from finales.domain.principals import Role
from finales.server.deps import CurrentPrincipal, PasswordForm, StateDep, create, dump
from finales.services import auth

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=schemas.Token)
def login(st: StateDep, form: Annotated[PasswordForm, Depends()]) -> schemas.Token:
    """Exchange a name and password (OAuth2 password form) for a bearer token."""
    with st.db.read() as s:
        principal = auth.authenticate_password(s, form.username, form.password)
    token = auth.issue_token(
        principal, secret=st.secret, ttl_s=st.settings.token_ttl_s, now=st.now()
    )
    return schemas.Token(access_token=token, expires_in=st.settings.token_ttl_s)


@router.post("/auth/api-keys", response_model=schemas.ApiKey, status_code=201)
def create_api_key(st: StateDep, principal: CurrentPrincipal, body: schemas.ApiKeyCreate):
    """Create a long-lived API key for a principal (admin). The key is shown only once."""
    principal.require(Role.ADMIN)

    # Not idempotent on purpose: replaying would mean storing the plain key in the database.
    with st.db.write() as s:
        key_id, key = auth.create_api_key(s, principal_name=body.principal, now=st.now())
    return JSONResponse({"id": key_id, "principal": body.principal, "key": key}, status_code=201)


@router.get("/auth/me", response_model=schemas.User)
def me(st: StateDep, principal: CurrentPrincipal):
    """The authenticated principal."""
    with st.db.read() as s:
        row = auth.principal_row(s, principal_id=principal.id)
    return JSONResponse(dump(schemas.User, dict(row._mapping)))


@router.post("/users", response_model=schemas.User, status_code=201)
def add_user(request: Request, st: StateDep, principal: CurrentPrincipal, body: schemas.UserCreate):
    """Create a principal (admin); a tenant principal is bound to one tenant."""
    principal.require(Role.ADMIN)

    def op(s):  # type: ignore[no-untyped-def]
        p = auth.add_principal(
            s,
            name=body.name,
            role=body.role,
            tenant_id=body.tenant_id,
            password=body.password,
            now=st.now(),
        )
        return dump(schemas.User, dict(auth.principal_row(s, principal_id=p.id)._mapping))

    # The body holds a password: fingerprint a keyed digest of it instead, so that a retry
    # with another password is a conflict while nothing reversible is stored.
    digest = None
    if body.password is not None:
        digest = hmac.new(st.secret.encode(), body.password.encode(), "sha256").hexdigest()
    return create(request, st, principal, body.model_copy(update={"password": digest}), op)


@router.get("/users", response_model=list[schemas.User])
def list_users(st: StateDep, principal: CurrentPrincipal):
    """All principals (admin)."""
    principal.require(Role.ADMIN)
    with st.db.read() as s:
        return JSONResponse([dump(schemas.User, r) for r in auth.list_principals(s)])
