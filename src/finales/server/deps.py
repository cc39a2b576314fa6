"""Dependencies shared by the routes: app state, the authenticated principal, creation."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, Form, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from finales.domain.principals import Principal
from finales.errors import BadRequest, Unauthorized
from finales.server.state import AppState
from finales.services import auth, idempotency
from finales.services.unit_of_work import Answer, Creation, IdempotencyKey

bearer = HTTPBearer(auto_error=False, description="a token from /api/v1/auth/token or an API key")


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.finales
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def current_principal(
    st: StateDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """Authenticate the bearer credential (a token or an API key).

    Async on purpose: a cache hit costs no thread hop. Tokens are verified (signature and
    expiry) on every call; only the database lookup behind them is cached, briefly, and only
    on SQLite (see ``PrincipalCache``).
    """
    if creds is None or not creds.credentials:
        raise Unauthorized("missing credentials: send 'Authorization: Bearer <token or key>'")
    credential = creds.credentials
    now = st.now()
    if not credential.startswith(auth.API_KEY_PREFIX):
        # 401 when invalid or expired by the broker's clock
        auth.principal_id_from_token(credential, secret=st.secret, now=now)
    cached = st.principals.get(credential)
    if cached is not None:
        return cached

    def lookup() -> Principal:
        with st.tx.read() as conn:
            return auth.authenticate_bearer(conn, credential, secret=st.secret, now=now)

    principal = await run_in_threadpool(lookup)
    st.principals.put(credential, principal)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


class PasswordForm:
    """The OAuth2 password form, declared as the server reads it (FastAPI's
    ``OAuth2PasswordRequestForm`` declares fields that a form cannot carry: an empty field
    counts as missing, and there is no null): a non-empty name and password, and the optional
    OAuth2 fields as strings."""

    def __init__(
        self,
        username: Annotated[str, Form(min_length=1)],
        password: Annotated[str, Form(min_length=1, json_schema_extra={"format": "password"})],
        grant_type: Annotated[str, Form(pattern="^password$")] = "password",
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str, Form()] = "",
        client_secret: Annotated[str, Form(json_schema_extra={"format": "password"})] = "",
    ) -> None:
        self.username = username
        self.password = password
        self.grant_type = grant_type
        self.scopes = scope.split()
        self.client_id = client_id or None
        self.client_secret = client_secret or None


def client_address(request: Request) -> str:
    """The caller's address, as the server sees it (the proxy's, unless uvicorn is told to
    trust its forwarding headers)."""
    return request.client.host if request.client else "unknown"


def password_login(st: AppState, form: PasswordForm, ttl_s: int) -> Callable[[], str]:
    """The password check of a login, for the login pool (``st.logins``): a token, or
    ``Unauthorized``."""

    def check() -> str:
        with st.tx.read() as conn:
            return auth.login(
                conn,
                name=form.username,
                password=form.password,
                secret=st.secret,
                ttl_s=ttl_s,
                now=st.now(),
            )

    return check


@dataclass(frozen=True, slots=True)
class CreateCall:
    """A creating call as the unit of work needs it: who sent it, and the Idempotency-Key
    and method and path that, with the body, identify a retry."""

    principal_id: str
    key: str | None
    method: str
    path: str

    def creation(self, body: Any = None, *, status_code: int = 201) -> Creation:
        """The creation of ``body`` (a model, a list of models or JSON; its canonical form
        is fingerprinted, so that a retry with the same key and another body is refused)."""
        if self.key is None:
            return Creation(None, status_code)
        if isinstance(body, BaseModel):
            payload = body.model_dump_json()
        elif isinstance(body, list):
            items = [b.model_dump(mode="json") if isinstance(b, BaseModel) else b for b in body]
            payload = json.dumps(items, sort_keys=True)
        else:
            payload = "" if body is None else json.dumps(body, sort_keys=True)
        fp = idempotency.fingerprint(self.method, self.path, payload.encode())
        return Creation(IdempotencyKey(self.principal_id, self.key, fp), status_code)


async def create_call(request: Request, principal: CurrentPrincipal) -> CreateCall:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= idempotency.MAX_KEY_CHARS:
        raise BadRequest(f"Idempotency-Key must be 1 to {idempotency.MAX_KEY_CHARS} characters")
    return CreateCall(principal.id, key, request.method, request.url.path)


CreateCallDep = Annotated[CreateCall, Depends(create_call)]


def answer(done: Answer) -> JSONResponse:
    """The response of a creating call (marked when it replays a stored answer)."""
    headers = {"Idempotent-Replayed": "true"} if done.replayed else None
    return JSONResponse(done.body, status_code=done.status_code, headers=headers)


def send_file(
    path: Path, background: BackgroundTasks, *, media_type: str, filename: str
) -> FileResponse:
    """Send a snapshot file and delete it once sent; no server path reaches the client."""
    background.add_task(os.unlink, path)
    return FileResponse(path, media_type=media_type, filename=filename)
