"""Dependencies shared by the routes: app state, the authenticated principal, creation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from finales.domain.principals import Principal
from finales.errors import BadRequest, Unauthorized
from finales.server.state import AppState
from finales.services import auth, idempotency

bearer = HTTPBearer(auto_error=False, description="a token from /api/v1/auth/token or an API key")


async def get_state(request: Request) -> AppState:
    return request.app.state.finales  # type: ignore[no-any-return]


StateDep = Annotated[AppState, Depends(get_state)]


async def current_principal(
    st: StateDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """Authenticate the bearer credential (a token or an API key).

    Async on purpose: a cache hit costs no thread hop. Tokens are verified (signature and
    expiry) on every call; only the database lookup behind them is cached, briefly.
    """
    if creds is None or not creds.credentials:
        raise Unauthorized("missing credentials: send 'Authorization: Bearer <token or key>'")
    credential = creds.credentials
    if not credential.startswith(auth.API_KEY_PREFIX):
        auth.principal_id_from_token(credential, secret=st.secret)  # 401 when invalid/expired
    cached = st.principals.get(credential)
    if cached is not None:
        return cached

    def lookup() -> Principal:
        with st.db.read() as s:
            return auth.authenticate_bearer(s, credential, secret=st.secret)

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


def dump(model: type[BaseModel], obj: Any) -> Any:
    return model.model_validate(obj).model_dump(mode="json")


def create(
    request: Request,
    st: AppState,
    principal: Principal,
    body: BaseModel | list[BaseModel] | None,
    op: Callable[[Connection], Any],
    *,
    status_code: int = 201,
    after: Callable[[], None] | None = None,
) -> JSONResponse:
    """Run a creating operation in one write transaction, honouring ``Idempotency-Key``.

    The stored answer is written in the same transaction as the object it describes, so a
    retried POST either finds both or neither.
    """
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= idempotency.MAX_KEY_CHARS:
        raise BadRequest(f"Idempotency-Key must be 1 to {idempotency.MAX_KEY_CHARS} characters")
    if isinstance(body, list):
        payload = json.dumps([b.model_dump(mode="json") for b in body], sort_keys=True)
    else:
        payload = body.model_dump_json() if body is not None else ""
    fp = idempotency.fingerprint(request.method, request.url.path, payload.encode())
    try:
        with st.db.write() as s:
            if key is not None:
                hit = idempotency.lookup(s, principal_id=principal.id, key=key, fingerprint_=fp)
                if hit is not None:
                    return _replay(*hit)
            out = op(s)
            if key is not None:
                idempotency.store(
                    s,
                    principal_id=principal.id,
                    key=key,
                    fingerprint_=fp,
                    status_code=status_code,
                    body=out,
                    now=st.now(),
                )
    except IntegrityError:
        if key is None:
            raise
        # A concurrent request with the same key committed first: answer as it did.
        with st.db.read() as s:
            hit = idempotency.lookup(s, principal_id=principal.id, key=key, fingerprint_=fp)
        if hit is None:
            raise
        return _replay(*hit)
    if after is not None:
        after()
    return JSONResponse(out, status_code=status_code)


def _replay(status_code: int, body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers={"Idempotent-Replayed": "true"})
