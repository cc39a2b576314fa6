"""Hostile input, by class, on every door that takes it and on both databases: timestamps
outside the UTC range, deep or huge JSON documents, text no column can hold (by any JSON media
type), bodies that are not JSON. None may answer 5xx or store anything; every refusal names
what was wrong and where, in the API's one error shape.

The guard is ``finales.server.limits.InputGuard``; its policy (what is refused before the
credentials and what after) is in that module's docstring.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from finales.db import tables as t
from finales.server.app import API_PREFIX
from finales.server.limits import DEFAULT_MAX_JSON_DEPTH, DEFAULT_MAX_JSON_NODES
from finales.settings import Settings
from tests.conftest import Clock, Lab, local_broker, params, populate
from tests.integration.test_limits import BODY_ROUTES

JSON = {"Content-Type": "application/json"}
# Every door that takes a body, and two that take none: the guard runs before routing.
ANY_PATH = [*BODY_ROUTES, ("POST", "/healthz"), ("POST", "/no/such/path"), ("PUT", "/x")]
STORED = (t.requests, t.results, t.tenants, t.capabilities, t.principals)


def _error(r: httpx.Response, status: int, *names: str) -> dict[str, Any]:
    """The answer is ``status`` in the one error shape, and its message names ``names``."""
    assert r.status_code == status, (r.request.method, r.request.url, r.text[:500])
    body: dict[str, Any] = r.json()
    assert isinstance(body["detail"], str) and isinstance(body["code"], str), body
    assert body["errors"] and all({"pointer", "message"} <= set(e) for e in body["errors"])
    for name in names:
        assert name in body["detail"] and name in body["errors"][0]["message"] + str(
            body["errors"][0]["pointer"]
        ), (name, body)
    return body


def _rows(lab: Lab) -> dict[str, int]:
    with lab.broker.state.db.engine.connect() as conn:
        return {
            table.name: conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0
            for table in STORED
        }


def _url(path: str) -> str:
    return re.sub(r"\{[^}]*\}|some-id", "00000000-0000-0000-0000-000000000000", path)


def _json_operations(lab: Lab) -> list[tuple[str, str]]:
    """Every operation of both doors whose body is JSON, from the live OpenAPI document."""
    spec = lab.root().get(API_PREFIX + "/openapi.json").json()
    found = [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if "application/json" in op.get("requestBody", {}).get("content", {})
    ]
    assert {("POST", "/api/v1/requests"), ("POST", "/requests/")} <= set(found)
    return found


def _send(
    c: httpx.Client, method: str, path: str, content: bytes, **headers: str
) -> httpx.Response:
    return c.request(method, _url(path), content=content, headers={**JSON, **headers})


# ----------------------------------------------------------------------------- timestamps

OUT_OF_RANGE = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00+00:01",
    "0001-01-01T13:59:59+14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59.999999-00:01",
    "9999-12-31T10:00:00-23:59",
]


def _timestamp_parameters(lab: Lab) -> list[tuple[str, str]]:
    """Every (path, query parameter) of the served API typed as a date-time (both doors: the
    FINALES 2 routes are in the same document or hidden from it; none of those takes one)."""
    spec = lab.root().get(API_PREFIX + "/openapi.json").json()
    found = []
    for path, item in spec["paths"].items():
        for op in item.values():
            for param in op.get("parameters", []):
                schemas = [param["schema"], *param["schema"].get("anyOf", [])]
                if any(s.get("format") == "date-time" for s in schemas):
                    found.append((path, param["name"]))
    return found


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_timestamps_outside_the_utc_range_are_422_naming_the_parameter(
    lab: Lab, value: str
) -> None:
    listed = _timestamp_parameters(lab)
    assert {(f"{API_PREFIX}/requests", "since"), (f"{API_PREFIX}/results", "since")} <= set(listed)
    admin = lab.root("admin")
    for path, name in listed:
        body = _error(admin.get(path, params={name: value}), 422, name, "UTC")
        assert body["code"] == "invalid_payload"
        assert body["errors"][0]["pointer"] == f"/{name}"
        # The extremes that are representable stay accepted.
        for edge in ("0001-01-01T00:00:00Z", "0001-01-01T14:00:00+14:00", "9999-12-31T23:59:59Z"):
            r = admin.get(path, params={name: edge})
            assert r.status_code == 200, (path, edge, r.text)


# ----------------------------------------------------------------------------- shape


def _nested(depth: int, kind: str, leaf: str = "1") -> str:
    """A JSON text ``depth`` containers deep (0: the bare leaf)."""
    if kind == "array":
        return "[" * depth + leaf + "]" * depth
    return '{"a":' * depth + leaf + "}" * depth


def _in_parameters(depth: int, kind: str, path: str, lab: Lab) -> bytes:
    """A creating body of ``path`` whose parameters (or data) bring the whole document to
    ``depth`` levels: the realistic place to nest."""
    if "results" in path:
        outer = {"quantity": "conductivity", "method": "two_electrode", "parameters": params()}
        outer["data"] = "HOLE"  # data: depth 2 at the hole
        compat = "tenant_uuid" if not path.startswith(API_PREFIX) else None
        if compat:
            outer.update(method=["two_electrode"], tenant_uuid=lab.tenant_a)
        inner = depth - 1
    else:
        outer = {"quantity": "conductivity", "methods": ["two_electrode"]}
        outer["parameters"] = {"two_electrode": "HOLE"}
        if not path.startswith(API_PREFIX):
            outer["tenant_uuid"] = lab.tenant_a
        inner = depth - 2
    return json.dumps(outer).replace('"HOLE"', _nested(inner, kind)).encode()


@pytest.mark.parametrize("kind", ["array", "object"])
def test_deep_documents_are_413_on_any_path_before_credentials(lab: Lab, kind: str) -> None:
    limit = DEFAULT_MAX_JSON_DEPTH
    before = _rows(lab)
    anon, admin = lab.root(), lab.root("admin")
    for c in (anon, admin):
        for method, path in ANY_PATH:
            for depth in (limit + 1, 10_000):
                r = _send(c, method, path, _nested(depth, kind).encode())
                body = _error(r, 413, str(limit))
                assert body["code"] == "payload_too_large"
                assert body["errors"][0]["pointer"].count("/") == limit  # where it went too deep
            at_limit = _send(c, method, path, _nested(limit, kind).encode())
            assert at_limit.status_code not in (413, 500), (method, path, at_limit.text)
    # Nested where a creating call keeps its free-form JSON, on both doors.
    for path in ("/api/v1/requests", "/api/v1/results", "/requests/", "/results/"):
        body = _error(_send(admin, "POST", path, _in_parameters(limit + 1, kind, path, lab)), 413)
        assert body["errors"][0]["pointer"].startswith(("/parameters/", "/data"))
        r = _send(admin, "POST", path, _in_parameters(limit, kind, path, lab))
        assert r.status_code < 500 and r.status_code != 413, (path, r.text)
    assert _rows(lab) == before


@pytest.mark.parametrize(
    "leaf",
    ['"\\u0041"', '"\\u0000"', '"\\ud800"', '{"\\u00e9": 1}'],
    ids=["escape", "nul", "surrogate", "escaped-key"],
)
def test_deep_documents_with_unicode_escapes_never_recurse(lab: Lab, leaf: str) -> None:
    """The RecursionError of the old text guard: 10,000 levels holding a ``\\u`` escape,
    without credentials, on any path."""
    anon = lab.root()
    for method, path in ANY_PATH:
        for kind in ("array", "object"):
            r = _send(anon, method, path, _nested(10_000, kind, leaf).encode())
            assert _error(r, 413)["code"] == "payload_too_large"
    assert lab.root().get("/healthz").status_code == 200


def _many(values: int) -> bytes:
    """An array holding ``values`` JSON values in all (itself included)."""
    return ("[" + ",".join(["0"] * (values - 1)) + "]").encode()


@pytest.fixture
def small_limits(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[Lab]:
    """The lab on a broker with small shape limits: the class on every door, cheaply."""
    broker = local_broker(database_url, tmp_path, clock, max_json_nodes=50, max_json_depth=8)
    with broker.start_in_process() as b:
        yield populate(b, clock)


def test_documents_with_too_many_values_are_413_on_any_path(small_limits: Lab) -> None:
    lab = small_limits
    before = _rows(lab)
    shapes = {
        "flat": _many,
        "objects": lambda n: json.dumps([{"k": 0}] * ((n - 1) // 2)).encode(),
        "strings": lambda n: json.dumps({str(i): "," for i in range(n - 1)}).encode(),
    }
    for c in (lab.root(), lab.root("admin")):
        for method, path in ANY_PATH:
            for shape, make in shapes.items():
                over = _error(_send(c, method, path, make(52)), 413, "50")
                assert over["code"] == "payload_too_large", shape
                ok = _send(c, method, path, make(50))
                assert ok.status_code not in (413, 500), (shape, method, path, ok.text)
            deep = _error(_send(c, method, path, _nested(9, "object").encode()), 413, "8")
            assert deep["errors"][0]["pointer"] == "/a" * 8
        # The sender's keys are echoed in the pointer, cut to a readable length.
        long_key = ('{"' + "k" * 100_000 + '":') * 9 + "1" + "}" * 9
        cut = _error(_send(c, "POST", "/api/v1/requests", long_key.encode()), 413, "8")
        assert len(cut["detail"]) < 1100 and cut["errors"][0]["pointer"].endswith("...")
    assert _rows(lab) == before


def test_the_default_limits_pass_real_documents_and_stop_huge_ones(lab: Lab) -> None:
    """The defaults: 100,000 values pass where 100,001 do not."""
    admin = lab.root("admin")
    assert DEFAULT_MAX_JSON_NODES == Settings().max_json_nodes
    assert DEFAULT_MAX_JSON_DEPTH == Settings().max_json_depth
    over = _send(admin, "POST", "/api/v1/requests", _many(DEFAULT_MAX_JSON_NODES + 1))
    _error(over, 413, str(DEFAULT_MAX_JSON_NODES))
    at = _send(admin, "POST", "/api/v1/requests", _many(DEFAULT_MAX_JSON_NODES))
    _error(at, 422)  # parsed, and refused by the schema: no object


# ----------------------------------------------------------------------------- text

MEDIA_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "application/merge-patch+json",
    "application/vnd.x+json",
    "Application/Vnd.X+JSON; Charset=UTF-8",
]
BAD_TEXT = {
    "nul": (b'"a\\u0000b"', "NUL"),
    "lone-high": (b'"a\\ud800b"', "surrogate"),
    "lone-low": (b'"\\udfff"', "surrogate"),
    "reversed-pair": (b'"\\udc00\\ud800"', "surrogate"),
    "raw-utf8-surrogate": (b'"a\xed\xa0\x80"', "surrogate"),
}


@pytest.mark.parametrize("media_type", MEDIA_TYPES)
@pytest.mark.parametrize("text", list(BAD_TEXT))
def test_text_no_column_holds_is_422_by_any_json_media_type(
    lab: Lab, media_type: str, text: str
) -> None:
    literal, named = BAD_TEXT[text]
    before = _rows(lab)
    tenant = b'{"name": "t1", "description": %s, "contact": "x"}' % literal
    request = (
        b'{"quantity": "conductivity", "methods": ["two_electrode"], "parameters": '
        b'{"two_electrode": {"temperature": 300, "fraction": 0.1, "solvent": %s}}}' % literal
    )
    compat = request[:-1] + b', "tenant_uuid": "%s"}' % lab.tenant_a.encode()
    key = (
        b'{"quantity": "conductivity", "method": "two_electrode", "parameters": '
        b'{"temperature": 300, "fraction": 0.1}, "data": {%s: 0.9}}' % literal
    )
    cases = [
        ("/api/v1/tenants", tenant, "/description"),
        ("/api/v1/requests", request, "/parameters/two_electrode/solvent"),
        ("/requests/", compat, "/parameters/two_electrode/solvent"),
        ("/api/v1/results", key, "/data/"),
    ]
    for c in (lab.root(), lab.root("admin")):
        for path, body, where in cases:
            r = c.post(path, content=body, headers={"Content-Type": media_type})
            err = _error(r, 422, named)
            assert err["code"] == "invalid_payload"
            assert err["errors"][0]["pointer"].startswith(where), err
    assert _rows(lab) == before


def test_nul_in_forms_is_422(lab: Lab) -> None:
    before = _rows(lab)
    for path in ("/api/v1/auth/token", "/user_management/authenticate"):
        for c in (lab.root(), lab.root("admin")):
            form = c.post(
                path,
                content=b"username=a%00b&password=12345678",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            _error(form, 422, "NUL", "/username")
            multipart = c.post(
                path, files={"username": (None, "admin"), "password": (None, "a\0b")}
            )
            _error(multipart, 422, "NUL", "/password")
    assert _rows(lab) == before


# ----------------------------------------------------------------------------- not JSON

NOT_JSON = {
    "invalid-utf8": (b'{"quantity": "\xff"}', "UTF-8"),
    "overlong-utf8": (b'{"quantity": "\xc0\xaf"}', "UTF-8"),
    "truncated-utf8": (b'{"quantity": "\xe2\x82"}', "UTF-8"),
    "5000-digit-int": (b'{"quantity": ' + b"9" * 5000 + b"}", "4300 digits"),
    "negative-5000-digit-int": (b'{"x": [1, -' + b"1" * 5000 + b"]}", "4300 digits"),
    "float-overflow": (b'{"x": 1e400}', "64-bit float"),
    "5000-digit-float": (b'{"x": ' + b"7" * 5000 + b".5}", "64-bit float"),
    "nan": (b'{"x": NaN}', "NaN"),
    "infinity": (b'{"x": {"y": Infinity}}', "Infinity"),
    "minus-infinity": (b'{"x": -Infinity}', "-Infinity"),
    "syntax": (b'{"quantity": ', "line 1, column 14"),
    "trailing-garbage": (b'{"quantity": "q"} x', "Extra data"),
}


@pytest.mark.parametrize("case", list(NOT_JSON))
def test_bodies_that_are_not_json_are_422_after_the_credentials(lab: Lab, case: str) -> None:
    body, named = NOT_JSON[case]
    before = _rows(lab)
    for method, path in _json_operations(lab):
        for auth in ({}, {"Authorization": "Bearer garbage"}):
            r = _send(lab.root(), method, path, body, **auth)
            assert _error_401(r), (method, path, r.text)
        err = _error(_send(lab.root("admin"), method, path, body), 422, named)
        assert err["code"] == "invalid_payload"
        if case in ("nan", "infinity", "float-overflow"):
            assert err["errors"][0]["pointer"] in ("/x", "/x/y"), err
    # Routes that read no JSON body ignore it; the guard does not route.
    ignored = lab.root("admin").request("GET", "/api/v1/requests", content=body, headers=JSON)
    assert ignored.status_code == 200, ignored.text
    assert _send(lab.root(), "POST", "/no/such/path", body).status_code == 404
    assert _rows(lab) == before


def _error_401(r: httpx.Response) -> bool:
    return r.status_code == 401 and r.json()["code"] == "unauthorized"


def test_other_media_types_are_not_parsed_and_say_what_to_send(lab: Lab) -> None:
    admin = lab.root("admin")
    for content_type in ("text/plain", "application/xml", "application/jsonx"):
        r = admin.post(
            "/api/v1/tenants", content=b'{"name": "t"}', headers={"Content-Type": content_type}
        )
        _error(r, 422, "application/json", content_type)
        anon = lab.root().post(
            "/api/v1/tenants", content=b"[" * 10_000, headers={"Content-Type": content_type}
        )
        assert _error_401(anon)
