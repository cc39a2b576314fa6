"""The whole life of requests and results, across two tenants, through the HTTP API."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import Lab, params


def _history(lab: Lab, request_id: str) -> list[tuple[str, str | None, str, str]]:
    r = lab.reader.get(f"/requests/{request_id}/history")
    assert r.status_code == 200
    return [(e["actor"], e["from_status"], e["to_status"], e["message"]) for e in r.json()]


def test_full_lifecycle(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # A request acceptable by two methods: tenant-a serves one, tenant-b both.
    req = lab.post_request(methods=("two_electrode", "molecular_dynamics"), who="admin")
    rid = req["id"]
    work_a = {w["id"]: w for w in lab.a.get("/work").json()}
    work_b = {w["id"]: w for w in lab.b.get("/work").json()}
    assert work_a[rid]["matching_methods"] == ["two_electrode"]
    assert work_b[rid]["matching_methods"] == ["two_electrode", "molecular_dynamics"]

    # Outside tenant-a's limitations: only tenant-b is handed it.
    hot = lab.post_request(p=params(temperature=350.0))
    assert hot["id"] not in {w["id"] for w in lab.a.get("/work").json()}
    assert hot["id"] in {w["id"] for w in lab.b.get("/work").json()}

    # Claim, heartbeat, then let the lease run out: the request is claimable again.
    claimed = lab.claim(rid, "a", lease=30)
    assert claimed.status_code == 200
    first_expiry = claimed.json()["lease_expires_at"]
    beat = lab.a.post(f"/requests/{rid}/heartbeat", json={"lease_seconds": 60})
    assert beat.status_code == 200 and beat.json()["lease_expires_at"] > first_expiry
    assert lab.claim(rid, "b").status_code == 409
    lab.clock.advance(61)
    assert rid in {w["id"] for w in lab.b.get("/work").json()}
    assert lab.claim(rid, "b").status_code == 200
    assert lab.a.post(f"/requests/{rid}/heartbeat").status_code == 403

    # Release with a reason, re-claim by tenant-a; tenant-b's result is refused.
    rel = lab.b.post(f"/requests/{rid}/release", json={"message": "pump blocked"})
    assert rel.status_code == 200 and rel.json()["status"] == "pending"
    assert lab.claim(rid, "a").status_code == 200
    wrong = lab.post_result(rid, who="b")
    assert wrong.status_code == 403
    posted = lab.post_result(rid, who="a", data={"conductivity": 0.95, "success": True})
    assert posted.status_code == 201, posted.text
    result = posted.json()
    assert lab.reader.get(f"/requests/{rid}").json()["status"] == "resolved"
    assert lab.claim(rid, "b").status_code == 409  # resolved never reopens

    steps = _history(lab, rid)
    assert [s[2] for s in steps] == [
        "pending",
        "reserved",
        "reserved",
        "pending",
        "reserved",
        "pending",
        "reserved",
        "resolved",
    ]
    assert steps[0][0] == "admin"
    assert steps[1][0] == "bot-a"
    assert ("system", "reserved", "pending", "lease expired") in steps
    assert ("bot-b", "reserved", "pending", "pump blocked") in steps
    assert steps[-1][0] == "bot-a" and result["id"] in steps[-1][3]

    # Unsolicited result: a request with status unsolicited is created for it.
    unsolicited = lab.post_result(None, who="b", method="molecular_dynamics")
    assert unsolicited.status_code == 201
    uns_req = lab.reader.get(f"/requests/{unsolicited.json()['request_id']}").json()
    assert uns_req["status"] == "unsolicited"

    # Amend and delete; both results stay, linked both ways, with their histories.
    amended = lab.a.post(
        f"/results/{result['id']}/amend",
        json={"data": {"conductivity": 0.97}, "message": "recalibrated"},
    )
    assert amended.status_code == 201
    new = amended.json()
    old = lab.reader.get(f"/results/{result['id']}").json()
    assert old["status"] == "amended" and old["superseded_by"] == new["id"]
    assert new["supersedes"] == result["id"] and new["status"] == "original"
    deleted = lab.a.post(f"/results/{new['id']}/delete", json={"message": "wrong cell"})
    assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
    listed = [
        r["id"] for r in lab.reader.get("/results", params={"request_id": rid}).json()["items"]
    ]
    assert listed == [result["id"]]
    everything = lab.reader.get("/results", params={"request_id": rid, "include_deleted": True})
    assert [r["id"] for r in everything.json()["items"]] == [result["id"], new["id"]]
    hist = lab.reader.get(f"/results/{new['id']}/history").json()
    assert [(e["actor"], e["to_status"], e["message"]) for e in hist] == [
        ("bot-a", "original", "recalibrated"),
        ("bot-a", "deleted", "wrong cell"),
    ]
    old_hist = lab.reader.get(f"/results/{result['id']}/history").json()
    assert [e["to_status"] for e in old_hist] == ["original", "amended"]

    # Retract: a result for a retracted request is refused.
    gone = lab.post_request(who="a")
    assert lab.claim(gone["id"], "a").status_code == 200
    assert (
        lab.a.post(f"/requests/{gone['id']}/retract", json={"message": "no longer needed"}).json()[
            "status"
        ]
        == "retracted"
    )
    assert lab.post_result(gone["id"], who="a").status_code == 409

    # No secret reached a log line.
    for secret in [*lab.keys.values(), "admin-password", "bot-a-password", "argon2"]:
        assert secret not in caplog.text


def test_second_tenant_cannot_act_as_first(lab: Lab) -> None:
    req = lab.post_request(who="a")
    assert lab.claim(req["id"], "a").status_code == 200
    b = lab.b
    assert b.post(f"/requests/{req['id']}/heartbeat").status_code == 403
    assert b.post(f"/requests/{req['id']}/release").status_code == 403
    assert b.post(f"/requests/{req['id']}/retract").status_code == 403
    assert lab.post_result(req["id"], who="b").status_code == 403
    assert b.put(f"/tenants/{lab.tenant_a}/offers", json=[]).status_code == 403
    # A second principal of the same tenant acts as that tenant.
    assert lab.post_result(req["id"], who="a2").status_code == 201
    res = lab.reader.get("/results", params={"request_id": req["id"]}).json()["items"][0]
    assert res["tenant_id"] == lab.tenant_a
    assert (
        b.post(f"/results/{res['id']}/amend", json={"data": {"conductivity": 1}}).status_code == 403
    )
    assert b.post(f"/results/{res['id']}/delete").status_code == 403


def test_lease_sweeper_records_expiry_without_a_claim(lab: Lab) -> None:
    req = lab.post_request()
    assert lab.claim(req["id"], "a", lease=5).status_code == 200
    lab.clock.advance(10)
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if lab.reader.get(f"/requests/{req['id']}").json()["status"] == "pending":
            break
        time.sleep(0.1)
    assert lab.reader.get(f"/requests/{req['id']}").json()["status"] == "pending"
    assert ("system", "reserved", "pending", "lease expired") in _history(lab, req["id"])
