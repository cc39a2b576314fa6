"""GET /work (matching, filters, long-poll), GET /export/snapshot, Idempotency-Key on POST."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from tests.conftest import ErrorCheck, Lab, params

# ------------------------------------------------------------------------------ GET /work


def work_ids(lab: Lab, who: str, **query: Any) -> list[str]:
    r = lab.client(who).get("/work", params=query)
    assert r.status_code == 200, r.text
    return [w["id"] for w in r.json()]


def test_work_matches_limitations(lab: Lab, expect_error: ErrorCheck) -> None:
    near = lab.post_request(p=params(fraction=0.1))
    far = lab.post_request(p=params(fraction=0.9))
    hot = lab.post_request(p=params(temperature=350.0))
    md = lab.post_request(methods=("molecular_dynamics",))
    both = lab.post_request(methods=("molecular_dynamics", "two_electrode"))

    assert work_ids(lab, "a") == [near["id"], both["id"]]
    assert work_ids(lab, "a2") == work_ids(lab, "a")
    assert work_ids(lab, "b") == [near["id"], far["id"], hot["id"], md["id"], both["id"]]

    items = {w["id"]: w for w in lab.a.get("/work").json()}
    assert items[both["id"]]["matching_methods"] == ["two_electrode"]
    assert items[near["id"]]["status"] == "pending"
    items_b = {w["id"]: w for w in lab.b.get("/work").json()}
    assert items_b[both["id"]]["matching_methods"] == ["molecular_dynamics", "two_electrode"]
    assert items_b[md["id"]]["matching_methods"] == ["molecular_dynamics"]

    # filters
    assert work_ids(lab, "b", method="molecular_dynamics") == [md["id"], both["id"]]
    assert work_ids(lab, "b", method="two_electrode") == [
        near["id"],
        far["id"],
        hot["id"],
        both["id"],
    ]
    assert work_ids(lab, "b", quantity="conductivity", limit=2) == [near["id"], far["id"]]
    assert work_ids(lab, "b", quantity="viscosity") == []
    assert work_ids(lab, "a", method="molecular_dynamics") == []

    # claimed work disappears from everyone's list
    assert lab.claim(near["id"], "b").status_code == 200
    assert near["id"] not in work_ids(lab, "a")
    assert near["id"] not in work_ids(lab, "b")

    for who in ("reader", "archiver", "admin"):
        expect_error(lab.client(who).get("/work"), 403, code="forbidden")
    expect_error(lab.a.get("/work", params={"limit": 0}), 422, pointer="/limit")
    expect_error(lab.a.get("/work", params={"wait": -1}), 422, pointer="/wait")


def test_work_returns_expired_reservations(lab: Lab) -> None:
    req = lab.post_request()
    assert lab.claim(req["id"], "b", lease=5).status_code == 200
    assert work_ids(lab, "a") == []
    lab.clock.advance(60)
    assert work_ids(lab, "a") == [req["id"]]
    assert lab.claim(req["id"], "a").status_code == 200


def _long_poll(lab: Lab, who: str, wait: float, out: dict[str, Any], **query: Any) -> None:
    headers = {"Authorization": f"Bearer {lab.keys[who]}"}
    with lab.broker.http(headers) as c:
        start = time.monotonic()
        r = c.get("/work", params={"wait": wait, **query})
        out["elapsed"] = time.monotonic() - start
        out["response"] = r


def test_work_long_poll_wakes_on_new_request(lab: Lab) -> None:
    assert work_ids(lab, "a") == []
    out: dict[str, Any] = {}
    poller = threading.Thread(target=_long_poll, args=(lab, "a", 5, out))
    started = time.monotonic()
    poller.start()
    time.sleep(0.5)  # let the poll start waiting
    assert poller.is_alive(), "the long-poll returned before any work existed"
    lab.post_request(p=params(fraction=0.9))  # not tenant-a's: must not end the poll with it
    req = lab.post_request()
    posted_after = time.monotonic() - started
    poller.join(timeout=10)
    assert not poller.is_alive()
    r = out["response"]
    assert r.status_code == 200, r.text
    assert [w["id"] for w in r.json()] == [req["id"]]
    assert out["elapsed"] >= 0.4
    assert out["elapsed"] < 4.0, out["elapsed"]  # well before the 5 s deadline
    assert out["elapsed"] - posted_after < 3.0


def test_work_long_poll_times_out_empty(lab: Lab) -> None:
    lab.post_request(p=params(fraction=0.9))  # outside tenant-a's limitations
    out: dict[str, Any] = {}
    _long_poll(lab, "a", 1, out)
    assert out["response"].status_code == 200, out["response"].text
    assert out["response"].json() == []
    assert 0.8 <= out["elapsed"] < 4.0, out["elapsed"]


# ------------------------------------------------------------------------------ export


SECRETS = ("password_hash", "key_hash", "$argon2")


def test_export_json(lab: Lab, expect_error: ErrorCheck) -> None:
    req = lab.post_request()
    assert lab.claim(req["id"], "a").status_code == 200
    res = lab.post_result(req["id"], "a").json()
    for who in ("archiver", "admin"):
        r = lab.client(who).get("/export/snapshot")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        bundle = r.json()
        tables = bundle["tables"]
        assert {"requests", "results", "request_events", "principals", "tenants"} <= set(tables)
        assert [row["id"] for row in tables["requests"]] == [req["id"]]
        assert [row["id"] for row in tables["results"]] == [res["id"]]
        assert len(tables["request_events"]) == 3
        assert {p["name"] for p in tables["principals"]} >= {"admin", "bot-a", "bot-b"}
        assert "api_keys" not in tables or all("key_hash" not in k for k in tables["api_keys"])
        for secret in SECRETS:
            assert secret not in r.text, secret
        for key in lab.keys.values():
            secret = key.split("_", 2)[2]
            assert secret not in r.text
            assert hashlib.sha256(secret.encode()).hexdigest() not in r.text
    for who in ("a", "b", "reader"):
        expect_error(lab.client(who).get("/export/snapshot"), 403, code="forbidden")
    r = lab.archiver.get("/export/snapshot", params={"format": "xml"})
    expect_error(r, 422, pointer="/format")


def test_export_sqlite(lab: Lab, expect_error: ErrorCheck, tmp_path: Path) -> None:
    req = lab.post_request()
    r = lab.archiver.get("/export/snapshot", params={"format": "sqlite"})
    if lab.broker.state.db.dialect != "sqlite":
        body = expect_error(r, 400, code="bad_request")
        assert "sqlite" in body["detail"].lower()
        return
    assert r.status_code == 200, r.text
    assert r.content.startswith(b"SQLite format 3")
    path = tmp_path / "snapshot.sqlite"
    path.write_bytes(r.content)
    con = sqlite3.connect(path)
    try:
        assert con.execute("SELECT id FROM requests").fetchall() == [(req["id"],)]
        hashes = con.execute("SELECT password_hash FROM principals").fetchall()
        assert hashes and all(h == (None,) for h in hashes)
        assert con.execute("SELECT count(*) FROM api_keys").fetchone() == (0,)
    finally:
        con.close()
    for secret in (b"$argon2",):
        assert secret not in r.content
    assert lab.admin.get("/export/snapshot", params={"format": "sqlite"}).status_code == 200
    expect_error(lab.a.get("/export/snapshot", params={"format": "sqlite"}), 403, code="forbidden")


# ------------------------------------------------------------------------------ Idempotency-Key


def test_idempotent_post_request(lab: Lab, expect_error: ErrorCheck) -> None:
    body = {
        "quantity": "conductivity",
        "methods": ["two_electrode"],
        "parameters": {"two_electrode": params()},
    }
    headers = {"Idempotency-Key": "req-42"}
    first = lab.a.post("/requests", json=body, headers=headers)
    assert first.status_code == 201, first.text
    second = lab.a.post("/requests", json=body, headers=headers)
    assert second.status_code == 201, second.text
    assert second.json()["id"] == first.json()["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    items = lab.reader.get("/requests").json()["items"]
    assert [i["id"] for i in items] == [first.json()["id"]]

    # the same key with a different body is refused
    other = {**body, "parameters": {"two_electrode": params(fraction=0.2)}}
    r = lab.a.post("/requests", json=other, headers=headers)
    expect_error(r, 409, code="conflict")
    # keys belong to a principal: another principal may use the same key
    r = lab.a2.post("/requests", json=body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["id"] != first.json()["id"]
    # without a key every POST creates
    assert lab.a.post("/requests", json=body).json()["id"] != first.json()["id"]
    assert len(lab.reader.get("/requests").json()["items"]) == 3
    # a failed POST stores nothing under its key
    bad = {**body, "parameters": {"two_electrode": params(fraction=5)}}
    h2 = {"Idempotency-Key": "req-43"}
    expect_error(lab.a.post("/requests", json=bad, headers=h2), 422)
    assert lab.a.post("/requests", json=body, headers=h2).status_code == 201
    r = lab.a.post("/requests", json=body, headers={"Idempotency-Key": "k" * 201})
    expect_error(r, 400)


def test_idempotent_post_tenant_and_capability(lab: Lab) -> None:
    headers = {"Idempotency-Key": "tenant-c"}
    first = lab.admin.post("/tenants", json={"name": "tenant-c"}, headers=headers)
    assert first.status_code == 201, first.text
    again = lab.admin.post("/tenants", json={"name": "tenant-c"}, headers=headers)
    assert again.status_code == 201, again.text  # a replay, not a 409 duplicate
    assert again.json()["id"] == first.json()["id"]
    assert [t["name"] for t in lab.reader.get("/tenants").json()].count("tenant-c") == 1
