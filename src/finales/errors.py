"""One error hierarchy shared by the server and the SDK.

Every error carries an HTTP status and a stable ``code``; the server renders it as
``{"detail": ..., "code": ..., "errors": [...]}`` and the SDK maps the body back to the same
class by ``code``. ``errors`` items are ``{"pointer": "/json/pointer", "message": "..."}``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class FinalesError(Exception):
    """Root of every error finales raises on purpose.

    ``status_code`` is the HTTP status the class stands for; ``http_status`` is the status of
    the answer an SDK error was read from (None for errors raised in this process).
    """

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "error"
    http_status: int | None = None

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.detail, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


class BadRequest(FinalesError):
    """400: the request cannot be processed as sent (e.g. a malformed header)."""

    status_code = 400
    code = "bad_request"


class Unauthorized(FinalesError):
    """401: no credentials, or bad ones (unknown key, wrong password, expired token)."""

    status_code = 401
    code = "unauthorized"


class Forbidden(FinalesError):
    """403: authenticated, but the role or ownership does not allow this."""

    status_code = 403
    code = "forbidden"


class NotFound(FinalesError):
    """404: no object with this id."""

    status_code = 404
    code = "not_found"


class Conflict(FinalesError):
    """409: the state does not allow this now (lost race, terminal status, key reuse)."""

    status_code = 409
    code = "conflict"


class InvalidTransition(Conflict):
    """409: the request or result is not in a status this action applies to."""

    code = "invalid_transition"


class LeaseExpired(Conflict):
    """409: the reservation's lease ran out; claim the request again."""

    code = "lease_expired"


class NotAcceptable(FinalesError):
    """406: none of the representations the ``Accept`` header allows is available."""

    status_code = 406
    code = "not_acceptable"


class PayloadTooLarge(FinalesError):
    """413: the body is larger than the server accepts."""

    status_code = 413
    code = "payload_too_large"


class InvalidPayload(FinalesError):
    """422: the body does not fit a schema; ``errors`` name each field by JSON pointer."""

    status_code = 422
    code = "invalid_payload"


class QueryTooCostly(InvalidPayload):
    """422: a valid query this server will not answer in full - it ran past the time limit or
    would answer more rows than allowed (SPARQL); narrow it (a LIMIT, a tighter pattern)."""

    code = "query_too_costly"


class TooManyRequests(FinalesError):
    """429: too many failed logins for this user or from this address; retry after
    ``retry_after_s`` seconds (the answer's ``Retry-After``)."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, detail: str, *, retry_after_s: int = 1, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after_s = retry_after_s


class Unavailable(FinalesError):
    """503: the database is busy or unreachable, or the server is saturated; retry."""

    status_code = 503
    code = "unavailable"


class ConfigurationError(FinalesError):
    """The server's configuration is unusable (e.g. a weak signing secret)."""

    status_code = 500
    code = "configuration_error"


ERRORS_BY_CODE: dict[str, type[FinalesError]] = {
    cls.code: cls
    for cls in (
        FinalesError,
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        InvalidTransition,
        LeaseExpired,
        NotAcceptable,
        PayloadTooLarge,
        InvalidPayload,
        QueryTooCostly,
        TooManyRequests,
        Unavailable,
        ConfigurationError,
    )
}


def pointer(*parts: str | int) -> str:
    """Build an RFC 6901 JSON pointer from path parts."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def invalid(pointer_: str, message: str) -> InvalidPayload:
    """A one-field InvalidPayload whose detail names the field."""
    return InvalidPayload(
        f"{pointer_ or '/'}: {message}", errors=[{"pointer": pointer_, "message": message}]
    )
