"""Security probes against a real server: credentials on every route, forged tokens, tenant
isolation on both doors, and secrets in responses and server logs.

Related tests elsewhere: the clean API's unauthenticated sweep over the OpenAPI document is
``test_routes_auth.py::test_every_api_route_needs_credentials`` (this file adds the FINALES 2
routes, the routes hidden from the document, and the forged tokens on every route); oversized
bodies are probed in ``test_limits.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa

from finales.db import tables as t
from finales.db.engine import Database
from finales.domain.principals import Principal, Role
from finales.domain.views import OfferView
from finales.server import compat
from finales.server.app import API_PREFIX
from finales.server.routes import auth as auth_routes
from finales.server.routes import capabilities as capability_routes
from finales.server.routes import export as export_routes
from finales.server.routes import requests as request_routes
from finales.server.routes import results as result_routes
from finales.server.routes import tenants as tenant_routes
from finales.services import auth, capabilities, tenants
from finales.services.unit_of_work import Transactions
from finales.testing import LocalBroker, free_port
from tests.conftest import LIMITS_B, REQUEST_SCHEMA, RESULT_SCHEMA, ErrorCheck, Lab, params

ROOT = Path(__file__).resolve().parents[2]
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
PUBLIC = {
    ("POST", "/api/v1/auth/token"),
    ("POST", "/user_management/authenticate"),
    ("POST", "/user_management/authenticate/"),
    ("GET", "/healthz"),
}
# The FINALES 2 dump takes its own credential, a key in the path or the X-Access-Key header;
# a bearer token is not one. Probed in test_the_dump_needs_its_key.
DUMP_PATH_ROUTE = ("GET", "/database_dump/{access_key}")
DUMP_HEADER_ROUTES = {("GET", "/database_dump/"), ("GET", "/database_dump")}
DUMMIES = {"quantity": "conductivity", "method": "two_electrode"}
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _operations(lab: Lab) -> tuple[list[tuple[str, str]], set[tuple[str, str]]]:
    """Every (method, path template) the app serves, and those the live OpenAPI lists.

    The document lists only routes in the schema; the routers also hold the trailing-slash
    variants of the FINALES 2 door, which are read from the routers themselves.
    """
    spec = lab.root().get(API_PREFIX + "/openapi.json")
    assert spec.status_code == 200
    listed = {
        (m.upper(), path)
        for path, item in spec.json()["paths"].items()
        for m in item
        if m in HTTP_METHODS
    }
    served = set(listed)
    for route in compat.router.routes:
        served |= {(m, route.path) for m in route.methods}
    for module in (
        auth_routes,
        capability_routes,
        tenant_routes,
        request_routes,
        result_routes,
        export_routes,
    ):
        for route in module.router.routes:
            served |= {(m, API_PREFIX + route.path) for m in route.methods}
    return sorted(served - PUBLIC), listed


def _url(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: DUMMIES.get(m.group(1), str(uuid.uuid4())), template)


def _call(c: httpx.Client, method: str, template: str) -> httpx.Response:
    kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return c.request(method, _url(template), **kwargs)


def _assert_401(r: httpx.Response, expect_error: ErrorCheck, what: Any) -> None:
    assert r.status_code == 401, (what, r.request.method, r.request.url, r.status_code, r.text)
    expect_error(r, 401, code="unauthorized")
    assert r.headers.get("WWW-Authenticate") == "Bearer", what


# ------------------------------------------------------------------------------ credentials


def test_no_route_answers_without_credentials(lab: Lab, expect_error: ErrorCheck) -> None:
    """The FINALES 2 routes and every route the OpenAPI document hides: 401 without valid
    credentials (the documented /api/v1 routes: test_routes_auth.py's sweep)."""
    ops, listed = _operations(lab)
    compat_ops = [op for op in ops if not op[1].startswith(API_PREFIX + "/")]
    hidden = [op for op in ops if op not in listed]
    assert len(compat_ops) >= 33, compat_ops  # 16 FINALES 2 routes, most with two spellings
    assert ("GET", "/all_requests") in hidden
    admin_key = lab.keys["admin"]
    wrong_secret = _key_id_part(admin_key) + "x" * 43
    header_sets = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {admin_key}"},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Bearer fk_0123456789abcdef_unknown"},
        {"Authorization": f"Bearer {wrong_secret}"},
    ]
    probed = 0
    for headers in header_sets:
        with lab.broker.http(headers, prefix="") as c:
            for method, template in [*compat_ops, *hidden]:
                if (method, template) == DUMP_PATH_ROUTE:
                    continue
                _assert_401(_call(c, method, template), expect_error, headers)
                probed += 1
    assert probed >= 6 * 32


def test_a_broken_body_without_credentials_is_401_not_422(
    lab: Lab, expect_error: ErrorCheck
) -> None:
    """The server must not look at a caller's body before knowing who calls: a malformed
    JSON body without valid credentials answers 401 (with credentials: 422, naming it)."""
    ops, _ = _operations(lab)
    writes = [(m, p) for m, p in ops if m in ("POST", "PUT", "PATCH")]
    assert len(writes) >= 25
    broken = {"content": b'{"quantity": ', "headers": {"Content-Type": "application/json"}}
    with lab.broker.http(prefix="") as c:
        for auth in ({}, {"Authorization": "Bearer garbage"}):
            for method, template in writes:
                headers = {**broken["headers"], **auth}
                r = c.request(method, _url(template), content=broken["content"], headers=headers)
                _assert_401(r, expect_error, (method, template, auth))
        r = c.post(
            API_PREFIX + "/requests",
            content=broken["content"],
            headers={**broken["headers"], "Authorization": f"Bearer {lab.keys['admin']}"},
        )
        expect_error(r, 422, code="invalid_payload")


def _key_id_part(key: str) -> str:
    """``fk_<id>_`` of an API key ``fk_<hex id>_<secret>`` (the secret may contain ``_``)."""
    prefix, key_id, _secret = key.split("_", 2)
    return f"{prefix}_{key_id}_"


def _key_secret(key: str) -> str:
    return key.split("_", 2)[2]


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _forged_tokens(lab: Lab, admin_id: str) -> dict[str, str]:
    """Tokens that must all be refused; each would name a real principal if it were valid."""
    secret = lab.broker.state.secret
    now = int(time.time())
    claims = {"sub": admin_id, "iat": now, "exp": now + 600, "jti": "probe"}
    real = lab.anon.post(
        "/auth/token", data={"username": "bot-a", "password": "bot-a-password"}
    ).json()["access_token"]
    head, body, sig = real.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return {
        "another secret": jwt.encode(claims, "another-secret-" + "x" * 40, algorithm="HS256"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "alg None with a signature": f"{_b64({'alg': 'None', 'typ': 'JWT'})}.{_b64(claims)}.{sig}",
        "expired": jwt.encode({**claims, "iat": now - 7200, "exp": now - 60}, secret, "HS256"),
        "no exp": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, secret, "HS256"),
        "no sub": jwt.encode({k: v for k, v in claims.items() if k != "sub"}, secret, "HS256"),
        "unknown sub": jwt.encode({**claims, "sub": str(uuid.uuid4())}, secret, "HS256"),
        "not yet valid": jwt.encode({**claims, "nbf": now + 600}, secret, "HS256"),
        "HS512 with the right secret": jwt.encode(claims, secret + "-hs512-pad", "HS512"),
        "tampered sub": f"{head}.{_b64({**payload, 'sub': admin_id})}.{sig}",
        "tampered exp": f"{head}.{_b64({**payload, 'exp': payload['exp'] + 86400})}.{sig}",
        "truncated signature": real[:-4],
    }


@SQLITE_ONLY
def test_forged_tokens_are_refused_on_every_route(lab: Lab, expect_error: ErrorCheck) -> None:
    admin_id = lab.admin.get("/auth/me").json()["id"]
    secret = lab.broker.state.secret
    now = int(time.time())
    # Control: the same claims, signed properly, are accepted on both doors.
    genuine = jwt.encode({"sub": admin_id, "iat": now, "exp": now + 600}, secret, "HS256")
    with lab.broker.http({"Authorization": f"Bearer {genuine}"}, prefix="") as c:
        assert c.get(API_PREFIX + "/auth/me").json()["name"] == "admin"
        assert c.get("/all_requests/").status_code == 200

    ops, _ = _operations(lab)
    ops = [op for op in ops if op != DUMP_PATH_ROUTE and op not in DUMP_HEADER_ROUTES]
    assert len(ops) >= 60
    for name, token in _forged_tokens(lab, admin_id).items():
        with lab.broker.http({"Authorization": f"Bearer {token}"}, prefix="") as c:
            for method, template in ops:
                _assert_401(_call(c, method, template), expect_error, name)


@SQLITE_ONLY
def test_a_cached_token_still_expires(lab: Lab, expect_error: ErrorCheck) -> None:
    """The server caches who a credential is; the cache must not outlive a token's expiry."""
    admin_id = lab.admin.get("/auth/me").json()["id"]
    exp = int(lab.clock().timestamp()) + 60
    token = jwt.encode({"sub": admin_id, "exp": exp}, lab.broker.state.secret, "HS256")
    headers = {"Authorization": f"Bearer {token}"}
    with lab.broker.http(headers, prefix="") as c:
        assert c.get(API_PREFIX + "/auth/me").status_code == 200  # now cached
        assert c.get("/tenants/").status_code == 200
        lab.clock.advance(50)  # the broker's clock decides expiry: nothing sleeps
        assert c.get(API_PREFIX + "/auth/me").status_code == 200
        lab.clock.advance(11)
        _assert_401(c.get(API_PREFIX + "/auth/me"), expect_error, "expired after caching")
        _assert_401(c.get("/tenants/"), expect_error, "expired after caching")


@SQLITE_ONLY
def test_the_dump_needs_its_key(database_url: str, tmp_path: Path) -> None:
    key = "a-long-enough-dump-key-0123456789"
    home = tmp_path / "dump-home"
    home.mkdir()
    shutil.copy(database_url.removeprefix("sqlite:///"), home / "finales.db")
    with LocalBroker(home, dump_key=key) as b:
        admin_key = b.add_user("admin", role=Role.ADMIN)
        for headers in ({}, {"Authorization": f"Bearer {admin_key}"}, {"X-Access-Key": ""}):
            for path in ("/database_dump/", "/database_dump"):
                r = httpx.get(b.url + path, headers=headers)
                assert r.status_code == 401, (path, headers, r.text)
                assert r.json()["code"] == "unauthorized"
        wrong = [
            httpx.get(b.url + "/database_dump/not-the-key"),
            httpx.get(b.url + "/database_dump/", headers={"X-Access-Key": "not-the-key"}),
            httpx.get(b.url + "/database_dump/" + admin_key),
        ]
        assert [r.status_code for r in wrong] == [403, 403, 403]
        assert httpx.get(b.url + "/database_dump/", headers={"X-Access-Key": key}).is_success


# ------------------------------------------------------------------------------ isolation


def _state(lab: Lab) -> dict[str, Any]:
    """Every request/result row, event and projection, from one consistent snapshot."""
    r = lab.archiver.get("/export/snapshot")
    assert r.status_code == 200, r.text
    tables = r.json()["tables"]
    keep = ("requests", "request_events", "request_state", "results", "result_events")
    return {name: tables[name] for name in (*keep, "result_state")}


def _isolation_setup(lab: Lab) -> dict[str, str]:
    """Tenant A's objects: a reservation, its own pending request, a result, an unsolicited
    result. Tenant B then tries to act on each of them."""
    ids: dict[str, str] = {}
    ids["reserved"] = lab.post_request(who="admin")["id"]
    assert lab.claim(ids["reserved"], "a", lease=600).status_code == 200
    ids["a_pending"] = lab.post_request(who="a")["id"]
    ids["resolved"] = lab.post_request(who="admin")["id"]
    assert lab.claim(ids["resolved"], "a", lease=600).status_code == 200
    r = lab.client("a").post(
        "/results",
        json={
            "request_id": ids["resolved"],
            "quantity": "conductivity",
            "method": "two_electrode",
            "parameters": params(),
            "data": {"conductivity": 0.9},
        },
        headers={"Idempotency-Key": "a-result-1"},
    )
    assert r.status_code == 201, r.text
    ids["result"] = r.json()["id"]
    r = lab.post_result(None, "a")
    assert r.status_code == 201, r.text
    ids["unsolicited"] = r.json()["id"]
    return ids


def test_a_tenant_cannot_act_for_another_on_the_clean_api(
    lab: Lab, expect_error: ErrorCheck
) -> None:
    ids = _isolation_setup(lab)
    before = _state(lab)
    b = lab.b
    result_body = {
        "request_id": ids["reserved"],
        "quantity": "conductivity",
        "method": "two_electrode",
        "parameters": params(),
        "data": {"conductivity": 0.1},
    }
    attempts: list[tuple[str, httpx.Response, int, str | None]] = [
        ("claim A's reservation", lab.claim(ids["reserved"], "b"), 409, "invalid_transition"),
        (
            "claim naming tenant A",
            b.post(
                f"/requests/{ids['a_pending']}/claim",
                json={"lease_seconds": 60, "tenant_id": lab.tenant_a},
            ),
            422,
            "invalid_payload",
        ),
        ("heartbeat", b.post(f"/requests/{ids['reserved']}/heartbeat", json={}), 403, "forbidden"),
        ("release", b.post(f"/requests/{ids['reserved']}/release", json={}), 403, "forbidden"),
        ("retract admin's", b.post(f"/requests/{ids['reserved']}/retract"), 403, "forbidden"),
        ("retract A's", b.post(f"/requests/{ids['a_pending']}/retract"), 403, "forbidden"),
        ("post result", b.post("/results", json=result_body), 403, "forbidden"),
        (
            "post result naming tenant A",
            b.post("/results", json={**result_body, "tenant_id": lab.tenant_a}),
            422,
            "invalid_payload",
        ),
        (
            "replay A's idempotency key",
            b.post(
                "/results",
                json={**result_body, "request_id": ids["resolved"]},
                headers={"Idempotency-Key": "a-result-1"},
            ),
            409,
            "invalid_transition",
        ),
        (
            "amend",
            b.post(f"/results/{ids['result']}/amend", json={"data": {"conductivity": 0.2}}),
            403,
            "forbidden",
        ),
        ("delete", b.post(f"/results/{ids['result']}/delete", json={}), 403, "forbidden"),
        (
            "amend unsolicited",
            b.post(f"/results/{ids['unsolicited']}/amend", json={"data": {"conductivity": 0}}),
            403,
            "forbidden",
        ),
        ("delete unsolicited", b.post(f"/results/{ids['unsolicited']}/delete"), 403, "forbidden"),
        (
            "set A's offers",
            b.put(
                f"/tenants/{lab.tenant_a}/offers",
                json=[{"quantity": "conductivity", "method": "two_electrode", "limitations": {}}],
            ),
            403,
            "forbidden",
        ),
        ("reader claims", lab.claim(ids["a_pending"], "reader"), 403, "forbidden"),
        (
            "archiver posts a result",
            lab.archiver.post("/results", json=result_body),
            403,
            "forbidden",
        ),
    ]
    for what, r, status, code in attempts:
        assert r.status_code == status, (what, r.status_code, r.text)
        expect_error(r, status, code=code)
        assert "Idempotent-Replayed" not in r.headers, what
    assert _state(lab) == before
    # The denials were not an artefact of the set-up: tenant A may do all of it.
    assert lab.a.post(f"/requests/{ids['reserved']}/heartbeat", json={}).status_code == 200
    assert lab.a.post("/results", json=result_body).status_code == 201
    assert lab.a.post(f"/results/{ids['result']}/delete").status_code == 200
    assert lab.a.post(f"/requests/{ids['a_pending']}/retract").status_code == 200


def _legacy(lab: Lab, who: str) -> httpx.Client:
    return lab.root(who)


def test_a_tenant_cannot_act_for_another_on_the_finales2_routes(
    lab: Lab, expect_error: ErrorCheck
) -> None:
    ids = _isolation_setup(lab)
    before = _state(lab)

    def f2_result(tenant: str, request_id: str) -> dict[str, Any]:
        return {
            "data": {"conductivity": 0.1},
            "quantity": "conductivity",
            "method": ["two_electrode"],
            "parameters": {"two_electrode": params()},
            "tenant_uuid": tenant,
            "request_uuid": request_id,
        }

    f2_request = {
        "quantity": "conductivity",
        "methods": ["two_electrode"],
        "parameters": {"two_electrode": params()},
        "tenant_uuid": lab.tenant_a,
    }

    def status(client: httpx.Client, kind: str, oid: str, new: str) -> httpx.Response:
        return client.post(f"/{kind}/{oid}/update_status/", params={"new_status": new})

    with _legacy(lab, "b") as b, _legacy(lab, "a") as a:
        reserved, pending = ids["reserved"], ids["a_pending"]
        attempts = [
            ("reserve A's reservation", status(b, "requests", reserved, "reserved"), 409),
            ("release", status(b, "requests", reserved, "pending"), 403),
            ("retract admin's", status(b, "requests", reserved, "retracted"), 403),
            ("retract A's", status(b, "requests", pending, "retracted"), 403),
            ("result as B", b.post("/results/", json=f2_result(lab.tenant_b, reserved)), 403),
            ("result as A", b.post("/results/", json=f2_result(lab.tenant_a, reserved)), 403),
            ("request as A", b.post("/requests/", json=f2_request), 403),
            (
                "unsolicited as A",
                b.post("/results/post_unsolicited_result", json=f2_result(lab.tenant_a, "")),
                403,
            ),
            ("delete", status(b, "results", ids["result"], "deleted"), 403),
            ("mark amended", status(b, "results", ids["result"], "amended"), 403),
            ("delete unsolicited", status(b, "results", ids["unsolicited"], "deleted"), 403),
        ]
        for what, r, code in attempts:
            assert r.status_code == code, (what, r.status_code, r.text)
            expect_error(r, code)
        assert _state(lab) == before
        # Tenant A may.
        assert a.post("/results/", json=f2_result(lab.tenant_a, reserved)).status_code == 200
        assert status(a, "results", ids["result"], "deleted").status_code == 200


# ------------------------------------------------------------------------------ secrets

ADMIN_PASSWORD = "probe-admin-password-7c1e"
BOT_PASSWORD = "probe-bot-password-52aa"
NEW_PASSWORDS = ("probe-new-user-password-1", "probe-new-user-password-2")
SIGNING_SECRET = "probe-signing-secret-" + "3f9d" * 8
DUMP_KEY = "probe-dump-key-0123456789abcdef"
DB_PASSWORD = "probe-db-password-e41b"


def _populate(url: str) -> dict[str, str]:
    """An admin and a tenant principal with passwords and API keys, straight in the database."""
    db = Database(url)
    setup = Principal(id="probe-setup", name="probe-setup", role=Role.ADMIN)
    try:
        with Transactions(db).write() as uow:
            capabilities.register_capability(
                uow,
                principal=setup,
                quantity="conductivity",
                method="two_electrode",
                request_schema=REQUEST_SCHEMA,
                result_schema=RESULT_SCHEMA,
            )
            tid = tenants.add_tenant(uow, principal=setup, name="tenant-b").id
            offer = OfferView("conductivity", "two_electrode", LIMITS_B)
            tenants.set_offers(uow, principal=setup, tenant_id=tid, offers=[offer])
            auth.add_principal(uow, name="admin", role=Role.ADMIN, password=ADMIN_PASSWORD)
            auth.add_principal(
                uow, name="bot", role=Role.TENANT, tenant_id=tid, password=BOT_PASSWORD
            )
            admin_key = auth.create_api_key(uow, principal_name="admin").key
            bot_key = auth.create_api_key(uow, principal_name="bot").key
    finally:
        db.dispose()
    return {"admin": admin_key, "bot": bot_key, "tenant": str(tid)}


def _stored_secrets(url: str) -> list[str]:
    db = Database(url)
    try:
        with db.read() as s:
            hashes = s.scalars(sa.select(t.principals.c.password_hash)).all()
            digests = s.scalars(sa.select(t.api_keys.c.key_hash)).all()
    finally:
        db.dispose()
    found = [h for h in hashes if h] + list(digests)
    assert sum(1 for h in found if h.startswith("$argon2")) >= 3, found
    return found


@contextmanager
def _served(env: dict[str, str], log: Path) -> Iterator[str]:
    """`finales serve` as users run it, logging at debug level (access log on) to ``log``."""
    port = free_port()
    command = [sys.executable, "-m", "finales.cli", "serve", "--port", str(port)]
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [*command, "--log-level", "debug"],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _sample_calls(url: str, keys: dict[str, str]) -> list[tuple[httpx.Response, set[str]]]:
    """Successes and errors across both doors; each with the secrets it may show (a new API
    key is shown once, in the answer that creates it)."""
    out: list[tuple[httpx.Response, set[str]]] = []
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['admin']}"})
    bot = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['bot']}"})
    anon = httpx.Client(base_url=url)
    wrong_secret = _key_id_part(keys["bot"]) + "y" * 43
    api = API_PREFIX
    with admin, bot, anon:

        def record(r: httpx.Response, allowed: frozenset[str] = frozenset()) -> httpx.Response:
            out.append((r, set(allowed)))
            return r

        for door in (f"{api}/auth/token", "/user_management/authenticate"):
            for name, password in (("admin", ADMIN_PASSWORD), ("bot", ADMIN_PASSWORD)):
                record(anon.post(door, data={"username": name, "password": password}))
            record(anon.post(door, data={"username": "admin"}))
        token = out[0][0].json()["access_token"]
        for client in (admin, bot):
            record(client.get(f"{api}/auth/me"))
        record(anon.get(f"{api}/auth/me", headers={"Authorization": f"Bearer {wrong_secret}"}))
        record(anon.get(f"{api}/auth/me", headers={"Authorization": f"Bearer {token}x"}))
        record(anon.get(f"{api}/users", headers={"Authorization": f"Bearer {token}"}))
        user = {"name": "newbie", "role": "reader", "password": NEW_PASSWORDS[0]}
        idem = {"Idempotency-Key": "probe-user"}
        record(admin.post(f"{api}/users", json=user, headers=idem))
        record(admin.post(f"{api}/users", json=user, headers=idem))  # replayed
        second = {**user, "password": NEW_PASSWORDS[1]}
        record(admin.post(f"{api}/users", json=second, headers=idem))  # 409: key reused
        record(admin.post(f"{api}/users", json={**second, "name": "newbie2", "role": "boss"}))
        record(admin.post(f"{api}/users", json={**user, "password": "short"}))
        record(admin.post(f"{api}/users", json={**user, "password_hash": ADMIN_PASSWORD}))
        record(admin.post(f"{api}/users", json={**user, "name": "bot"}))  # 409: exists
        made = admin.post(f"{api}/auth/api-keys", json={"principal": "bot"})
        assert made.status_code == 201, made.text
        new_key = made.json()["key"]
        record(made, frozenset({new_key, _key_secret(new_key)}))
        keys["new"] = new_key
        record(bot.post(f"{api}/auth/api-keys", json={"principal": "admin"}))
        record(bot.get(f"{api}/users"))
        body = {
            "quantity": "conductivity",
            "methods": ["two_electrode"],
            "parameters": {"two_electrode": params()},
        }
        rid = record(admin.post(f"{api}/requests", json=body)).json()["id"]
        record(bot.post(f"{api}/requests/{rid}/claim", json={"lease_seconds": 60}))
        record(bot.post(f"{api}/results", json={"request_id": rid, "data": ADMIN_PASSWORD}))
        record(bot.post(f"{api}/requests", content=b"{broken", headers=_json_type()))
        record(bot.get(f"{api}/requests/{uuid.uuid4()}"))
        record(anon.get("/all_requests/", headers={"Authorization": f"Bearer {wrong_secret}"}))
        record(bot.get("/all_requests/"))
        record(bot.get("/tenants/"))
        record(admin.get(f"{api}/export/snapshot"))
        record(admin.get(f"{api}/export/snapshot", params={"format": "sqlite"}))
        record(anon.get(f"/database_dump/{DUMP_KEY}"))
        record(anon.get("/database_dump/", headers={"X-Access-Key": DUMP_KEY}))
        record(anon.get("/database_dump/wrong-key"))
    return out


def _json_type() -> dict[str, str]:
    return {"Content-Type": "application/json"}


def test_no_secret_in_responses_or_server_logs(
    backend: str, database_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINALES_")}
    env.update(FINALES_HOME=str(home), FINALES_SECRET_KEY=SIGNING_SECRET, FINALES_DUMP_KEY=DUMP_KEY)
    if backend == "sqlite":
        shutil.copy(database_url.removeprefix("sqlite:///"), home / "finales.db")
        url = f"sqlite:///{home / 'finales.db'}"
    else:
        url = database_url
        # Trust authentication ignores passwords; the server must not print them anyway, in
        # the URL's user part or as a libpq query parameter.
        served_url = database_url.replace(
            "postgresql://postgres@", f"postgresql://postgres:{DB_PASSWORD}@"
        )
        assert DB_PASSWORD in served_url
        env["FINALES_DATABASE_URL"] = f"{served_url}?password={DB_PASSWORD}-q&connect_timeout=9"
    keys = _populate(url)
    log = tmp_path / "server.log"
    with _served(env, log) as server:
        calls = _sample_calls(server, keys)
    statuses = sorted({r.status_code for r, _ in calls})
    assert {200, 201, 401, 403, 404, 409, 422} <= set(statuses), statuses

    secrets = [ADMIN_PASSWORD, BOT_PASSWORD, *NEW_PASSWORDS, SIGNING_SECRET, DUMP_KEY, DB_PASSWORD]
    secrets.append(DB_PASSWORD + "-q")
    for key in keys.values():
        if key.startswith("fk_"):
            secrets += [key, _key_secret(key)]
    secrets += _stored_secrets(url)
    secrets.append(hashlib.sha256(NEW_PASSWORDS[0].encode()).hexdigest())
    for r, allowed in calls:
        for secret in secrets:
            if secret in allowed:
                continue
            assert secret.encode() not in r.content, (secret[:12], r.request.url, r.status_code)
    text = log.read_text()
    assert '"POST /api/v1/auth/token HTTP/1.1" 401' in text  # the access log was on
    assert "/database_dump/<redacted>" in text
    for secret in secrets:
        assert secret not in text, (secret[:12], "in the server log")
