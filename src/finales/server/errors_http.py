"""Translate every error into one JSON body shape ``{detail, code, errors?}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from finales.errors import FinalesError, Unavailable, pointer

log = logging.getLogger("finales.server")


def _finales_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FinalesError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=headers)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        where = loc[0] if loc else "body"
        rest = loc[1:] if where in ("body", "query", "path", "header", "cookie") else loc
        entry = {"pointer": pointer(*rest), "message": err.get("msg", "invalid"), "in": where}
        errors.append(entry)
    first = errors[0] if errors else {"pointer": "", "message": "invalid request", "in": "body"}
    where = f"{first['in']} {first['pointer'] or '/'}"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    body = {
        "detail": f"{where}: {first['message']}{more}",
        "code": "invalid_payload",
        "errors": errors,
    }
    return JSONResponse(body, status_code=422)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        {"detail": exc.detail, "code": f"http_{exc.status_code}"},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def _db_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    err = Unavailable("the database is busy or unreachable; retry shortly")
    return JSONResponse(err.to_body(), status_code=503, headers={"Retry-After": "1"})


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse({"detail": "internal error", "code": "internal"}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(FinalesError, _finales_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _db_unavailable)
    app.add_exception_handler(Exception, _unexpected)
