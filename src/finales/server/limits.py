"""Pure ASGI guards on the raw request: 413 for bodies above the configured size, and one
guard (``InputGuard``) through which every body the app parses passes first.

Why one guard in front of the routes: FastAPI parses a JSON body (``json.loads``, recursive)
before any dependency runs, pydantic serializes it again (recursive, depth-limited), and both
fail with exceptions that no route can turn into a useful answer (RecursionError, pydantic's
recursion limit, ValueError for 5000-digit integers, UnicodeDecodeError, non-finite floats
that the JSON encoder refuses). The guard bounds depth and size of the document *before*
anything recursive touches it, and refuses what the stores cannot hold, so that no body can
produce a 5xx before or after authentication.

Policy, by kind of refusal:

- **Shape** (depth above ``max_json_depth``, values above ``max_json_nodes``): 413 at once, on
  any path, with or without credentials. Like the size limit it judges nothing but the bytes'
  shape, so answering before authentication reveals nothing.
- **Text no database column can hold** (NUL, lone surrogates), in the path, the query, a form
  or a JSON body: 422 at once, on any path (as before).
- **Not JSON** (syntax errors, invalid UTF-8, integers beyond Python's 4300-digit conversion
  limit, ``NaN``/``Infinity`` and numbers that overflow a double): 422 naming line and column
  (and, for a number, its JSON pointer), but only when the matched route would parse the
  body, and only after its credentials are checked (a malformed body without valid
  credentials answers 401, as the routes do: the server does not judge a caller's document
  before knowing who calls). A route that takes no body ignores it; an unknown path
  answers 404.

"The app parses" means what FastAPI decodes as JSON (``application/json`` and any
``application/*+json``, with any parameters and in any letter case) and forms
(``application/x-www-form-urlencoded``, ``multipart/form-data``). Other media types are never
parsed: a route that takes JSON answers them with 422 ("send the body as application/json")
after its credentials, so no 415 is needed to keep them harmless.
"""

from __future__ import annotations

import email.message
import json
import math
import re
from collections.abc import Iterator
from itertools import accumulate, repeat
from typing import Any, NoReturn
from urllib.parse import parse_qsl

from starlette.formparsers import MultiPartException
from starlette.requests import Request

from finales.errors import FinalesError, InvalidPayload, PayloadTooLarge, pointer

DEFAULT_MAX_JSON_DEPTH = 64
DEFAULT_MAX_JSON_NODES = 100_000
MAX_POINTER_CHARS = 1000  # longer pointers are cut in refusals (keys may be megabytes)
MAX_INT_DIGITS = 4300  # Python's int-string conversion limit (sys.get_int_max_str_digits)


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
_SURROGATE = re.compile("[\ud800-\udfff]")
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
# Where a refusal judged after the credentials waits for errors_http, and the body the app
# gets in its stead: not JSON, so the route's parse fails and that handler runs.
REFUSED_SCOPE_KEY = "finales.refused_body"
STAND_IN_BODY = b"(refused by finales.server.limits.InputGuard)"
Finding = tuple[str, str, str]  # (where: path, query or body; JSON pointer; message)

# JSON strings, matched whole by the regex engine (possessive: no backtracking), and one
# token of a JSON text: a string (a key when a ':' follows), a bracket or a scalar literal.
# The scanners and json.loads agree on where strings start and end, so a '[' taken for text
# here is text to the parser too; where the text is not JSON they can only count more
# brackets than the parser sees, never fewer.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_TOKEN = re.compile(
    r'(?P<str>"(?:[^"\\]++|\\.)*+")(?P<colon>\s*+:)?|(?P<open>[\[{])|(?P<close>[\]}])'
    r'|(?P<lit>[^\s\[\]{},:"]++)',
    re.DOTALL,
)


class BodyRefused(Exception):
    """What the guard found wrong with a body: the error to answer, and whether it may be
    answered before the route's credentials are checked."""

    def __init__(self, error: FinalesError, *, before_auth: bool) -> None:
        super().__init__(error.detail)
        self.error = error
        self.before_auth = before_auth


class InputGuard:
    """Refuse, before any route parses it, the input no route can handle (see the module
    docstring for the policy). ``BodySizeLimit``, outside, bounds what it reads."""

    def __init__(
        self,
        app: Any,
        max_depth: int = DEFAULT_MAX_JSON_DEPTH,
        max_nodes: int = DEFAULT_MAX_JSON_NODES,
    ) -> None:
        self.app = app
        self.max_depth = max_depth
        self.max_nodes = max_nodes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = _in_url(scope)
        if found is not None:
            await send_error(send, _text_error(found))
            return
        kind = _parsed_as(scope)
        messages: list[dict[str, Any]] = []

        async def replay() -> dict[str, Any]:
            return messages.pop(0) if messages else await receive()

        if kind is not None:
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
            body = b"".join(m.get("body", b"") for m in messages)
            try:
                if kind == "json":
                    check_json(body, max_depth=self.max_depth, max_nodes=self.max_nodes)
                elif NUL.encode() in body or (kind == FORM and b"%00" in body):
                    await _check_form(scope, body, kind)
            except BodyRefused as refused:
                await self._refuse(scope, replay, send, refused)
                return
        await self.app(scope, replay, send)

    async def _refuse(self, scope: dict[str, Any], receive: Any, send: Any, r: BodyRefused) -> None:
        if r.before_auth:
            await send_error(send, r.error)
            return
        # Judged after the credentials, by the route that would parse the body: it gets a
        # body that fails to parse as JSON in its stead, and the handler of that failure
        # (errors_http) answers this refusal once the credentials pass. A route that takes
        # no body never reads it; an unknown path answers 404.
        scope[REFUSED_SCOPE_KEY] = r.error
        stand_in = [{"type": "http.request", "body": STAND_IN_BODY, "more_body": False}]

        async def refused_body() -> dict[str, Any]:
            return stand_in.pop() if stand_in else await receive()

        await self.app(scope, refused_body, send)


def check_json(body: bytes, *, max_depth: int, max_nodes: int) -> None:
    """Raise BodyRefused for a JSON body no route can take, decoding it as ``json.loads``
    does (UTF-8, -16 or -32 by its first bytes; surrogates passed through, then judged)."""
    if not body:
        return
    encoding = json.detect_encoding(body)
    try:
        text = body.decode(encoding, "surrogatepass")
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start : exc.end].hex(" ")
        problem = f"not valid {encoding.upper()}: bytes {bad} at byte offset {exc.start}"
        raise BodyRefused(_syntax_error(problem), before_auth=False) from None
    _check_shape(text, max_depth=max_depth, max_nodes=max_nodes)
    try:
        document = json.loads(
            text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int
        )
    except json.JSONDecodeError as exc:
        problem = f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise BodyRefused(_syntax_error(problem), before_auth=False) from None
    except NumberRefused as exc:
        raise BodyRefused(_number_error(text, exc), before_auth=False) from None
    if NUL in text or "\\u" in text or _SURROGATE.search(text):
        found = _in_json(document)
        if found is not None:
            raise BodyRefused(_text_error(found), before_auth=True)


def _values(text: str) -> Iterator[tuple[re.Match[str], list[str | int], int]]:
    """Each value of a JSON text (container, string or scalar literal, keys skipped) with
    the path down to it and its depth, read without recursion: the stack holds, per open
    container, whether it is an array, its current key or index, and its members so far."""
    stack: list[list[Any]] = []
    for token in _TOKEN.finditer(text):
        kind = token.lastgroup
        if token.group("colon") is not None:
            if stack:
                stack[-1][1] = _key(token.group("str"))
            continue
        if kind == "close":
            if stack:
                stack.pop()
            continue
        if stack and stack[-1][0]:
            stack[-1][1] = stack[-1][2]
            stack[-1][2] += 1
        yield token, [entry[1] for entry in stack], len(stack)
        if kind == "open":
            stack.append([token.group() == "[", "", 0])


def _check_shape(text: str, *, max_depth: int, max_nodes: int) -> None:
    """Bound depth and value count without recursion and, for the common document, without
    a Python loop per character or token: with strings blanked out (in C), the nesting depth
    is the running sum of the brackets left, and brackets plus commas bound the values from
    above. Only a text over a limit is walked token by token, to name where."""
    openers = text.count("[") + text.count("{")
    if openers <= max_depth and openers + text.count(",") + 1 <= max_nodes:
        return
    structure = _STRING.sub('""', text)
    brackets = _NOT_BRACKET.sub("", structure)
    depth = max(accumulate(map(_BRACKET_STEP.get, brackets, repeat(0))), default=0)
    if (
        depth <= max_depth
        and structure.count(",") + brackets.count("[") + brackets.count("{") + 1 <= max_nodes
    ):
        return
    for nodes, (token, path, level) in enumerate(_values(text), start=1):
        if nodes > max_nodes:
            problem = f"the document holds more than {max_nodes} JSON values"
        elif token.lastgroup == "open" and level >= max_depth:
            problem = f"the document nests deeper than {max_depth} levels"
        else:
            continue
        raise BodyRefused(_shape_error(path, problem), before_auth=True)


def _key(quoted: str) -> str:
    try:
        return str(json.loads(quoted))
    except ValueError:
        return quoted[1:-1]


class NumberRefused(ValueError):
    """A number literal the stores cannot hold, and why."""

    def __init__(self, literal: str, problem: str) -> None:
        super().__init__(problem)
        self.literal = literal
        self.problem = problem


def _no_constant(name: str) -> NoReturn:
    raise NumberRefused(name, f"{name} is no JSON number (RFC 8259); send a number or null")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise NumberRefused(literal, "the number is beyond the range of a 64-bit float")
    return value


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:  # int() would raise a bare ValueError
        problem = f"an integer of more than {MAX_INT_DIGITS} digits; send it as a string"
        raise NumberRefused(literal, problem)
    return int(literal)


def _number_error(text: str, exc: NumberRefused) -> InvalidPayload:
    """Name the number by pointer, line and column: the parser's hooks only see its text."""
    for token, path, _depth in _values(text):
        if token.group() == exc.literal:
            at = _shown(pointer(*path))
            line = text.count("\n", 0, token.start()) + 1
            column = token.start() - text.rfind("\n", 0, token.start())
            problem = f"{exc.problem} (line {line}, column {column})"
            return InvalidPayload(
                f"body {at or '/'}: {problem}",
                errors=[{"pointer": at, "message": problem, "in": "body"}],
            )
    return _syntax_error(exc.problem)


def _syntax_error(problem: str) -> InvalidPayload:
    return InvalidPayload(
        f"body /: {problem}", errors=[{"pointer": "", "message": problem, "in": "body"}]
    )


def _shape_error(path: list[str | int], problem: str) -> PayloadTooLarge:
    at = _shown(pointer(*path))
    return PayloadTooLarge(
        f"body {at or '/'}: {problem}",
        errors=[{"pointer": at, "message": problem, "in": "body"}],
    )


def _shown(at: str) -> str:
    """A pointer cut to a readable length: keys are the sender's, of any length."""
    return at if len(at) <= MAX_POINTER_CHARS else at[:MAX_POINTER_CHARS] + "..."


def _text_error(found: Finding) -> InvalidPayload:
    where, at, problem = found
    return InvalidPayload(
        f"{where} {at or '/'}: {problem}",
        errors=[{"pointer": at, "message": problem, "in": where}],
    )


def _parsed_as(scope: dict[str, Any]) -> str | None:
    """ "json", a form media type, or None: how the app would parse this request's body.

    JSON as FastAPI decides it (``email.message`` reads the header: type and subtype are
    case-insensitive, parameters ignored, ``application/json`` and any ``+json``).
    """
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            message = email.message.Message()
            message["content-type"] = value.decode("latin-1")
            media_type = message.get_content_type()
            if message.get_content_maintype() == "application":
                subtype = message.get_content_subtype()
                if subtype == "json" or subtype.endswith("+json"):
                    return "json"
            return media_type if media_type in (FORM, MULTIPART) else None
    return None


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


async def _check_form(scope: dict[str, Any], body: bytes, kind: str) -> None:
    if kind == FORM:
        found = _in_form(body.decode("latin-1"), "body")
    else:
        sent = [{"type": "http.request", "body": body, "more_body": False}]

        async def once() -> dict[str, Any]:
            return sent.pop(0) if sent else {"type": "http.disconnect"}

        try:
            form = await Request(scope, once).form()
        except MultiPartException:
            return  # not a form at all: the route answers for that
        found = None
        for key, value in form.multi_items():
            if isinstance(value, str) and (NUL in key or NUL in value):
                found = "body", pointer(key.replace(NUL, "\\u0000")), NUL_MESSAGE
                break
        await form.close()
    if found is not None:
        raise BodyRefused(_text_error(found), before_auth=True)


def _in_json(document: Any) -> Finding | None:
    """The first text (value or key) no database column can hold, found without recursion."""
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while pending:
        value, at = pending.pop()
        if isinstance(value, str):
            problem = _bad_text(value)
            if problem:
                return "body", pointer(*at), problem
        elif isinstance(value, dict):
            for key in value:
                problem = _bad_text(key)
                if problem:  # the key itself, shown escaped
                    escaped = key.encode("unicode_escape", "backslashreplace").decode()
                    return "body", pointer(*at, escaped), problem
            pending.extend((item, (*at, key)) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            pending.extend((item, (*at, i)) for i, item in reversed(list(enumerate(value))))
    return None


def _bad_text(text: str) -> str | None:
    if NUL in text:
        return NUL_MESSAGE
    if _SURROGATE.search(text):  # json.loads joins the valid pairs
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
