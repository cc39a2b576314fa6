"""Login, API keys and users: creation, listing, and revocation (keys revoked, users disabled,
re-enabled, given another role or password, tokens ended), each in the user's audit history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from finales import schemas
from finales.server import wire
from finales.server.deps import (
    CreateCallDep,
    CurrentPrincipal,
    PasswordForm,
    StateDep,
    answer,
    client_address,
    password_login,
)
from finales.services import auth

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=schemas.Token)
async def login(
    request: Request, st: StateDep, form: Annotated[PasswordForm, Depends()]
) -> schemas.Token:
    """Exchange a name and password (OAuth2 password form) for a bearer token. Failed logins
    are limited per user and per address (429 with Retry-After)."""
    ttl_s = st.settings.token_ttl_s
    token = await st.logins.attempt(
        form.username, client_address(request), password_login(st, form, ttl_s)
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


@router.get("/auth/api-keys", response_model=list[schemas.ApiKeyInfo])
def list_api_keys(
    st: StateDep,
    principal: CurrentPrincipal,
    owner: Annotated[
        str | None, Query(alias="principal", description="only this principal's keys (a name)")
    ] = None,
) -> JSONResponse:
    """Every API key, or one principal's, with when it was revoked (admin). Never a key."""
    with st.tx.read() as conn:
        keys = auth.list_api_keys(conn, principal, owner=owner)
    return JSONResponse([wire.api_key_info(k) for k in keys])


@router.delete("/auth/api-keys/{key_id}", response_model=schemas.ApiKeyInfo)
def revoke_api_key(
    st: StateDep, principal: CurrentPrincipal, key_id: Annotated[str, Path(max_length=64)]
) -> JSONResponse:
    """Revoke an API key (admin, or the key's own principal): refused from the next call on,
    on every server process. Revoking it again changes nothing."""
    with st.tx.write() as uow:
        key = auth.revoke_api_key(uow, principal=principal, key_id=key_id)
    return JSONResponse(wire.api_key_info(key))


@router.post("/auth/logout", response_model=schemas.User)
def logout_everywhere(st: StateDep, principal: CurrentPrincipal) -> JSONResponse:
    """End every token of the caller, wherever it was issued (API keys stay valid)."""
    with st.tx.write() as uow:
        return JSONResponse(
            wire.user(auth.end_tokens(uow, principal=principal, name=principal.name))
        )


UserName = Annotated[str, Path(max_length=200, description="the user's name")]


@router.patch("/users/{name}", response_model=schemas.User)
def update_user(
    st: StateDep, principal: CurrentPrincipal, name: UserName, body: schemas.UserUpdate
) -> JSONResponse:
    """Change a user's role, password, or disable / re-enable it (admin). Disabling and a new
    password end its tokens; a disabled user's keys are refused too."""
    change = auth.UserChange(**body.model_dump())
    with st.tx.write() as uow:
        view = auth.update_user(uow, principal=principal, name=name, change=change)
    return JSONResponse(wire.user(view))


@router.post("/users/{name}/logout", response_model=schemas.User)
def end_tokens(st: StateDep, principal: CurrentPrincipal, name: UserName) -> JSONResponse:
    """Log a user out everywhere: every token issued so far is refused (admin, or the user)."""
    with st.tx.write() as uow:
        return JSONResponse(wire.user(auth.end_tokens(uow, principal=principal, name=name)))


@router.get("/users/{name}/events", response_model=list[schemas.PrincipalEvent])
def user_history(st: StateDep, principal: CurrentPrincipal, name: UserName) -> JSONResponse:
    """A user's audit history: who created, changed, disabled it, its keys (admin)."""
    with st.tx.read() as conn:
        return JSONResponse(wire.principal_events(auth.principal_history(conn, principal, name)))
