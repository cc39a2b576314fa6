"""Pure ASGI guards on the raw request: 413 for bodies above the configured size, 422 for
text that no database column can hold."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from finales.errors import FinalesError, InvalidPayload, PayloadTooLarge, pointer


class BodySizeLimit:
    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
        if length is not None:
            if length > self.max_bytes:
                await self._reject(send)
                return
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read the body here, within the limit, then replay it.
        messages: list[dict[str, Any]] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await self._reject(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> dict[str, Any]:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Any) -> None:
        await send_error(send, PayloadTooLarge(f"the body exceeds {self.max_bytes} bytes"))


NUL = "\x00"
NUL_MESSAGE = "a NUL character (\\u0000) is not allowed"
SURROGATE_MESSAGE = "a lone surrogate (\\ud800-\\udfff) is no Unicode character"
# The raw bytes that may hold such text, by media type (JSON escapes it, a form %-encodes NUL).
SUSPECT_BYTES = {"application/json": b"\\u", "application/x-www-form-urlencoded": b"%00"}
Finding = tuple[str, str, str]  # (where: path, query or body; JSON pointer; message)


class TextGuard:
    """422, naming the field, for a NUL character anywhere in the path, the query, a form or a
    JSON body, and for a lone surrogate (no Unicode character) in a JSON body.

    PostgreSQL stores neither in text or JSON (the driver raised: a 500), a lone surrogate
    cannot even be written back as UTF-8 (a 500 on SQLite too), and no field has a use for
    them: both databases refuse them alike, before any route runs. A body is parsed here only
    when its raw bytes hold an escape that could be one; BodySizeLimit, outside, bounds it.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = _in_url(scope)
        media_type = _media_type(scope)
        messages: list[dict[str, Any]] = []
        if found is None and media_type in SUSPECT_BYTES:
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
            body = b"".join(m.get("body", b"") for m in messages)
            if SUSPECT_BYTES[media_type] in body or NUL.encode() in body:
                found = _in_body(body, media_type)
        if found is not None:
            where, at, problem = found
            err = InvalidPayload(
                f"{where} {at or '/'}: {problem}",
                errors=[{"pointer": at, "message": problem, "in": where}],
            )
            await send_error(send, err)
            return

        async def replay() -> dict[str, Any]:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _media_type(scope: dict[str, Any]) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return str(value.decode("latin-1").split(";")[0].strip().lower())
    return ""


def _in_url(scope: dict[str, Any]) -> Finding | None:
    if NUL in scope.get("path", ""):
        return "path", "", NUL_MESSAGE
    query = scope.get("query_string", b"").decode("latin-1")
    return _in_form(query, "query") if "%00" in query else None


def _in_form(encoded: str, where: str) -> Finding | None:
    for key, value in parse_qsl(encoded, keep_blank_values=True):
        if NUL in key or NUL in value:
            return where, pointer(key.replace(NUL, "\\u0000")), NUL_MESSAGE
    return None


def _in_body(body: bytes, media_type: str) -> Finding | None:
    if media_type != "application/json":
        return _in_form(body.decode("latin-1"), "body")
    try:
        document = json.loads(body)
    except ValueError:
        return None  # not JSON at all: the route answers 422 for that
    return _in_json(document, ())


def _in_json(value: Any, at: tuple[str | int, ...]) -> Finding | None:
    if isinstance(value, str):
        problem = _bad_text(value)
        return ("body", pointer(*at), problem) if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _bad_text(key)
            if problem:  # the key itself, shown escaped
                return "body", pointer(*at, key.encode("unicode_escape").decode()), problem
            found = _in_json(item, (*at, key))
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _in_json(item, (*at, index))
            if found:
                return found
    return None


def _bad_text(text: str) -> str | None:
    if NUL in text:
        return NUL_MESSAGE
    if any("\ud800" <= c <= "\udfff" for c in text):  # json.loads joins the valid pairs
        return SURROGATE_MESSAGE
    return None


async def send_error(send: Any, err: FinalesError) -> None:
    """Answer with an error body from a pure ASGI guard (no exception handler runs there)."""
    body = json.dumps(err.to_body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": err.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
