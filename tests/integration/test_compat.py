"""The FINALES 2 door: its routes, its fixes, and a legacy tenant's exact call sequence."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from finales.domain.principals import Role
from finales.server.app import _RedactDumpKey
from finales.testing import LocalBroker
from tests.conftest import Lab, params, require_finales2_examples

Q, M = "conductivity", "two_electrode"


@pytest.fixture
def legacy(lab: Lab) -> Iterator[dict[str, httpx.Client]]:
    """FINALES 2 clients at the server root, logged in through the form login."""
    clients: dict[str, httpx.Client] = {}
    for who, name, password in (
        ("a", "bot-a", "bot-a-password"),
        ("admin", "admin", "admin-password"),
    ):
        c = lab.broker.http(prefix="")
        r = c.post(
            "/user_management/authenticate",
            data={"username": name, "password": password, "grant_type": "password"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["token_type"] == "bearer"
        c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        clients[who] = c
    clients["b"] = lab.root("b")
    clients["anon"] = lab.broker.http(prefix="")
    yield clients
    for c in clients.values():
        c.close()


def f2_request(tenant: str, methods: tuple[str, ...] = (M,), **p: Any) -> dict[str, Any]:
    return {
        "quantity": Q,
        "methods": list(methods),
        "parameters": {m: params(**p) for m in methods},
        "tenant_uuid": tenant,
    }


def f2_result(
    tenant: str, request_id: str, data: dict[str, Any] | None = None, method: str = M
) -> dict[str, Any]:
    return {
        "data": data or {"conductivity": 0.9},
        "quantity": Q,
        "method": [method],
        "parameters": {method: params()},
        "tenant_uuid": tenant,
        "request_uuid": request_id,
    }


def test_legacy_tenant_call_sequence(lab: Lab, legacy: dict[str, httpx.Client]) -> None:
    """The FINALES 2 reference tenant's loop: login, poll, reserve, post, read back."""
    requester, robot = legacy["admin"], legacy["a"]
    posted = requester.post("/requests/", json=f2_request(lab.tenant_b))
    assert posted.status_code == 200
    request_id = posted.json()
    assert isinstance(request_id, str)

    pending = robot.get("/pending_requests/", params={"quantity": Q, "method": M})
    assert pending.status_code == 200
    info = next(r for r in pending.json() if r["uuid"] == request_id)
    assert info["status"] == "pending"
    assert info["request"]["parameters"][M] == params()

    reserved = robot.post(
        f"/requests/{info['uuid']}/update_status/",
        params={"request_id": info["uuid"], "new_status": "reserved"},
    )
    assert reserved.status_code == 200 and "reserved" in reserved.json()
    assert robot.get(f"/requests/{request_id}").json()["status"] == "reserved"
    # FINALES 2 reservations have no heartbeat: by default their lease never expires.
    assert lab.reader.get(f"/requests/{request_id}").json()["lease_expires_at"] is None

    result = robot.post("/results/", json=f2_result(lab.tenant_a, request_id))
    assert result.status_code == 200
    result_id = result.json()
    back = robot.get(f"/results_requested/{request_id}")
    assert back.status_code == 200
    assert back.json()["uuid"] == result_id
    assert back.json()["result"]["data"] == {"conductivity": 0.9}
    assert back.json()["result"]["method"] == [M]
    assert robot.get(f"/requests/{request_id}").json()["status"] == "resolved"
    assert robot.get(f"/results/{result_id}").json()["status"] == "original"
    assert request_id not in {r["uuid"] for r in robot.get("/pending_requests/").json()}


def test_two_legacy_tenants_race_for_one_request(lab: Lab, legacy: dict[str, httpx.Client]) -> None:
    for _ in range(5):
        rid = legacy["admin"].post("/requests/", json=f2_request(lab.tenant_a)).json()
        codes: list[int] = []
        barrier = threading.Barrier(2)

        def reserve(
            client: httpx.Client,
            rid: str = rid,
            barrier: threading.Barrier = barrier,
            codes: list[int] = codes,
        ) -> None:
            barrier.wait()
            r = client.post(
                f"/requests/{rid}/update_status/",
                params={"request_id": rid, "new_status": "reserved"},
            )
            codes.append(r.status_code)

        threads = [threading.Thread(target=reserve, args=(legacy[w],)) for w in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(codes) == [200, 409]


def test_fixes_over_finales2(lab: Lab, legacy: dict[str, httpx.Client], expect_error: Any) -> None:
    a, b, admin = legacy["a"], legacy["b"], legacy["admin"]
    # Multi-method requests work (FINALES 2 answered 500).
    multi = a.post("/requests/", json=f2_request(lab.tenant_a, (M, "molecular_dynamics")))
    assert multi.status_code == 200
    assert a.get(f"/requests/{multi.json()}").json()["request"]["methods"] == [
        M,
        "molecular_dynamics",
    ]
    # A tenant acts only as itself.
    expect_error(a.post("/requests/", json=f2_request(lab.tenant_b)), 403, code="forbidden")
    # An admin may name any existing tenant, not an unknown one.
    assert admin.post("/requests/", json=f2_request(lab.tenant_a)).status_code == 200
    expect_error(
        admin.post("/requests/", json=f2_request("no-such-tenant")), 422, pointer="/tenant_uuid"
    )
    # Parameters are validated against the schema.
    expect_error(
        a.post("/requests/", json=f2_request(lab.tenant_a, temperature="hot")),
        422,
        pointer=f"/parameters/{M}/temperature",
    )

    rid = a.post("/requests/", json=f2_request(lab.tenant_a)).json()
    assert (
        a.post(f"/requests/{rid}/update_status/", params={"new_status": "reserved"}).status_code
        == 200
    )
    # Reserving what is not pending: 409.
    expect_error(b.post(f"/requests/{rid}/update_status/", params={"new_status": "reserved"}), 409)
    # Result data are validated (FINALES 2 never did), and only the reserver may post.
    expect_error(
        a.post("/results/", json=f2_result(lab.tenant_a, rid, {"conductivity": "x"})),
        422,
        pointer="/data/conductivity",
    )
    expect_error(b.post("/results/", json=f2_result(lab.tenant_b, rid)), 403)
    expect_error(a.post("/results/", json=f2_result(lab.tenant_b, rid)), 403)
    assert a.post("/results/", json=f2_result(lab.tenant_a, rid)).status_code == 200
    # A resolved request never reopens.
    expect_error(a.post(f"/requests/{rid}/update_status/", params={"new_status": "pending"}), 409)
    expect_error(
        admin.post(f"/requests/{rid}/update_status/", params={"new_status": "pending"}), 409
    )
    # Statuses that only results set, and nonsense, are 422; ids must agree.
    expect_error(
        a.post(f"/requests/{rid}/update_status/", params={"new_status": "resolved"}),
        422,
        pointer="/new_status",
    )
    expect_error(
        a.post(f"/requests/{rid}/update_status/", params={"new_status": "bogus"}),
        422,
        pointer="/new_status",
    )
    expect_error(
        a.post(
            f"/requests/{rid}/update_status/",
            params={"new_status": "pending", "request_id": "other"},
        ),
        422,
        pointer="/request_id",
    )
    expect_error(a.post(f"/requests/{rid}/update_status/"), 422, pointer="/new_status")
    # Unknown ids answer 404 (FINALES 2 answered null).
    for path in ("/requests/nope", "/results/nope", "/results_requested/nope"):
        expect_error(a.get(path), 404)
    expect_error(a.post("/requests/nope/update_status/", params={"new_status": "reserved"}), 404)
    # Bad bodies are 422, never 500.
    expect_error(a.post("/requests/", json={"quantity": Q}), 422, pointer="/methods")
    two = {**f2_result(lab.tenant_a, rid), "method": [M, "molecular_dynamics"]}
    expect_error(a.post("/results/", json=two), 422, pointer="/method")
    expect_error(
        a.post("/results/", json={**f2_result(lab.tenant_a, rid), "request_uuid": ""}),
        422,
        pointer="/request_uuid",
    )
    no_block = {**f2_result(lab.tenant_a, rid), "parameters": {}}
    expect_error(a.post("/results/", json=no_block), 422, pointer=f"/parameters/{M}")
    garbled = a.post(
        "/requests/", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbled.status_code == 422


def test_admin_releases_a_legacy_reservation_and_retract(
    lab: Lab, legacy: dict[str, httpx.Client]
) -> None:
    a, b, admin = legacy["a"], legacy["b"], legacy["admin"]
    rid = a.post("/requests/", json=f2_request(lab.tenant_a)).json()
    assert (
        a.post(f"/requests/{rid}/update_status/", params={"new_status": "reserved"}).status_code
        == 200
    )
    assert (
        b.post(f"/requests/{rid}/update_status/", params={"new_status": "pending"}).status_code
        == 403
    )
    released = admin.post(
        f"/requests/{rid}/update_status/",
        params={"new_status": "pending", "status_change_message": "stuck"},
    )
    assert released.status_code == 200
    history = lab.reader.get(f"/requests/{rid}/history").json()
    assert (history[-1]["actor"], history[-1]["to_status"], history[-1]["message"]) == (
        "admin",
        "pending",
        "stuck",
    )
    assert (
        b.post(f"/requests/{rid}/update_status/", params={"new_status": "retracted"}).status_code
        == 403
    )
    assert (
        a.post(f"/requests/{rid}/update_status/", params={"new_status": "retracted"}).status_code
        == 200
    )
    assert a.get(f"/requests/{rid}").json()["status"] == "retracted"


def test_unsolicited_and_result_status(lab: Lab, legacy: dict[str, httpx.Client]) -> None:
    a, b = legacy["a"], legacy["b"]
    made = a.post(
        "/results/post_unsolicited_result",
        json=f2_result(lab.tenant_a, "ignored", method="molecular_dynamics"),
    )
    assert made.status_code == 200
    info = a.get(f"/results/{made.json()}").json()
    assert info["result"]["tenant_uuid"] == lab.tenant_a
    assert a.get(f"/requests/{info['result']['request_uuid']}").json()["status"] == "unsolicited"
    listed = a.get(
        "/results_requested/", params={"quantity": Q, "method": "molecular_dynamics"}
    ).json()
    assert [r["uuid"] for r in listed] == [made.json()]
    assert (
        b.post(
            f"/results/{made.json()}/update_status/", params={"new_status": "deleted"}
        ).status_code
        == 403
    )
    assert (
        a.post(
            f"/results/{made.json()}/update_status/", params={"new_status": "original"}
        ).status_code
        == 422
    )
    assert (
        a.post(
            f"/results/{made.json()}/update_status/", params={"new_status": "amended"}
        ).status_code
        == 200
    )
    assert a.get(f"/results/{made.json()}").json()["status"] == "amended"
    assert (
        a.post(
            f"/results/{made.json()}/update_status/",
            params={"new_status": "deleted", "status_change_message": "bad cell"},
        ).status_code
        == 200
    )
    assert a.get(f"/results/{made.json()}").json()["status"] == "deleted"
    assert a.get("/results_requested/", params={"quantity": Q}).json() == []
    assert (
        a.post("/results/nope/update_status/", params={"new_status": "deleted"}).status_code == 404
    )


def test_catalogue_routes_and_trailing_slashes(lab: Lab, legacy: dict[str, httpx.Client]) -> None:
    a = legacy["a"]
    caps = a.get("/capabilities/").json()
    assert {(c["quantity"], c["method"]) for c in caps} == {(Q, M), (Q, "molecular_dynamics")}
    assert set(caps[0]) == {
        "quantity",
        "method",
        "json_schema_specifications",
        "json_schema_result_output",
    }
    lab.admin.post(f"/capabilities/{Q}/molecular_dynamics/deactivate")
    assert len(a.get("/capabilities/").json()) == 1
    assert len(a.get("/capabilities/", params={"currently_available": False}).json()) == 2
    lims = a.get("/limitations/").json()
    assert lims == [
        {
            "quantity": Q,
            "method": M,
            "limitations": [
                {
                    "temperature": [{"min": 273.15, "max": 313.15}],
                    "fraction": [{"min": 0, "max": 0.5}],
                },
                {
                    "temperature": [{"min": 273.15, "max": 373.15}],
                    "fraction": [{"min": 0, "max": 1}],
                },
            ],
        }
    ]
    tenants = {t["name"]: t for t in a.get("/tenants/").json()}
    assert tenants["tenant-a"]["tenant_uuid"] == lab.tenant_a
    assert tenants["tenant-a"]["limitations"][0]["method"] == M
    assert tenants["tenant-a"]["is_active"] is True
    templates = a.get("/capabilities/templates/", params={"quantity": Q, "method": M}).json()
    assert templates == {
        f"{Q}-{M}": {
            "input_template": {
                "temperature": "required, float",
                "fraction": "required, float",
                "solvent": "optional, str",
            },
            "output_template": {"conductivity": "required, float", "success": "optional, bool"},
        }
    }
    rid = a.post("/requests/", json=f2_request(lab.tenant_a)).json()
    for path in (
        "/pending_requests",
        "/all_requests",
        "/capabilities",
        "/limitations",
        "/tenants",
        "/results_requested",
        "/capabilities/templates",
        f"/requests/{rid}",
        f"/results_requested/{rid}",
    ):
        for variant in (path, path + "/" if not path.endswith("/") else path[:-1]):
            r = a.get(variant)
            assert r.status_code == 200, (variant, r.status_code)


def test_templates_of_a_finales2_capability(lab: Lab, legacy: dict[str, httpx.Client]) -> None:
    examples = require_finales2_examples()
    cap = json.loads(
        (examples / "serialized_quantities/conductivity/two_electrode.json").read_text()
    )
    lab.broker.add_capability(
        "conductivity",
        "finales2_two_electrode",
        cap["json_schema_specifications"],
        cap["json_schema_result_output"],
    )
    out = (
        legacy["a"]
        .get("/capabilities/templates/", params={"method": "finales2_two_electrode"})
        .json()
    )
    tpl = out["conductivity-finales2_two_electrode"]["input_template"]
    assert tpl["temperature"] == "optional, float"
    assert tpl["formulation"] == [
        {
            "chemical": {"SMILES": "required, str", "InChIKey": "required, str"},
            "fraction": "required, float",
            "fraction_type": "required, str",
        }
    ]


def test_authentication(lab: Lab, legacy: dict[str, httpx.Client], expect_error: Any) -> None:
    anon = legacy["anon"]
    for name, password in (("bot-a", "wrong-password"), ("nobody", "whatever-password")):
        r = anon.post(
            "/user_management/authenticate", data={"username": name, "password": password}
        )
        expect_error(r, 401, code="unauthorized")
    for method, path in (
        ("GET", "/requests/x"),
        ("GET", "/results/x"),
        ("POST", "/requests/"),
        ("POST", "/results/"),
        ("POST", "/results/post_unsolicited_result"),
        ("GET", "/pending_requests/"),
        ("GET", "/all_requests/"),
        ("GET", "/results_requested/x"),
        ("GET", "/results_requested/"),
        ("GET", "/capabilities/"),
        ("GET", "/limitations/"),
        ("POST", "/requests/x/update_status/"),
        ("POST", "/results/x/update_status/"),
        ("GET", "/capabilities/templates/"),
        ("GET", "/tenants/"),
    ):
        r = anon.request(method, path, json={})
        assert r.status_code == 401, (method, path, r.text)
        bad = anon.request(method, path, headers={"Authorization": "Bearer not.a.token"})
        assert bad.status_code == 401, (method, path)
    # The dump is disabled unless a key is configured.
    assert anon.get("/database_dump/anything").status_code == 404


def test_reader_cannot_write_through_the_door(lab: Lab) -> None:
    reader = lab.root("reader")
    with reader:
        assert reader.get("/all_requests/").status_code == 200
        r = reader.post("/requests/", json=f2_request(lab.tenant_a))
        assert r.status_code == 403


@pytest.fixture
def dump_broker(database_url: str, tmp_path: Path) -> Iterator[LocalBroker]:
    home = tmp_path / "dump-home"
    url = None if database_url.startswith("sqlite") else database_url
    with LocalBroker(home, database_url=url, dump_key="a-long-enough-dump-key-0123456789") as b:
        b.add_user("admin", role=Role.ADMIN, password="admin-password")
        yield b


def test_database_dump(dump_broker: LocalBroker, tmp_path: Path) -> None:
    url = dump_broker.url
    key = "a-long-enough-dump-key-0123456789"
    wrong = httpx.get(f"{url}/database_dump/not-the-key")
    assert wrong.status_code == 403
    assert str(dump_broker.settings.home) not in wrong.text
    assert httpx.get(f"{url}/database_dump/", headers={"X-Access-Key": "nope"}).status_code == 403
    if dump_broker.state.db.dialect != "sqlite":
        r = httpx.get(f"{url}/database_dump/{key}")
        assert r.status_code == 400
        assert "/api/v1/export/snapshot" in r.json()["detail"]
        return
    for r in (
        httpx.get(f"{url}/database_dump/{key}"),
        httpx.get(f"{url}/database_dump", headers={"X-Access-Key": key}),
    ):
        assert r.status_code == 200
        assert r.content.startswith(b"SQLite format 3")
        assert str(dump_broker.settings.home) not in str(r.headers)
        copy = tmp_path / "copy.db"
        copy.write_bytes(r.content)
        with sqlite3.connect(copy) as conn:
            assert conn.execute("SELECT count(*) FROM principals").fetchone() == (1,)
            assert conn.execute("SELECT password_hash FROM principals").fetchall() == [(None,)]
            assert conn.execute("SELECT count(*) FROM api_keys").fetchone() == (0,)
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_dump_key_is_redacted_from_the_access_log() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "x",
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/database_dump/secret-key", "1.1", 200),
        None,
    )
    assert _RedactDumpKey().filter(record)
    assert "secret-key" not in record.getMessage()
    assert "/database_dump/<redacted>" in record.getMessage()
