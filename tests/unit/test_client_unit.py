"""SDK logic over httpx.MockTransport: retries and backoff, Idempotency-Key reuse, error
mapping, token handling, pagination; the tenant side's import isolation; log formats."""

from __future__ import annotations

import inspect
import json
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from finales import errors
from finales.client import (
    FinalesClient,
    RetryPolicy,
    ServerError,
    ServerUnreachable,
    error_from_response,
)
from finales.tenant.logs import JsonFormatter, KeyValueFormatter

Handler = Callable[[httpx.Request], httpx.Response]
LOGIN: dict[str, Any] = {"api_key": None, "username": "bot", "password": "secret-password"}

REQUEST = {
    "id": "r1",
    "quantity": "conductivity",
    "methods": ["two_electrode"],
    "parameters": {"two_electrode": {"temperature": 300}},
    "parent_request_id": None,
    "requester": "admin",
    "requester_tenant_id": None,
    "status": "pending",
    "reserved_by": None,
    "lease_expires_at": None,
    "created_at": "2025-01-01T00:00:00Z",
    "updated_at": "2025-01-01T00:00:00Z",
}


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make(
    handler: Handler, time_: FakeTime | None = None, **kw: Any
) -> tuple[FinalesClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    t = time_ or FakeTime()
    policy = RetryPolicy(
        max_attempts=kw.pop("max_attempts", 5),
        total_s=kw.pop("total_s", 30.0),
        base_s=0.1,
        max_backoff_s=5.0,
        clock=t.clock,
        sleep=t.sleep,
        rand=lambda _low, high: high,  # the top of each jitter range: predictable
    )
    http = httpx.Client(base_url="http://broker:8000", transport=httpx.MockTransport(record))
    kw.setdefault("api_key", "fk_test")
    return FinalesClient(http=http, retry=policy, **kw), seen


def answers(*responses: httpx.Response | Exception) -> Handler:
    """A handler that answers each call with the next item (an exception is raised)."""
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler


def error(status: int, code: str, detail: str = "nope", **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"detail": detail, "code": code, **extra})


# ------------------------------------------------------------------------------ retries


def test_a_creating_post_is_retried_with_one_idempotency_key() -> None:
    t = FakeTime()
    client, seen = make(
        answers(error(503, "unavailable"), error(502, "x"), httpx.Response(201, json=REQUEST)), t
    )
    got = client.submit_request("conductivity", ["two_electrode"], {"two_electrode": {"t": 1}})
    assert got.id == "r1" and got.status == "pending"
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(seen) == 3 and len(keys) == 1
    assert t.sleeps == [0.1, 0.2]  # exponential
    assert all(r.headers["Authorization"] == "Bearer fk_test" for r in seen)
    assert json.loads(seen[0].content)["parameters"] == {"two_electrode": {"t": 1}}

    # A second logical call gets a new key; an explicit key is used as given.
    client2, seen2 = make(answers(*[httpx.Response(201, json=REQUEST)] * 3))
    client2.submit_request("conductivity", ["m"], {"m": {}})
    client2.submit_request("conductivity", ["m"], {"m": {}})
    client2.submit_request("conductivity", ["m"], {"m": {}}, idempotency_key="mine")
    k1, k2, k3 = (r.headers["Idempotency-Key"] for r in seen2)
    assert k1 != k2 and k3 == "mine"


def test_retry_after_is_honoured_and_429_retried() -> None:
    t = FakeTime()
    limited = httpx.Response(429, headers={"Retry-After": "2"}, json={"detail": "slow"})
    client, seen = make(answers(limited, httpx.Response(200, json=REQUEST)), t)
    assert client.get_request("r1").id == "r1"
    assert len(seen) == 2 and t.sleeps == [2.0]


def test_connection_errors_are_retried_within_the_bounds() -> None:
    t = FakeTime()
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    client, seen = make(answers(*[refused] * 10), t, max_attempts=4)
    with pytest.raises(ServerUnreachable) as info:
        client.healthz()
    assert len(seen) == 4 and t.sleeps == [0.1, 0.2, 0.4]
    assert "Connection refused" in info.value.detail and "http://broker:8000" in info.value.detail
    assert isinstance(info.value, errors.Unavailable)

    # The total time bounds the retries too: 0.1 + 0.2 + 0.4 > 0.5.
    t2 = FakeTime()
    client2, seen2 = make(answers(*[refused] * 10), t2, total_s=0.5)
    with pytest.raises(ServerUnreachable):
        client2.get_request("r1")
    assert len(seen2) == 3 and sum(t2.sleeps) <= 0.5


def test_a_client_closed_under_a_call_fails_it_without_retrying() -> None:
    # A tenant shutting down closes its client while a long-poll is in flight in another
    # thread: the read fails (EBADF), and retrying on a closed client only logs noise.
    t = FakeTime()
    holder: list[FinalesClient] = []

    def closed_mid_read(request: httpx.Request) -> httpx.Response:
        holder[0].http.close()
        raise httpx.ReadError("[Errno 9] Bad file descriptor")

    client, seen = make(closed_mid_read, t)
    holder.append(client)
    with pytest.raises(ServerUnreachable):
        client.work(wait=30)
    assert len(seen) == 1 and t.sleeps == []


def test_calls_that_are_not_idempotent_are_retried_only_when_surely_not_done() -> None:
    ok = httpx.Response(200, json={**REQUEST, "status": "reserved"})
    # Connection refused and 503: the server did nothing, so the claim is repeated.
    client, seen = make(answers(httpx.ConnectError("refused"), error(503, "unavailable"), ok))
    assert client.claim("r1").status == "reserved"
    assert len(seen) == 3
    # 500 or a lost answer: the claim may have happened; repeating it could only 409.
    client, seen = make(answers(error(500, "internal"), ok))
    with pytest.raises(ServerError):
        client.claim("r1")
    client, seen = make(answers(httpx.ReadTimeout("slow"), ok))
    with pytest.raises(ServerUnreachable):
        client.release("r1", message="x")
    assert len(seen) == 1
    # A heartbeat is idempotent: retried after a lost answer.
    client, seen = make(answers(httpx.ReadTimeout("slow"), ok))
    assert client.heartbeat("r1", lease_seconds=5).status == "reserved"
    assert json.loads(seen[1].content) == {"lease_seconds": 5}


def test_backoff_stays_within_its_jitter_range() -> None:
    policy = RetryPolicy(base_s=0.2, max_backoff_s=1.0)
    for attempt in range(8):
        ceiling = min(1.0, 0.2 * 2**attempt)
        for _ in range(20):
            assert ceiling / 2 <= policy.backoff_s(attempt) <= ceiling
    assert policy.backoff_s(0, retry_after_s=30) == 1.0  # Retry-After, capped


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("response", "cls"),
    [
        (error(401, "unauthorized"), errors.Unauthorized),
        (error(403, "forbidden"), errors.Forbidden),
        (error(404, "not_found"), errors.NotFound),
        (error(409, "conflict"), errors.Conflict),
        (error(409, "invalid_transition"), errors.InvalidTransition),
        (error(409, "lease_expired"), errors.LeaseExpired),
        (error(413, "payload_too_large"), errors.PayloadTooLarge),
        (error(422, "invalid_payload"), errors.InvalidPayload),
        (error(400, "bad_request"), errors.BadRequest),
        (error(405, "http_405"), errors.FinalesError),  # unknown code: by status
        (error(404, "http_404"), errors.NotFound),
        (httpx.Response(502, text="<html>bad gateway</html>"), ServerError),
        (httpx.Response(500, json={"detail": "internal error", "code": "internal"}), ServerError),
    ],
)
def test_errors_map_to_the_shared_classes(
    response: httpx.Response, cls: type[errors.FinalesError]
) -> None:
    response.request = httpx.Request("GET", "http://broker/x")
    exc = error_from_response(response)
    assert type(exc) is cls
    assert exc.detail and exc.http_status == response.status_code


def test_an_error_carries_the_message_and_pointers() -> None:
    pointer = "/parameters/two_electrode/temperature"
    body = error(
        422,
        "invalid_payload",
        f"parameters invalid at {pointer}: 'hot' is not of type 'number'",
        errors=[{"pointer": pointer, "message": "'hot' is not of type 'number'"}],
    )
    client, seen = make(answers(body))
    with pytest.raises(errors.InvalidPayload) as info:
        client.submit_request("conductivity", ["two_electrode"], {"two_electrode": {}})
    assert pointer in str(info.value)
    assert info.value.errors[0]["pointer"] == pointer
    assert len(seen) == 1  # a 4xx is final

    client, _ = make(answers(error(409, "invalid_transition", "request r1 is reserved")))
    with pytest.raises(errors.Conflict, match="request r1 is reserved"):
        client.claim("r1")


# ------------------------------------------------------------------------------ tokens


def _auth_server(expires_in: int, stale: set[str] | None = None) -> Handler:
    issued = iter(f"tok{i}" for i in range(1, 100))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/token":
            form = dict(x.split("=") for x in request.content.decode().split("&"))
            assert form == {"username": "bot", "password": "secret-password"}
            return httpx.Response(
                200, json={"access_token": next(issued), "expires_in": expires_in}
            )
        token = request.headers["Authorization"].removeprefix("Bearer ")
        if stale and token in stale:
            return error(401, "unauthorized", "token expired")
        return httpx.Response(200, json=REQUEST)

    return handler


def test_a_password_login_refreshes_the_token_before_it_expires() -> None:
    client, seen = make(_auth_server(3600), **LOGIN)
    client.get_request("r1")
    client.get_request("r1")
    paths = [r.url.path for r in seen]
    assert paths.count("/api/v1/auth/token") == 1  # cached while valid
    assert seen[-1].headers["Authorization"] == "Bearer tok1"

    # A token whose lifetime is (nearly) over is renewed before the call, not after a 401.
    client, seen = make(_auth_server(0), **LOGIN)
    client.get_request("r1")
    client.get_request("r1")
    assert [r.headers.get("Authorization") for r in seen if r.url.path != "/api/v1/auth/token"] == [
        "Bearer tok1",
        "Bearer tok2",
    ]


def test_a_rejected_token_is_replaced_once() -> None:
    client, seen = make(_auth_server(3600, stale={"tok1"}), **LOGIN)
    assert client.get_request("r1").id == "r1"
    assert [r.url.path.rsplit("/", 1)[-1] for r in seen] == ["token", "r1", "token", "r1"]

    client, seen = make(_auth_server(3600, stale={"tok1", "tok2"}), **LOGIN)
    with pytest.raises(errors.Unauthorized, match="token expired"):
        client.get_request("r1")
    # An API key is never "refreshed": a 401 is final.
    client, seen = make(answers(error(401, "unauthorized", "unknown key")))
    with pytest.raises(errors.Unauthorized):
        client.me()
    assert len(seen) == 1


# ------------------------------------------------------------------------------ shapes


def test_iterators_follow_the_cursor_with_the_filters() -> None:
    pages = {
        None: {"items": [{**REQUEST, "id": "a"}, {**REQUEST, "id": "b"}], "next_cursor": "c1"},
        "c1": {"items": [{**REQUEST, "id": "c"}], "next_cursor": None},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        q = request.url.params
        assert q["status"] == "pending" and q["limit"] == "2" and q["quantity"] == "x"
        return httpx.Response(200, json=pages[q.get("cursor")])

    client, seen = make(handler)
    got = [r.id for r in client.iter_requests(page_size=2, status="pending", quantity="x")]
    assert got == ["a", "b", "c"] and len(seen) == 2


def test_long_polls_get_a_longer_read_timeout_and_unset_filters_are_left_out() -> None:
    client, seen = make(answers(httpx.Response(200, json=[])), timeout_s=10)
    assert client.work(wait=25, method="two_electrode") == []
    assert seen[0].extensions["timeout"]["read"] == 35
    assert dict(seen[0].url.params) == {"method": "two_electrode", "limit": "10", "wait": "25"}


def test_construction() -> None:
    client = FinalesClient("http://broker:8000/api/v1/", api_key="k")
    assert client.base_url == "http://broker:8000"
    client.close()
    with pytest.raises(ValueError, match="base URL"):
        FinalesClient()
    with pytest.raises(ValueError, match="not both"):
        FinalesClient("http://x", api_key="k", username="u", password="p")
    with pytest.raises(ValueError, match="both username and password"):
        FinalesClient("http://x", username="u")


# ------------------------------------------------------------------------------ isolation


def test_the_tenant_side_never_imports_the_server() -> None:
    code = (
        "import sys, finales.tenant, finales.client\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[:2] in "
        "(['finales', 'server'], ['finales', 'services'], ['finales', 'db'])"
        " or m.split('.')[0] in ('sqlalchemy', 'fastapi', 'uvicorn', 'alembic'))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == ""


def test_log_lines_are_structured() -> None:
    record = logging.LogRecord("finales.tenant", logging.INFO, __file__, 1, "job started", (), None)
    record.kv = {"request_id": "r1", "reason": 'said "no"', "n": 3}
    line = KeyValueFormatter().format(record)
    assert 'msg="job started"' in line and "request_id=r1" in line and "n=3" in line
    assert 'reason="said \\"no\\""' in line and "level=info" in line
    parsed = json.loads(JsonFormatter().format(record))
    assert parsed["request_id"] == "r1" and parsed["msg"] == "job started"


def test_the_client_reference_lists_every_public_method() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "client.md").read_text()
    public = [n for n, _ in inspect.getmembers(FinalesClient, inspect.isfunction) if n[0] != "_"]
    missing = [n for n in public if f"`{n}(" not in doc]
    assert not missing, f"docs/client.md does not document {missing}"
    undocumented = [n for n in public if not getattr(FinalesClient, n).__doc__]
    assert not undocumented


def test_a_result_committed_between_the_long_poll_and_the_status_read_is_returned() -> None:
    """The long-poll answers [] just before the result commits, and the status read that
    follows already sees the request resolved: the wait returns the result, not []."""
    result = {
        "id": "x1",
        "request_id": "r1",
        "quantity": "conductivity",
        "method": "two_electrode",
        "parameters": {"temperature": 300},
        "data": {"conductivity": 0.9},
        "tenant_id": "t1",
        "capability_id": "c1",
        "status": "original",
        "supersedes": None,
        "superseded_by": None,
        "created_at": "2025-01-01T00:00:01Z",
    }
    client, seen = make(
        answers(
            httpx.Response(200, json=[]),  # the long-poll: nothing yet
            httpx.Response(200, json={**REQUEST, "status": "resolved"}),  # committed since
            httpx.Response(200, json=[result]),
        ),
        api_key="k",
    )
    got = client.wait_for_results("r1", timeout_s=60, poll_s=5)
    assert [r.id for r in got] == ["x1"]
    assert [r.url.path for r in seen] == [
        "/api/v1/requests/r1/results",
        "/api/v1/requests/r1",
        "/api/v1/requests/r1/results",
    ]
