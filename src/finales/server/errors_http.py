"""Translate every error into one JSON body shape ``{detail, code, errors?}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from finales import schemas
from finales.errors import FinalesError, InvalidPayload, TooManyRequests, Unavailable, pointer
from finales.server.deps import bearer, current_principal, get_state
from finales.server.limits import REFUSED_SCOPE_KEY
from finales.server.logins import LOGIN_PATHS

log = logging.getLogger("finales.server")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

# Every error any route can answer, all in the one body shape (``schemas.Error``).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.Error, "description": description}
    for status, description in (
        (400, "Bad request (e.g. a malformed header)"),
        (401, "No or bad credentials"),
        (403, "The role or ownership does not allow this"),
        (404, "Unknown id"),
        (409, "State conflict: lost race, lost lease, terminal status, key reuse"),
        (413, "Body too large"),
        (422, "Invalid field, named by JSON pointer"),
        (429, "Too many failed logins; retry after Retry-After seconds"),
        (503, "Database busy or unreachable; retry"),
    )
}


def _finales_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FinalesError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after_s)
    elif isinstance(exc, Unavailable):
        headers["Retry-After"] = "1"
    return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=headers or None)


async def credentials_first(request: Request, err: FinalesError) -> JSONResponse:
    """Answer ``err``, a refusal of the request's body, unless the matched route needs
    credentials the request lacks: then their 401. FastAPI (and ``limits.InputGuard``)
    judge a body before the dependencies run; the server must not judge a caller's document
    before knowing who calls."""
    if _needs_credentials(request):
        try:
            await current_principal(await get_state(request), await bearer(request))
        except FinalesError as refused:
            return _finales_error(request, refused)
        except OperationalError as lost:
            return _db_unavailable(request, lost)
    return _finales_error(request, err)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        where = loc[0] if loc else "body"
        rest = loc[1:] if where in ("body", "query", "path", "header", "cookie") else loc
        message = err.get("msg", "invalid").removeprefix("Value error, ")
        if _is_form_login(request) and where == "body":
            sent = (request.headers.get("content-type") or "none")[:100]
            message = (
                f"{message}: this login takes a form (Content-Type: "
                "application/x-www-form-urlencoded, fields username and password), "
                f"not {sent}"
                if "json" in sent.lower()
                else message
            )
        if err.get("type") == "json_invalid":  # loc holds a character offset, no field
            rest, message = [], f"not JSON: {err.get('ctx', {}).get('error', message)}"
            message += _line_column(exc.body, loc[1] if len(loc) > 1 else None)
        elif where == "body" and not rest and isinstance(err.get("input"), bytes):
            # The body was not decoded: the media type is none the route reads.
            sent = (request.headers.get("content-type") or "none")[:100]
            message = f"send the body as application/json (Content-Type: {sent})"
        entry = {"pointer": pointer(*rest), "message": message, "in": where}
        errors.append(entry)
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        refused = request.scope.get(REFUSED_SCOPE_KEY)  # the guard's finding, if it had one
        err = refused if isinstance(refused, FinalesError) else _invalid_payload(errors)
        return await credentials_first(request, err)
    return _finales_error(request, _invalid_payload(errors))


def _is_form_login(request: Request) -> bool:
    """A login route: it reads an OAuth2 password form, which JSON clients often miss."""
    return request.url.path in LOGIN_PATHS


def _invalid_payload(errors: list[dict[str, Any]]) -> InvalidPayload:
    first = errors[0] if errors else {"pointer": "", "message": "invalid request", "in": "body"}
    where = f"{first['in']} {first['pointer'] or '/'}"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return InvalidPayload(f"{where}: {first['message']}{more}", errors=errors)


def _line_column(document: Any, offset: Any) -> str:
    if not isinstance(document, str) or not isinstance(offset, int):
        return ""
    line = document.count("\n", 0, offset) + 1
    column = offset - document.rfind("\n", 0, offset)
    return f" (line {line}, column {column})"


def _needs_credentials(request: Request) -> bool:
    """Whether the matched route authenticates its caller (all but the logins and health)."""
    pending = [getattr(request.scope.get("route"), "dependant", None)]
    while pending:
        dependant = pending.pop()
        if dependant is not None:
            if dependant.call is current_principal:
                return True
            pending.extend(dependant.dependencies)
    return False


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return JSONResponse(
        {"detail": exc.detail, "code": f"http_{exc.status_code}"},
        status_code=exc.status_code,
        headers=headers or None,
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method the path is served with (the router's 405 names only the methods of the
    first route whose path matched). A path the OpenAPI document names literally advertises
    its documented methods, not those of a templated route that happens to match it too
    (``/results/post_unsolicited_result`` is no result id)."""
    routed = []
    for method in HTTP_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            routed.append(method)
    documented = request.app.openapi()["paths"].get(request.url.path, {})
    literal = [m for m in routed if m.lower() in documented]
    return literal or routed


def _db_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    err = Unavailable("the database is busy or unreachable; retry shortly")
    return JSONResponse(err.to_body(), status_code=503, headers={"Retry-After": "1"})


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse({"detail": "internal error", "code": "internal"}, status_code=500)


def install(app: FastAPI) -> None:
    """Render every error as ``{detail, code, errors?}`` and declare those responses in the
    OpenAPI document of every route; call it before the routers are included."""
    app.router.responses.update(ERROR_RESPONSES)
    app.add_exception_handler(FinalesError, _finales_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _db_unavailable)
    app.add_exception_handler(Exception, _unexpected)
