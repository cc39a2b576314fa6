"""The approval gate, on both databases: a capability registered with ``requires_approval``
makes its requests wait in ``awaiting_approval`` - not handed out, not claimable - until an
admin or an approver approves (-> pending) or rejects (-> rejected, terminal) them, with who
decided and why in the history."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.conftest import LIMITS_A, REQUEST_SCHEMA, RESULT_SCHEMA, ErrorCheck, Lab

GATED = {"quantity": "conductivity", "method": "gated_cell"}


@pytest.fixture
def gated(lab: Lab) -> Lab:
    """The lab with a capability that needs approval, offered by tenant-a, and an approver."""
    body = {**GATED, "request_schema": REQUEST_SCHEMA, "result_schema": RESULT_SCHEMA}
    r = lab.admin.post("/capabilities", json={**body, "requires_approval": True})
    assert r.status_code == 201, r.text
    assert r.json()["requires_approval"] is True
    offers = [
        {"quantity": "conductivity", "method": "two_electrode", "limitations": LIMITS_A},
        {**GATED, "limitations": LIMITS_A},
    ]
    r = lab.admin.put(f"/tenants/{lab.tenant_a}/offers", json=offers)
    assert r.status_code == 200, r.text
    r = lab.admin.post("/users", json={"name": "approver", "role": "approver"})
    assert r.status_code == 201, r.text
    lab.keys["approver"] = lab.admin.post("/auth/api-keys", json={"principal": "approver"}).json()[
        "key"
    ]
    return lab


def _post_gated(lab: Lab, who: str = "admin") -> dict[str, Any]:
    return lab.post_request(who=who, methods=(GATED["method"],))


def _history(lab: Lab, request_id: str) -> list[dict[str, Any]]:
    r = lab.reader.get(f"/requests/{request_id}/history")
    assert r.status_code == 200, r.text
    return list(r.json())


def _work_ids(lab: Lab) -> list[str]:
    r = lab.a.get("/work")
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()]


def test_a_gated_request_waits_for_approval(gated: Lab, expect_error: ErrorCheck) -> None:
    lab = gated
    req = _post_gated(lab)
    assert req["status"] == "awaiting_approval"
    assert req["id"] not in _work_ids(lab)
    expect_error(lab.claim(req["id"]), 409, code="invalid_transition")
    listed = lab.reader.get("/requests", params={"status": "awaiting_approval"}).json()["items"]
    assert [r["id"] for r in listed] == [req["id"]]
    # Neither a tenant nor a reader decides.
    for who in ("a", "reader", "archiver"):
        r = lab.client(who).post(f"/requests/{req['id']}/approve", json={"message": "ok"})
        expect_error(r, 403, code="forbidden")
    r = lab.client("approver").post(f"/requests/{req['id']}/approve", json={"message": "safe"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"
    assert _work_ids(lab) == [req["id"]]
    assert lab.claim(req["id"]).status_code == 200
    steps = [
        (e["from_status"], e["to_status"], e["actor"], e["message"])
        for e in _history(lab, req["id"])
    ]
    assert steps[:2] == [
        (None, "awaiting_approval", "admin", "awaiting approval"),
        ("awaiting_approval", "pending", "approver", "approved: safe"),
    ]
    # Approving twice, or a request that needs no approval: a conflict, not a silent success.
    r = lab.client("approver").post(f"/requests/{req['id']}/approve", json={"message": "again"})
    expect_error(r, 409, code="invalid_transition")
    plain = lab.post_request()
    assert plain["status"] == "pending"
    r = lab.admin.post(f"/requests/{plain['id']}/approve", json={})
    expect_error(r, 409, code="invalid_transition")


def test_a_rejected_request_is_closed_with_the_reason(gated: Lab, expect_error: ErrorCheck) -> None:
    lab = gated
    req = _post_gated(lab)
    expect_error(lab.admin.post(f"/requests/{req['id']}/reject", json={}), 422, pointer="/message")
    r = lab.admin.post(f"/requests/{req['id']}/reject", json={"message": "too hot for the cell"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    expect_error(lab.claim(req["id"]), 409, code="invalid_transition")
    r = lab.admin.post(f"/requests/{req['id']}/retract", json={"message": "late"})
    expect_error(r, 409, code="invalid_transition")
    r = lab.admin.post(f"/requests/{req['id']}/approve", json={"message": "changed my mind"})
    expect_error(r, 409, code="invalid_transition")
    last = _history(lab, req["id"])[-1]
    assert (last["to_status"], last["actor"], last["message"]) == (
        "rejected",
        "admin",
        "rejected: too hot for the cell",
    )
    assert req["id"] not in _work_ids(lab)


def test_a_waiting_request_can_be_retracted(gated: Lab) -> None:
    lab = gated
    req = _post_gated(lab, who="b")
    r = lab.b.post(f"/requests/{req['id']}/retract", json={"message": "not needed"})
    assert r.status_code == 200 and r.json()["status"] == "retracted"
    assert [e["to_status"] for e in _history(lab, req["id"])] == ["awaiting_approval", "retracted"]


def test_approval_wakes_a_waiting_work_poll(gated: Lab) -> None:
    lab = gated
    req = _post_gated(lab)
    got: dict[str, Any] = {}

    def poll() -> None:
        started = time.monotonic()
        with lab.broker.http({"Authorization": f"Bearer {lab.keys['a']}"}) as c:
            r = c.get("/work", params={"wait": 10})
        got.update(took=time.monotonic() - started, ids=[i["id"] for i in r.json()])

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(0.5)
    assert not got, "the poll returned while the request awaited approval"
    assert lab.admin.post(f"/requests/{req['id']}/approve", json={}).status_code == 200
    waiter.join(15)
    assert got["ids"] == [req["id"]]
    assert got["took"] < 5, got


def test_requires_approval_makes_a_new_version(gated: Lab) -> None:
    lab = gated
    body = {**GATED, "request_schema": REQUEST_SCHEMA, "result_schema": RESULT_SCHEMA}
    same = lab.admin.post("/capabilities", json={**body, "requires_approval": True}).json()
    assert same["version"] == 1
    opened = lab.admin.post("/capabilities", json=body).json()  # the default: no approval
    assert opened["version"] == 2 and opened["requires_approval"] is False
    assert _post_gated(lab)["status"] == "pending"
    listed = lab.reader.get(f"/capabilities/{GATED['quantity']}/{GATED['method']}").json()
    assert listed["requires_approval"] is False and listed["versions"] == [1, 2]


def test_the_finales2_door_hides_waiting_requests(gated: Lab) -> None:
    lab = gated
    req = _post_gated(lab)
    root = lab.root("a")
    pending = root.get("/pending_requests/").json()
    assert req["id"] not in [p["uuid"] for p in pending]
    shown = root.get(f"/requests/{req['id']}").json()
    assert shown["status"] == "pending"  # FINALES 2 knows no such status: the nearest it has
    assert (
        lab.admin.post(f"/requests/{req['id']}/reject", json={"message": "no"}).status_code == 200
    )
    assert root.get(f"/requests/{req['id']}").json()["status"] == "retracted"


def test_rejecting_ends_a_waiting_results_poll(gated: Lab) -> None:
    lab = gated
    req = _post_gated(lab)
    got: dict[str, Any] = {}

    def poll() -> None:
        started = time.monotonic()
        r = lab.reader.get(f"/requests/{req['id']}/results", params={"wait": 20})
        got.update(took=time.monotonic() - started, status=r.status_code, body=r.json())

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(0.5)
    assert (
        lab.admin.post(f"/requests/{req['id']}/reject", json={"message": "no"}).status_code == 200
    )
    waiter.join(25)
    assert got["status"] == 200 and got["body"] == []
    assert got["took"] < 5, got  # not the 20 s deadline: no result will ever come
