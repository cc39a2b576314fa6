"""API fuzzing: schemathesis drives every operation of ``/api/v1/openapi.json`` (the clean API
and the FINALES 2 door, which the same document describes) against a real broker over HTTP.

Every response must pass all of schemathesis' checks: no 5xx, status code, content type,
headers and body as declared, invalid input refused, valid input accepted, no ignored
authentication. The database is populated first (the built-in capability library, two
tenants, requests in every status, original, amended, deleted and unsolicited results), and
path parameters are often pinned to those objects (``fuzz_hooks.py``). Calls alternate between
an admin and a tenant principal; the FINALES 2 routes get tokens from their own form login.

schemathesis runs as its command line (``st run``, with this interpreter) against the
broker's port, over real HTTP: its public interface, the same as a user would run. Its pytest
plugin needs either the server up when the module is imported (eager loading) or
``schemathesis.pytest.from_fixture``, which fails on pytest 9.2 (``'Function' object has no
attribute '_nodeid'``). The suite's run is bounded (examples, coverage and fuzzing phases, 15
fuzzed cases per operation) and reproducible (fixed seed, deterministic generation);
``benchmarks/fuzz_api.py`` makes the long run, stateful phase included.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from finales.capabilities import CAPABILITIES, EXAMPLES, to_finales
from finales.domain.principals import Role
from finales.testing import LocalBroker
from tests.conftest import Clock, ErrorCheck, Lab

HOOKS = Path(__file__).with_name("fuzz_hooks.py")
CONFIG = Path(__file__).with_name("schemathesis.toml")
ST = (sys.executable, "-m", "schemathesis.cli")  # `st`, with this interpreter
DUMP_KEY = "fuzzing-dump-key-0123456789abcdef"
PASSWORDS = {"admin": "admin-password", "robot-bot": "robot-password"}
JSON = {"Content-Type": "application/json"}
# Bounded for the suite: the coverage phase's cases plus 15 fuzzed ones per operation (the long
# runs, stateful phase included, are benchmarks/fuzz_api.py's).
SUITE_RUN = ("--max-examples", "15", "--seed", "20240611", "--phases", "examples,coverage,fuzzing")


FUZZ_SETTINGS: dict[str, Any] = {
    "lease_sweep_s": 0.2,
    "long_poll_recheck_s": 0.1,
    "long_poll_max_s": 0.3,  # the fuzzer asks for wait= values up to the maximum
    "dump_key": DUMP_KEY,
    # Failed logins are limited and slowed down (test_login_limits.py); the fuzzer sends many.
    "login_rate_per_user": "",
    "login_rate_per_address": "",
    "login_failure_delay_s": 0.0,
}


class StatusCounter:
    """Pure ASGI middleware counting the responses by status: the server's own tally of 5xx,
    independent of what the fuzzer makes of them."""

    def __init__(self, app: Any, counts: Counter[int]) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def counting_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                self.counts[message["status"]] += 1
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except Exception:
            if not started:  # Starlette's outermost middleware turns it into the 500
                self.counts[500] += 1
            raise


class FuzzBroker(LocalBroker):
    """A broker set up for fuzzing; ``statuses`` counts its responses by status."""

    def __init__(self, home: Path, *, database_url: str | None = None, **settings: Any) -> None:
        super().__init__(home, database_url=database_url, **FUZZ_SETTINGS, **settings)
        self.statuses: Counter[int] = Counter()
        self.app.add_middleware(StatusCounter, counts=self.statuses)

    def operations(self) -> int:
        """How many operations its OpenAPI document describes."""
        methods = {"get", "put", "post", "delete", "patch", "head", "options"}
        return sum(len(methods & set(ops)) for ops in self.app.openapi()["paths"].values())


@pytest.fixture
def broker(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[FuzzBroker]:
    """The conftest broker, set up for fuzzing (this module's tests use it through ``lab``)."""
    home = tmp_path / "home"
    url = None if database_url.startswith("sqlite") else database_url
    if url is None:
        home.mkdir()
        shutil.copy(database_url.removeprefix("sqlite:///"), home / "finales.db")
    with FuzzBroker(home, database_url=url, clock=clock) as b:
        yield b


def populate(broker: LocalBroker) -> dict[str, Any]:
    """Fill the broker through its own API; return what ``fuzz_hooks`` needs (``FUZZ_TARGET``).

    Requests in every status (pending, child of another, reserved, retracted, resolved), and
    original, amended, deleted and unsolicited results.
    """
    for cap in CAPABILITIES:
        c = to_finales(cap)
        broker.add_capability(c["quantity"], c["method"], c["request_schema"], c["result_schema"])
    pairs = sorted(EXAMPLES)
    robot = broker.add_tenant(
        "robot", offers=[{"quantity": q, "method": m, "limitations": {}} for q, m in pairs]
    )
    model = broker.add_tenant("model", offers=[])
    keys = {
        "admin": broker.add_user("admin", role=Role.ADMIN, password=PASSWORDS["admin"]),
        "tenant": broker.add_user(
            "robot-bot", role=Role.TENANT, tenant_id=robot, password=PASSWORDS["robot-bot"]
        ),
    }
    broker.add_user("reader", role=Role.READER)
    # Whom the credential administration acts on (revoked, disabled, logged out, re-roled):
    # a victim of its own, so that the fuzzing principals keep their credentials.
    victim_key = broker.add_user("fuzz-victim", role=Role.READER, password="victim-password")
    doomed_key = broker.add_user("fuzz-doomed", role=Role.READER)
    api = {
        who: httpx.Client(
            base_url=broker.url + "/api/v1", headers={"Authorization": f"Bearer {key}"}
        )
        for who, key in keys.items()
    }

    def ok(r: httpx.Response) -> Any:
        assert r.status_code in (200, 201), r.text
        return r.json()

    def post_request(q: str, m: str, **extra: Any) -> str:
        body = {"quantity": q, "methods": [m], "parameters": {m: EXAMPLES[q, m]["request"]}}
        return str(ok(api["admin"].post("/requests", json={**body, **extra}))["id"])

    def claim(request_id: str) -> None:
        ok(api["tenant"].post(f"/requests/{request_id}/claim", json={"lease_seconds": 3600}))

    def post_result(q: str, m: str, request_id: str | None) -> str:
        body = {"quantity": q, "method": m, "parameters": EXAMPLES[q, m]["request"]}
        body |= {"data": EXAMPLES[q, m]["result"], "request_id": request_id}
        return str(ok(api["tenant"].post("/results", json=body))["id"])

    requests: list[str] = []
    results: list[str] = []
    for q, m in pairs[:4]:
        pending, reserved, retracted, resolved = (post_request(q, m) for _ in range(4))
        requests += [pending, post_request(q, m, parent_request_id=pending)]
        requests += [reserved, retracted, resolved]
        claim(reserved)
        ok(api["admin"].post(f"/requests/{retracted}/retract", json={"message": "fuzz"}))
        claim(resolved)
        results += [post_result(q, m, resolved), post_result(q, m, None)]
    amend = {"data": EXAMPLES[pairs[0]]["result"], "message": "corrected"}
    results.append(ok(api["tenant"].post(f"/results/{results[0]}/amend", json=amend))["id"])
    ok(api["tenant"].post(f"/results/{results[1]}/delete", json={"message": "wrong"}))
    q, m = pairs[0]
    params, data = EXAMPLES[q, m]["request"], EXAMPLES[q, m]["result"]
    request = {"quantity": q, "methods": [m], "parameters": {m: params}}
    result = {"quantity": q, "method": m, "parameters": params, "data": data}
    legacy_result = {**result, "method": [m], "parameters": {m: params}, "tenant_uuid": robot}
    reserved, legacy_reserved = requests[2], post_request(q, m)  # claimed by the robot
    claim(legacy_reserved)
    for c in api.values():
        c.close()
    offers = [{"quantity": q, "method": m, "limitations": {}} for q, m in pairs]
    bodies = {
        "POST /api/v1/requests": [request, {**request, "parent_request_id": requests[0]}],
        "POST /api/v1/results": [result, {**result, "request_id": reserved}],
        "POST /api/v1/results/{result_id}/amend": [{"data": data, "message": "fuzz"}],
        "POST /api/v1/auth/api-keys": [{"principal": "reader"}, {"principal": "robot-bot"}],
        "POST /api/v1/users": [
            {"name": "fuzz-reader", "role": "reader"},
            {"name": "fuzz-bot", "role": "tenant", "tenant_id": model},
        ],
        "POST /api/v1/tenants": [{"name": "fuzz-tenant", "contact": "fuzz@example.org"}],
        "PUT /api/v1/tenants/{tenant_id}/offers": [offers],
        "POST /api/v1/capabilities": [to_finales(CAPABILITIES[0])],
        "POST /requests/": [{**request, "tenant_uuid": robot}],
        "POST /results/": [{**legacy_result, "request_uuid": legacy_reserved}],
        "POST /results/post_unsolicited_result": [legacy_result],
    }

    tokens = {}
    for who, name in (("admin", "admin"), ("tenant", "robot-bot")):
        form = {"username": name, "password": PASSWORDS[name]}
        tokens[who] = ok(httpx.post(broker.url + "/user_management/authenticate", data=form))[
            "access_token"
        ]
    return {
        "credentials": {"api": keys, "finales2": tokens, "victim": victim_key},
        "as_victim": ["POST /api/v1/auth/logout"],
        # The stateful phase follows links (a name from /auth/me to PATCH /users/{name}):
        # aimed at a fuzzing principal, such a call goes to a victim instead.
        "protected": {
            "name": ["admin", "robot-bot"],
            "key_id": [key.split("_")[1] for key in keys.values()],
        },
        "ids": {
            "name": ["fuzz-victim", "fuzz-doomed"],
            "key_id": [doomed_key.split("_")[1]],
            "request_id": requests,
            "result_id": results,
            "tenant_id": [robot, model],
            "access_key": [DUMP_KEY],
        },
        "capabilities": pairs,
        "bodies": bodies,
    }


def run_schemathesis(
    url: str, target: dict[str, Any], workdir: Path, *options: str, timeout_s: float = 900
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``st run`` with every check against the broker at ``url``; returns the process and the
    run's JSON report."""
    target_file = workdir / "fuzz-target.json"
    target_file.write_text(json.dumps(target))
    report = workdir / "schemathesis-report.json"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "FUZZ_TARGET": str(target_file)}
    command = [
        *ST,
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/api/v1/openapi.json",
        "--checks",
        "all",
        "--generation-deterministic",
        "--request-timeout",
        "30",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
        *options,
    ]
    proc = subprocess.run(
        command, env=env, cwd=workdir, capture_output=True, text=True, timeout=timeout_s
    )
    return proc, json.loads(report.read_text()) if report.exists() else {}


def summary(report: dict[str, Any], statuses: Counter[int]) -> dict[str, Any]:
    """The figures of a run: operations, test cases, responses by status, 5xx."""
    return {
        "operations_tested": report.get("operations", {}).get("tested"),
        "test_cases": report.get("test_cases", {}).get("generated"),
        "failures": len(report.get("failures", [])),
        "responses": sum(statuses.values()),
        "by_status": dict(sorted(statuses.items())),
        "server_errors": sum(n for status, n in statuses.items() if status >= 500),
        "running_time_s": round(report.get("running_time", 0.0), 1),
    }


def test_every_operation_passes_every_check(broker: FuzzBroker, tmp_path: Path) -> None:
    target = populate(broker)
    proc, report = run_schemathesis(broker.url, target, tmp_path, *SUITE_RUN)
    figures = summary(report, broker.statuses)
    print(f"\nschemathesis: {json.dumps(figures)}")
    assert proc.returncode == 0, proc.stdout[-25_000:] + proc.stderr[-5_000:]
    assert figures["server_errors"] == 0, figures
    assert figures["operations_tested"] == broker.operations(), figures


# ------------------------------------------------------------------ regressions found by fuzzing


@pytest.mark.parametrize("path", ["/requests", "/results"])
def test_since_needs_an_iso_date_time_with_offset(lab: Lab, expect_error: ErrorCheck, path: str):
    """A naive ``since`` answered 500 (the UTC column refuses naive date-times) and a number
    was taken as a Unix time; both are 422 naming the field now."""
    for since in ("2024-05-01T12:00:00", "2024-05-01", "0.5", "1700000000"):
        r = lab.reader.get(path, params={"since": since})
        expect_error(r, 422, code="invalid_payload", pointer="/since")
    for since in ("2024-05-01T12:00:00Z", "2024-05-01T14:00:00+02:00"):
        assert lab.reader.get(path, params={"since": since}).status_code == 200


def test_method_not_allowed_lists_every_method_of_the_path(lab: Lab) -> None:
    """The 405 named only the methods of the first route matching the path (``Allow: GET``
    for ``/api/v1/requests``, which takes POST too)."""
    for path, allowed in (
        ("/requests", "GET, POST"),
        ("/capabilities", "GET, POST"),
        ("/requests/x/claim", "POST"),
    ):
        r = lab.admin.request("DELETE", path)
        assert (r.status_code, r.headers["allow"]) == (405, allowed), path
        assert r.json()["code"] == "http_405"
    # A literal path advertises its own methods, not those of a templated one matching it too.
    r = httpx.options(lab.broker.url + "/results/post_unsolicited_result")
    assert (r.status_code, r.headers["allow"]) == (405, "POST")


def test_a_lease_length_is_a_number_not_a_boolean(lab: Lab, expect_error: ErrorCheck) -> None:
    """``{"lease_seconds": true}`` was read as a 1-second lease; a string as a number."""
    req = lab.post_request()
    for lease in (True, "60"):
        r = lab.a.post(f"/requests/{req['id']}/claim", json={"lease_seconds": lease})
        expect_error(r, 422, code="invalid_payload", pointer="/lease_seconds")
    assert lab.claim(req["id"], "a", lease=60).status_code == 200
    r = lab.a.post(f"/requests/{req['id']}/heartbeat", json={"lease_seconds": True})
    expect_error(r, 422, code="invalid_payload", pointer="/lease_seconds")


def test_text_no_database_can_hold_is_refused_naming_the_field(
    lab: Lab, expect_error: ErrorCheck
) -> None:
    """A NUL character (in a path, query, form or JSON body) answered 500 on PostgreSQL, which
    stores it in no text or JSON column; a lone surrogate in a JSON body answered 500 on both
    databases. Both are 422 naming the field now, on both."""
    body = {"quantity": "conductivity", "methods": ["two_electrode"]}
    for raw, pointer in (
        ('{"m": {"x": "a\\u0000b"}}', "/parameters/m/x"),
        ('{"m": {"x\\u0000": 1}}', "/parameters/m/x\\x00"),
        ('{"m": {"x": ["ok", "\\ud800"]}}', "/parameters/m/x/1"),
    ):
        content = json.dumps(body)[:-1] + f', "parameters": {raw}}}'
        r = lab.admin.post("/requests", content=content, headers=JSON)
        expect_error(r, 422, code="invalid_payload", pointer=pointer)
    r = lab.admin.post("/tenants", json={"name": "nul", "description": "a\x00"})
    expect_error(r, 422, pointer="/description")
    expect_error(lab.reader.get("/requests/a%00b"), 422, pointer="")
    expect_error(
        lab.reader.get("/requests", params={"quantity": "a\x00"}), 422, pointer="/quantity"
    )
    for login in ("/api/v1/auth/token", "/user_management/authenticate"):
        form = {"username": "admin\x00", "password": "admin-password"}
        expect_error(httpx.post(lab.broker.url + login, data=form), 422, pointer="/username")
    # Escaped text that merely looks alike is fine.
    r = lab.admin.post(
        "/tenants", json={"name": "fine", "description": "\\u0000 \u00e9 \U0001f600"}
    )
    assert r.status_code == 201 and r.json()["description"] == "\\u0000 \u00e9 \U0001f600"


def test_integers_beyond_the_columns_are_refused(lab: Lab, expect_error: ErrorCheck) -> None:
    """A forged cursor beyond 64 bits (both databases) and ``?version=`` beyond 32 bits
    (PostgreSQL) overflowed their columns: 500. Now 422 naming the parameter."""
    forged = base64.urlsafe_b64encode(b"s" + b"9" * 30).decode().rstrip("=")
    for path in ("/requests", "/results"):
        r = lab.reader.get(path, params={"cursor": forged})
        expect_error(r, 422, code="invalid_payload", pointer="/cursor")
    r = lab.reader.get("/capabilities/conductivity/two_electrode", params={"version": 2**31})
    expect_error(r, 422, pointer="/version")
    r = lab.reader.get("/capabilities/conductivity/two_electrode", params={"version": 2**31 - 1})
    expect_error(r, 404, code="not_found")
