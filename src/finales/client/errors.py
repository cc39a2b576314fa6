"""Turn an error answer back into the finales.errors class the server raised.

The server renders every error as ``{"detail", "code", "errors"?}``; the ``code`` names the class
(``finales.errors.ERRORS_BY_CODE``). Codes the SDK does not know fall back on the HTTP status.
The classes below exist only on the client side: the server never sends them.
"""

from __future__ import annotations

from typing import Any

import httpx

from finales.errors import (
    ERRORS_BY_CODE,
    BadRequest,
    Conflict,
    FinalesError,
    Forbidden,
    InvalidPayload,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)


class ServerError(FinalesError):
    """A 5xx answer other than 503 (an unexpected error on the server)."""

    status_code = 500
    code = "internal"


class ServerUnreachable(Unavailable):
    """No answer at all (connection refused, reset or timed out), after every retry."""

    code = "unreachable"


class WaitTimeout(FinalesError):
    """A client-side wait (e.g. for a request's results) ran out of time; ``request_id``
    names the request waited for, if there was one."""

    status_code = 504
    code = "timeout"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(detail, errors=errors)
        self.request_id = request_id


class RequestRetracted(Conflict):
    """The request being waited for was retracted; no result will come."""

    code = "retracted"


_BY_STATUS: dict[int, type[FinalesError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: InvalidPayload,
    503: Unavailable,
}


def error_from_response(response: httpx.Response) -> FinalesError:
    """The FinalesError for an error answer, with the server's message and field pointers.

    The instance carries the HTTP status as ``http_status`` (the class attribute
    ``status_code`` is the status the class stands for).
    """
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"detail": f"HTTP {response.status_code}: {response.text[:200].strip()}"}
    detail = body.get("detail")
    if not isinstance(detail, str):  # e.g. a framework's list of validation errors
        detail = str(detail) if detail else f"HTTP {response.status_code}"
    errors = body.get("errors") if isinstance(body.get("errors"), list) else None
    cls = ERRORS_BY_CODE.get(str(body.get("code")))
    if cls is None or cls is FinalesError:
        cls = _BY_STATUS.get(response.status_code) or (
            ServerError if response.status_code >= 500 else FinalesError
        )
    exc = cls(detail, errors=errors)
    exc.http_status = response.status_code
    return exc
