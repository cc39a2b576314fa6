"""Routes /auth/token, /auth/api-keys, /auth/me, /users, /healthz and the 401 sweep.

Each test starts a broker (on both backends), so the error cases of one route share a test.
"""

from __future__ import annotations

import re
import uuid

import httpx

from finales import __version__
from tests.conftest import ErrorCheck, Lab


def assert_no_secrets(response: httpx.Response) -> None:
    text = response.text
    for needle in ("password_hash", "key_hash", "$argon2", "admin-password", "bot-a-password"):
        assert needle not in text, f"{needle!r} leaked in {response.request.url}: {text}"


def login(lab: Lab, username: str, password: str) -> httpx.Response:
    return lab.anon.post("/auth/token", data={"username": username, "password": password})


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


# ------------------------------------------------------------------------------ /auth/token


def test_token_with_right_password_works_on_me(lab: Lab) -> None:
    r = login(lab, "bot-a", "bot-a-password")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    assert_no_secrets(r)
    me = lab.anon.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["name"] == "bot-a"
    assert me.json()["role"] == "tenant"
    assert me.json()["tenant_id"] == lab.tenant_a
    assert_no_secrets(me)

    # an admin's token grants admin routes, a tenant's does not
    admin_token = login(lab, "admin", "admin-password").json()["access_token"]
    assert lab.anon.get("/users", headers=bearer(admin_token)).status_code == 200
    assert lab.anon.get("/users", headers=bearer(body["access_token"])).status_code == 403


def test_token_refused(lab: Lab, expect_error: ErrorCheck) -> None:
    cases = [
        ("bot-a", "wrong-password"),
        ("admin", "bot-a-password"),
        ("nobody-by-this-name", "bot-a-password"),
        ("reader", "anything-at-all"),  # a principal without a password cannot log in
    ]
    bodies = []
    for username, password in cases:
        r = login(lab, username, password)
        body = expect_error(r, 401, code="unauthorized")
        assert r.headers.get("WWW-Authenticate") == "Bearer", username
        assert "access_token" not in body
        assert_no_secrets(r)
        bodies.append(body)
    # an unknown name and a wrong password are indistinguishable
    assert bodies[0] == bodies[2]
    # a missing form field is a 422 naming it
    r = lab.anon.post("/auth/token", data={"username": "bot-a"})
    expect_error(r, 422, code="invalid_payload", pointer="/password")


# ------------------------------------------------------------------------------ /auth/me


def test_me_with_api_keys(lab: Lab) -> None:
    expected = {
        "admin": ("admin", "admin", None),
        "reader": ("reader", "reader", None),
        "archiver": ("archiver", "archiver", None),
        "a": ("bot-a", "tenant", lab.tenant_a),
        "a2": ("bot-a2", "tenant", lab.tenant_a),
        "b": ("bot-b", "tenant", lab.tenant_b),
    }
    for who, (name, role, tenant) in expected.items():
        r = lab.client(who).get("/auth/me")
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["name"], body["role"], body["tenant_id"]) == (name, role, tenant), who
        assert set(body) == {"id", "name", "role", "tenant_id", "created_at", "disabled_at"}
        assert_no_secrets(r)


def test_me_with_bad_credentials(lab: Lab, expect_error: ErrorCheck) -> None:
    good = lab.keys["a"]
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    credentials = [
        "garbage",
        "fk_nounderscore",
        "fk_0123456789abcdef_not-the-secret",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",  # a JWT with a wrong signature
        tampered,
    ]
    for credential in credentials:
        r = lab.anon.get("/auth/me", headers=bearer(credential))
        expect_error(r, 401, code="unauthorized")
    expect_error(lab.anon.get("/auth/me"), 401, code="unauthorized")
    r = lab.anon.get("/auth/me", headers={"Authorization": f"Basic {good}"})
    expect_error(r, 401, code="unauthorized")


# ------------------------------------------------------------------------------ /auth/api-keys


def test_api_key_created_by_admin_works(lab: Lab) -> None:
    r = lab.admin.post("/auth/api-keys", json={"principal": "bot-b"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["principal"] == "bot-b"
    assert body["key"].startswith("fk_")
    assert body["key"] != lab.keys["b"]
    assert_no_secrets(r)
    me = lab.anon.get("/auth/me", headers=bearer(body["key"]))
    assert me.status_code == 200, me.text
    assert me.json()["name"] == "bot-b"
    assert me.json()["tenant_id"] == lab.tenant_b
    # a second key is a different key; the old key keeps working
    again = lab.admin.post("/auth/api-keys", json={"principal": "bot-b"})
    assert again.status_code == 201
    assert again.json()["key"] != body["key"]
    assert lab.b.get("/auth/me").status_code == 200


def test_api_key_errors(lab: Lab, expect_error: ErrorCheck) -> None:
    for who in ("a", "reader", "archiver"):
        r = lab.client(who).post("/auth/api-keys", json={"principal": "admin"})
        body = expect_error(r, 403, code="forbidden")
        assert "key" not in body, who
    r = lab.admin.post("/auth/api-keys", json={"principal": "nobody"})
    body = expect_error(r, 404, code="not_found")
    assert "nobody" in body["detail"]
    expect_error(lab.admin.post("/auth/api-keys", json={}), 422, pointer="/principal")
    r = lab.admin.post("/auth/api-keys", json={"principal": "bot-a", "role": "admin"})
    expect_error(r, 422, pointer="/role")


# ------------------------------------------------------------------------------ /users


def test_add_user_then_login(lab: Lab) -> None:
    body = {"name": "bot-a3", "role": "tenant", "tenant_id": lab.tenant_a, "password": "pw-long-1"}
    r = lab.admin.post("/users", json=body)
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["name"] == "bot-a3"
    assert user["role"] == "tenant"
    assert user["tenant_id"] == lab.tenant_a
    assert uuid.UUID(user["id"])
    assert_no_secrets(r)
    assert "pw-long-1" not in r.text
    token = login(lab, "bot-a3", "pw-long-1")
    assert token.status_code == 200, token.text
    me = lab.anon.get("/auth/me", headers=bearer(token.json()["access_token"]))
    assert me.json()["id"] == user["id"]

    # a reader needs no password and cannot log in with one
    r = lab.admin.post("/users", json={"name": "viewer", "role": "reader"})
    assert r.status_code == 201, r.text
    assert r.json()["tenant_id"] is None
    assert login(lab, "viewer", "some-password").status_code == 401


def test_add_user_errors(lab: Lab, expect_error: ErrorCheck) -> None:
    users = lambda: [u["name"] for u in lab.admin.get("/users").json()]  # noqa: E731
    before = users()

    r = lab.admin.post("/users", json={"name": "bot-a", "role": "reader"})
    body = expect_error(r, 409, code="conflict")
    assert "bot-a" in body["detail"]

    r = lab.admin.post("/users", json={"name": "lonely", "role": "tenant"})
    expect_error(r, 422, code="invalid_payload", pointer="/tenant_id")

    r = lab.admin.post("/users", json={"name": "rd", "role": "reader", "tenant_id": lab.tenant_a})
    expect_error(r, 422, code="invalid_payload", pointer="/tenant_id")

    ghost = str(uuid.uuid4())
    r = lab.admin.post("/users", json={"name": "orphan", "role": "tenant", "tenant_id": ghost})
    assert r.status_code in (404, 422), r.text
    body = expect_error(r, r.status_code)
    assert ghost in body["detail"] or "/tenant_id" in str(body.get("errors"))

    bad_bodies = [
        ({"name": "x", "role": "superuser"}, "/role"),
        ({"name": "bad/name", "role": "reader"}, "/name"),
        ({"name": "", "role": "reader"}, "/name"),
        ({"role": "reader"}, "/name"),
        ({"name": "shortpw", "role": "reader", "password": "short"}, "/password"),
        ({"name": "extra", "role": "reader", "password_hash": "x"}, "/password_hash"),
    ]
    for bad, pointer in bad_bodies:
        r = lab.admin.post("/users", json=bad)
        expect_error(r, 422, code="invalid_payload", pointer=pointer)

    for who in ("a", "reader", "archiver"):
        r = lab.client(who).post("/users", json={"name": "sneaky", "role": "admin"})
        expect_error(r, 403, code="forbidden")

    assert users() == before


def test_list_users(lab: Lab, expect_error: ErrorCheck) -> None:
    r = lab.admin.get("/users")
    assert r.status_code == 200, r.text
    users = r.json()
    names = [u["name"] for u in users]
    assert set(names) >= {"admin", "reader", "archiver", "bot-a", "bot-a2", "bot-b"}
    for u in users:
        assert set(u) == {"id", "name", "role", "tenant_id", "created_at", "disabled_at"}
    by_name = {u["name"]: u for u in users}
    assert by_name["bot-a2"]["tenant_id"] == lab.tenant_a
    assert by_name["bot-b"]["tenant_id"] == lab.tenant_b
    assert by_name["archiver"]["role"] == "archiver"
    assert_no_secrets(r)
    for who in ("a", "reader", "archiver"):
        expect_error(lab.client(who).get("/users"), 403, code="forbidden")


# ------------------------------------------------------------------------------ health and 401


def test_healthz_without_credentials(lab: Lab) -> None:
    r = lab.root().get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": __version__}
    assert_no_secrets(r)


DUMMIES = {"quantity": "conductivity", "method": "two_electrode"}


def _api_operations(lab: Lab) -> list[tuple[str, str]]:
    spec = lab.root().get("/api/v1/openapi.json")
    assert spec.status_code == 200
    ops = []
    for path, item in spec.json()["paths"].items():
        if not path.startswith("/api/v1/") or path == "/api/v1/auth/token":
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: DUMMIES.get(m.group(1), str(uuid.uuid4())), path)
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                ops.append((method.upper(), url))
    return ops


def test_every_api_route_needs_credentials(lab: Lab, expect_error: ErrorCheck) -> None:
    ops = _api_operations(lab)
    assert len(ops) >= 25  # the whole surface, not an empty spec
    assert ("GET", "/api/v1/work") in ops
    header_sets = [
        {},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Bearer fk_dead_beef"},
    ]
    for headers in header_sets:
        with lab.broker.http(headers, prefix="") as c:
            for method, url in ops:
                kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
                r = c.request(method, url, **kwargs)
                assert r.status_code == 401, (headers, method, url, r.status_code, r.text)
                expect_error(r, 401, code="unauthorized")
    # the one exception answers without credentials
    assert login(lab, "admin", "admin-password").status_code == 200


def test_add_user_idempotency_key_covers_the_password(lab: Lab) -> None:
    body = {"name": "idem", "role": "reader", "password": "first-password"}
    headers = {"Idempotency-Key": "user-idem-1"}
    first = lab.admin.post("/users", json=body, headers=headers)
    again = lab.admin.post("/users", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = lab.admin.post("/users", json={**body, "password": "second-password"}, headers=headers)
    assert other.status_code == 409
    with lab.broker.state.db.read() as s:
        from sqlalchemy import text

        stored = s.execute(text("SELECT fingerprint, body FROM idempotency_keys")).all()
    assert stored and all("first-password" not in str(row) for row in stored)
