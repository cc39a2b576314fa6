"""Login, API keys and users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from finales import schemas
from finales.server import wire
from finales.server.deps import CreateCallDep, CurrentPrincipal, PasswordForm, StateDep, answer
from finales.services import auth

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=schemas.Token)
def login(st: StateDep, form: Annotated[PasswordForm, Depends()]) -> schemas.Token:
    """Exchange a name and password (OAuth2 password form) for a bearer token."""
    ttl_s = st.settings.token_ttl_s
    with st.tx.read() as conn:
        token = auth.login(
            conn,
            name=form.username,
            password=form.password,
            secret=st.secret,
            ttl_s=ttl_s,
            now=st.now(),
        )
    return schemas.Token(access_token=token, expires_in=ttl_s)


@router.post("/auth/api-keys", response_model=schemas.ApiKey, status_code=201)
def create_api_key(
    st: StateDep, principal: CurrentPrincipal, body: schemas.ApiKeyCreate
) -> JSONResponse:
    """Create a long-lived API key for a principal (admin). The key is shown only once."""
    # Not idempotent on purpose: replaying would mean storing the plain key in the database.
    with st.tx.write() as uow:
        key = auth.issue_api_key(uow, principal=principal, principal_name=body.principal)
    return JSONResponse(wire.api_key(key), status_code=201)


@router.get("/auth/me", response_model=schemas.User)
def me(st: StateDep, principal: CurrentPrincipal) -> JSONResponse:
    """The authenticated principal."""
    with st.tx.read() as conn:
        return JSONResponse(wire.user(auth.me(conn, principal)))


@router.post("/users", response_model=schemas.User, status_code=201)
def add_user(
    st: StateDep, principal: CurrentPrincipal, call: CreateCallDep, body: schemas.UserCreate
) -> JSONResponse:
    """Create a principal (admin); a tenant principal is bound to one tenant."""
    # The body holds a password: its fingerprint keeps only a keyed digest of it.
    digest = auth.password_fingerprint(body.password, secret=st.secret)
    return answer(
        st.tx.create(
            call.creation(body.model_copy(update={"password": digest})),
            wire.user,
            auth.add_user,
            principal=principal,
            **body.model_dump(),
        )
    )


@router.get("/users", response_model=list[schemas.User])
def list_users(st: StateDep, principal: CurrentPrincipal) -> JSONResponse:
    """All principals (admin)."""
    with st.tx.read() as conn:
        return JSONResponse([wire.user(u) for u in auth.list_users(conn, principal)])
