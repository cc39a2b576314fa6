"""Routes /requests: post, list (filters, cursor), read, history, results, claim, heartbeat,
release, retract."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import ErrorCheck, Lab, params


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def body(methods: tuple[str, ...] = ("two_electrode",), **extra: Any) -> dict[str, Any]:
    return {
        "quantity": "conductivity",
        "methods": list(methods),
        "parameters": {m: params() for m in methods},
        **extra,
    }


def history(lab: Lab, request_id: str) -> list[dict[str, Any]]:
    r = lab.reader.get(f"/requests/{request_id}/history")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def status_of(lab: Lab, request_id: str) -> str:
    return lab.reader.get(f"/requests/{request_id}").json()["status"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------ POST /requests


def test_post_request(lab: Lab) -> None:
    both = ("two_electrode", "molecular_dynamics")
    payload = {
        "quantity": "conductivity",
        "methods": list(both),
        "parameters": {
            "two_electrode": params(temperature=300.0),
            "molecular_dynamics": params(fraction=0.3, solvent="EC"),
        },
    }
    r = lab.a.post("/requests", json=payload)
    assert r.status_code == 201, r.text
    req = r.json()
    assert uuid.UUID(req["id"])
    assert req["status"] == "pending"
    assert req["methods"] == list(both)
    assert req["parameters"] == payload["parameters"]
    assert req["requester"] == "bot-a"
    assert req["requester_tenant_id"] == lab.tenant_a
    assert req["reserved_by"] is None
    assert req["lease_expires_at"] is None
    assert req["parent_request_id"] is None
    # The creation answer adds covering_offers (tenant a's two_electrode offer, tenant b's
    # two_electrode and molecular_dynamics), GET adds last_release; the rest is the same.
    assert req["covering_offers"] == 3
    shown = lab.reader.get(f"/requests/{req['id']}").json()
    assert shown.pop("last_release") is None
    assert shown == {k: v for k, v in req.items() if k != "covering_offers"}

    # an admin may post too; it has no tenant
    r = lab.admin.post("/requests", json=body(parent_request_id=req["id"]))
    assert r.status_code == 201, r.text
    child = r.json()
    assert child["requester"] == "admin"
    assert child["requester_tenant_id"] is None
    assert child["parent_request_id"] == req["id"]

    # the requesting tenant is taken from the credentials, never from the body
    r = lab.b.post("/requests", json=body(requester_tenant_id=lab.tenant_a))
    assert r.status_code == 422


def test_post_request_invalid(lab: Lab, expect_error: ErrorCheck) -> None:
    both = ("two_electrode", "molecular_dynamics")
    cases: list[tuple[dict[str, Any], str]] = []
    missing = body(both)
    del missing["parameters"]["molecular_dynamics"]
    cases.append((missing, "/parameters/molecular_dynamics"))
    extra_block = body()
    extra_block["parameters"]["molecular_dynamics"] = params()
    cases.append((extra_block, "/parameters/molecular_dynamics"))
    out_of_schema = body(both)
    out_of_schema["parameters"]["molecular_dynamics"]["fraction"] = 2
    cases.append((out_of_schema, "/parameters/molecular_dynamics/fraction"))
    wrong_type = body()
    wrong_type["parameters"]["two_electrode"]["temperature"] = "warm"
    cases.append((wrong_type, "/parameters/two_electrode/temperature"))
    no_temperature = body()
    del no_temperature["parameters"]["two_electrode"]["temperature"]
    cases.append((no_temperature, "/parameters/two_electrode/temperature"))
    unknown_key = body()
    unknown_key["parameters"]["two_electrode"]["colour"] = "blue"
    cases.append((unknown_key, "/parameters/two_electrode/colour"))
    cases.append((body(("nmr",)), "/methods/0"))
    cases.append(({**body(), "quantity": "density"}, "/methods/0"))
    cases.append((body(parent_request_id=str(uuid.uuid4())), "/parent_request_id"))
    cases.append(({**body(), "methods": []}, "/methods"))
    cases.append(({**body(), "methods": ["two_electrode", "two_electrode"]}, "/methods"))
    no_quantity = body()
    del no_quantity["quantity"]
    cases.append((no_quantity, "/quantity"))
    cases.append(({**body(), "parameters": {"two_electrode": 5}}, "/parameters/two_electrode"))
    cases.append(({**body(), "status": "resolved"}, "/status"))
    for payload, pointer in cases:
        r = lab.a.post("/requests", json=payload)
        expect_error(r, 422, code="invalid_payload", pointer=pointer)
    r = lab.a.post("/requests", content=b"{not json", headers={"Content-Type": "application/json"})
    expect_error(r, 422)

    for who in ("reader", "archiver"):
        expect_error(lab.client(who).post("/requests", json=body()), 403, code="forbidden")

    assert lab.reader.get("/requests").json()["items"] == []


# ------------------------------------------------------------------------------ GET /requests


def test_list_filters(lab: Lab, expect_error: ErrorCheck) -> None:
    r = lab.admin.post(
        "/capabilities",
        json={
            "quantity": "viscosity",
            "method": "two_electrode",
            "request_schema": {"type": "object"},
            "result_schema": {"type": "object"},
        },
    )
    assert r.status_code == 201, r.text
    parent = lab.post_request(who="a")
    child = lab.post_request(who="b", parent_request_id=parent["id"])
    md = lab.post_request(who="admin", methods=("molecular_dynamics",))
    visc = lab.admin.post(
        "/requests",
        json={
            "quantity": "viscosity",
            "methods": ["two_electrode"],
            "parameters": {"two_electrode": {}},
        },
    ).json()
    assert lab.claim(parent["id"], "a").status_code == 200

    def ids(**query: Any) -> list[str]:
        r = lab.reader.get("/requests", params=query)
        assert r.status_code == 200, r.text
        assert r.json()["next_cursor"] is None
        return [i["id"] for i in r.json()["items"]]

    everything = [parent["id"], child["id"], md["id"], visc["id"]]
    assert ids() == everything
    assert ids(status="reserved") == [parent["id"]]
    assert ids(status="pending") == [child["id"], md["id"], visc["id"]]
    assert ids(status="resolved") == []
    assert ids(quantity="viscosity") == [visc["id"]]
    assert ids(quantity="conductivity") == [parent["id"], child["id"], md["id"]]
    assert ids(method="molecular_dynamics") == [md["id"]]
    assert ids(method="two_electrode", quantity="conductivity") == [parent["id"], child["id"]]
    assert ids(tenant=lab.tenant_a) == [parent["id"]]
    assert ids(tenant=lab.tenant_b) == [child["id"]]
    assert ids(reserved_by=lab.tenant_a) == [parent["id"]]
    assert ids(parent=parent["id"]) == [child["id"]]
    assert ids(parent=child["id"]) == []
    assert ids(since=parent["created_at"]) == everything
    assert ids(since="2999-01-01T00:00:00Z") == []
    assert ids(status="pending", method="two_electrode") == [child["id"], visc["id"]]

    expect_error(lab.reader.get("/requests", params={"status": "sleeping"}), 422, pointer="/status")
    expect_error(lab.reader.get("/requests", params={"limit": 0}), 422, pointer="/limit")
    expect_error(lab.reader.get("/requests", params={"limit": 501}), 422, pointer="/limit")
    expect_error(lab.reader.get("/requests", params={"since": "yesterday"}), 422, pointer="/since")
    expect_error(lab.reader.get("/requests", params={"cursor": "%%%"}), 422, pointer="/cursor")


def test_list_cursor_pagination(lab: Lab) -> None:
    posted = [lab.post_request(who="a" if i % 2 else "b")["id"] for i in range(7)]
    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        query: dict[str, Any] = {"limit": 2}
        if cursor:
            query["cursor"] = cursor
        r = lab.reader.get("/requests", params=query)
        assert r.status_code == 200, r.text
        page = r.json()
        pages += 1
        assert len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10, "pagination does not end"
    assert pages == 4
    assert seen == posted

    # filters and the cursor combine
    b_ids = [rid for i, rid in enumerate(posted) if i % 2 == 0]
    first = lab.reader.get("/requests", params={"limit": 3, "tenant": lab.tenant_b}).json()
    assert [i["id"] for i in first["items"]] == b_ids[:3]
    rest = lab.reader.get(
        "/requests", params={"limit": 3, "tenant": lab.tenant_b, "cursor": first["next_cursor"]}
    ).json()
    assert [i["id"] for i in rest["items"]] == b_ids[3:]
    assert rest["next_cursor"] is None


def test_list_status_filter_pages_with_cursor(lab: Lab) -> None:
    """A status filter pages through that status only, oldest first, quantity combined."""
    posted = [lab.post_request()["id"] for _ in range(6)]
    for rid in posted[1::2]:
        assert lab.claim(rid).status_code == 200
    pending, cursor, pages = [], None, 0
    while True:
        query: dict[str, Any] = {"status": "pending", "quantity": "conductivity", "limit": 2}
        if cursor:
            query["cursor"] = cursor
        page = lab.reader.get("/requests", params=query).json()
        pending += [i["id"] for i in page["items"]]
        assert {i["status"] for i in page["items"]} <= {"pending"}
        cursor, pages = page["next_cursor"], pages + 1
        if cursor is None or pages > 5:
            break
    assert pending == posted[0::2]
    reserved = lab.reader.get("/requests", params={"status": "reserved", "limit": 2}).json()
    assert [i["id"] for i in reserved["items"]] == posted[1:4:2]
    rest = lab.reader.get(
        "/requests", params={"status": "reserved", "cursor": reserved["next_cursor"]}
    ).json()
    assert [i["id"] for i in rest["items"]] == posted[5:6]
    none = lab.reader.get("/requests", params={"status": "pending", "quantity": "viscosity"})
    assert none.json()["items"] == []


def test_list_since_pages_with_cursor(lab: Lab) -> None:
    """``since`` starts at the first request created then; the cursor pages on from there."""
    before = [lab.post_request()["id"] for _ in range(3)]
    lab.clock.advance(60)
    cut = lab.clock().isoformat()
    after = [lab.post_request()["id"] for _ in range(3)]
    first = lab.reader.get("/requests", params={"since": cut, "limit": 2}).json()
    rest = lab.reader.get(
        "/requests", params={"since": cut, "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [i["id"] for i in first["items"] + rest["items"]] == after
    assert rest["next_cursor"] is None
    pending = lab.reader.get("/requests", params={"since": cut, "status": "pending"}).json()
    assert [i["id"] for i in pending["items"]] == after
    everything = lab.reader.get("/requests", params={"since": "2000-01-01T00:00:00Z"}).json()
    assert [i["id"] for i in everything["items"]] == before + after
    results = lab.reader.get("/results", params={"since": cut}).json()
    assert results == {"items": [], "next_cursor": None}


# ---------------------------------------------------------------------- one, history, results


def test_get_one_history_and_results(lab: Lab, expect_error: ErrorCheck) -> None:
    req = lab.post_request(who="a2")
    r = lab.a.get(f"/requests/{req['id']}")
    assert r.status_code == 200
    assert r.json()["id"] == req["id"]
    assert lab.reader.get(f"/requests/{req['id']}/results").json() == []

    assert lab.claim(req["id"], "a").status_code == 200
    assert lab.b.get(f"/requests/{req['id']}").json()["status"] == "reserved"
    res = lab.post_result(req["id"], "a")
    assert res.status_code == 201, res.text

    events = history(lab, req["id"])
    assert [(e["actor"], e["from_status"], e["to_status"]) for e in events] == [
        ("bot-a2", None, "pending"),
        ("bot-a", "pending", "reserved"),
        ("bot-a", "reserved", "resolved"),
    ]
    assert events[1]["message"] == "claimed"
    assert events[1]["lease_expires_at"] is not None
    assert res.json()["id"] in events[2]["message"]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    ats = [when(e["at"]) for e in events]
    assert ats == sorted(ats)

    results = lab.reader.get(f"/requests/{req['id']}/results")
    assert results.status_code == 200
    assert [x["id"] for x in results.json()] == [res.json()["id"]]
    assert results.json()[0]["request_id"] == req["id"]

    ghost = str(uuid.uuid4())
    for suffix in ("", "/history", "/results"):
        expect_error(lab.reader.get(f"/requests/{ghost}{suffix}"), 404, code="not_found")


# ------------------------------------------------------------------------------ claim


def test_claim(lab: Lab, expect_error: ErrorCheck) -> None:
    req = lab.post_request(who="b")
    before = datetime.now().astimezone()
    r = lab.claim(req["id"], "a", lease=60)
    assert r.status_code == 200, r.text
    claimed = r.json()
    assert claimed["status"] == "reserved"
    assert claimed["reserved_by"] == lab.tenant_a
    expires = when(claimed["lease_expires_at"])
    assert 30 < (expires - before).total_seconds() < 120

    for who in ("b", "a2", "a"):
        r = lab.claim(req["id"], who)
        expect_error(r, 409, code="invalid_transition")
    assert lab.reader.get(f"/requests/{req['id']}").json()["reserved_by"] == lab.tenant_a

    # without a body the server's default lease applies
    other = lab.post_request()
    r = lab.b.post(f"/requests/{other['id']}/claim")
    assert r.status_code == 200, r.text
    assert r.json()["lease_expires_at"] is not None


@pytest.mark.parametrize("who", ["reader", "archiver", "admin"])
def test_only_tenant_principals_claim(lab: Lab, expect_error: ErrorCheck, who: str) -> None:
    req = lab.post_request()
    expect_error(lab.claim(req["id"], who), 403, code="forbidden")
    assert status_of(lab, req["id"]) == "pending"


@pytest.mark.parametrize("lease", [0, -5, 10**9, "long"])
def test_a_claim_with_a_bad_lease_is_refused(
    lab: Lab, expect_error: ErrorCheck, lease: object
) -> None:
    req = lab.post_request()
    r = lab.a.post(f"/requests/{req['id']}/claim", json={"lease_seconds": lease})
    expect_error(r, 422, pointer="/lease_seconds")
    assert status_of(lab, req["id"]) == "pending"


def test_a_claim_naming_a_tenant_is_refused(lab: Lab, expect_error: ErrorCheck) -> None:
    req = lab.post_request()
    r = lab.a.post(f"/requests/{req['id']}/claim", json={"tenant_id": lab.tenant_b})
    expect_error(r, 422, pointer="/tenant_id")
    assert status_of(lab, req["id"]) == "pending"


def test_claiming_an_unknown_request_is_404(lab: Lab, expect_error: ErrorCheck) -> None:
    expect_error(lab.claim(str(uuid.uuid4()), "a"), 404, code="not_found")


def test_a_request_outside_the_limitations_is_not_claimable(
    lab: Lab, expect_error: ErrorCheck
) -> None:
    # outside tenant-a's limitations (fraction 0..0.5), inside tenant-b's
    far = lab.post_request(p=params(fraction=0.9))
    expect_error(lab.claim(far["id"], "a"), 403, code="forbidden")
    assert status_of(lab, far["id"]) == "pending"
    assert lab.claim(far["id"], "b").status_code == 200


def test_a_method_the_tenant_does_not_offer_is_not_claimable(
    lab: Lab, expect_error: ErrorCheck
) -> None:
    md = lab.post_request(methods=("molecular_dynamics",))
    expect_error(lab.claim(md["id"], "a"), 403, code="forbidden")
    assert status_of(lab, md["id"]) == "pending"


def test_claim_race_has_one_winner(lab: Lab) -> None:
    req = lab.post_request()
    racers = ["a", "a2", "b"] * 3
    codes: list[int] = []
    barrier = threading.Barrier(len(racers))

    def race(who: str) -> None:
        headers = {"Authorization": f"Bearer {lab.keys[who]}"}
        with lab.broker.http(headers) as c:
            barrier.wait()
            r = c.post(f"/requests/{req['id']}/claim", json={"lease_seconds": 60})
            codes.append(r.status_code)

    threads = [threading.Thread(target=race, args=(who,)) for who in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(codes) == [200] + [409] * (len(racers) - 1), codes
    claims = [e for e in history(lab, req["id"]) if e["to_status"] == "reserved"]
    assert len(claims) == 1


# ------------------------------------------------------------------------------ heartbeat


def test_heartbeat(lab: Lab, expect_error: ErrorCheck) -> None:
    req = lab.post_request()
    first = when(lab.claim(req["id"], "a", lease=30).json()["lease_expires_at"])
    r = lab.a.post(f"/requests/{req['id']}/heartbeat", json={"lease_seconds": 600})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "reserved"
    second = when(r.json()["lease_expires_at"])
    assert (second - first).total_seconds() > 500
    assert when(lab.reader.get(f"/requests/{req['id']}").json()["lease_expires_at"]) == second
    # the other principal of the reserving tenant and an admin may extend it too
    assert (
        lab.a2.post(f"/requests/{req['id']}/heartbeat", json={"lease_seconds": 60}).status_code
        == 200
    )
    assert lab.admin.post(f"/requests/{req['id']}/heartbeat").status_code == 200
    beats = [e for e in history(lab, req["id"]) if e["message"] == "heartbeat"]
    assert [e["actor"] for e in beats] == ["bot-a", "bot-a2", "admin"]

    url = f"/requests/{req['id']}/heartbeat"
    expect_error(lab.b.post(url), 403, code="forbidden")
    expect_error(lab.reader.post(url), 403, code="forbidden")
    expect_error(lab.a.post(url, json={"lease_seconds": 0}), 422, pointer="/lease_seconds")
    expect_error(lab.a.post(f"/requests/{uuid.uuid4()}/heartbeat"), 404, code="not_found")

    pending = lab.post_request()
    expect_error(lab.a.post(f"/requests/{pending['id']}/heartbeat"), 409)


def test_heartbeat_after_lease_expiry(lab: Lab, expect_error: ErrorCheck) -> None:
    req = lab.post_request()
    assert lab.claim(req["id"], "a", lease=5).status_code == 200
    lab.clock.advance(60)
    r = lab.a.post(f"/requests/{req['id']}/heartbeat", json={"lease_seconds": 60})
    expect_error(r, 409)
    # the request is claimable again, by anyone whose offer covers it
    r = lab.claim(req["id"], "b")
    assert r.status_code == 200, r.text
    assert r.json()["reserved_by"] == lab.tenant_b
    # and the old reserver cannot post a result any more
    assert lab.post_result(req["id"], "a").status_code == 403
    expiries = [e for e in history(lab, req["id"]) if e["message"] == "lease expired"]
    assert len(expiries) == 1
    assert expiries[0]["actor"] == "system"
    assert (expiries[0]["from_status"], expiries[0]["to_status"]) == ("reserved", "pending")


# ------------------------------------------------------------------------------ release


def test_release(lab: Lab, expect_error: ErrorCheck) -> None:
    req = lab.post_request()
    assert lab.claim(req["id"], "a").status_code == 200
    url = f"/requests/{req['id']}/release"
    expect_error(lab.b.post(url), 403, code="forbidden")
    expect_error(lab.reader.post(url), 403, code="forbidden")
    expect_error(lab.a.post(url, json={"message": 5}), 422, pointer="/message")
    assert status_of(lab, req["id"]) == "reserved"

    r = lab.a.post(url, json={"message": "cell is leaking"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"
    assert r.json()["reserved_by"] is None
    assert r.json()["lease_expires_at"] is None
    last = history(lab, req["id"])[-1]
    assert (last["actor"], last["from_status"], last["to_status"]) == (
        "bot-a",
        "reserved",
        "pending",
    )
    assert last["message"] == "cell is leaking"
    assert [w["id"] for w in lab.a.get("/work").json()] == [req["id"]]

    expect_error(lab.a.post(url), 409, code="invalid_transition")  # pending now
    expect_error(lab.admin.post(f"/requests/{uuid.uuid4()}/release"), 404, code="not_found")

    # an admin may release another tenant's reservation
    assert lab.claim(req["id"], "b").status_code == 200
    r = lab.admin.post(url, json={"message": "operator override"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"
    last = history(lab, req["id"])[-1]
    assert (last["actor"], last["message"]) == ("admin", "operator override")


# ------------------------------------------------------------------------------ retract


def test_retract(lab: Lab, expect_error: ErrorCheck) -> None:
    mine = lab.post_request(who="a")
    url = f"/requests/{mine['id']}/retract"
    expect_error(lab.b.post(url), 403, code="forbidden")
    expect_error(lab.reader.post(url), 403, code="forbidden")
    assert status_of(lab, mine["id"]) == "pending"
    # another principal of the requesting tenant may retract it
    r = lab.a2.post(url, json={"message": "no longer needed"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "retracted"
    last = history(lab, mine["id"])[-1]
    assert (last["actor"], last["to_status"], last["message"]) == (
        "bot-a2",
        "retracted",
        "no longer needed",
    )
    expect_error(lab.a.post(url), 409, code="invalid_transition")
    assert lab.a.get("/work").json() == []
    expect_error(lab.claim(mine["id"], "a"), 409)

    # a reserved request may be retracted by an admin; the reserver cannot post a result then
    theirs = lab.post_request(who="b")
    assert lab.claim(theirs["id"], "a").status_code == 200
    # the reserver is not the requester: it releases, it does not retract
    expect_error(lab.a.post(f"/requests/{theirs['id']}/retract"), 403, code="forbidden")
    assert status_of(lab, theirs["id"]) == "reserved"
    r = lab.admin.post(f"/requests/{theirs['id']}/retract")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "retracted"
    assert r.json()["reserved_by"] is None
    expect_error(lab.post_result(theirs["id"], "a"), 409)
    assert lab.reader.get(f"/requests/{theirs['id']}/results").json() == []

    # resolved requests cannot be retracted
    done = lab.post_request(who="a")
    assert lab.claim(done["id"], "a").status_code == 200
    assert lab.post_result(done["id"], "a").status_code == 201
    expect_error(lab.a.post(f"/requests/{done['id']}/retract"), 409, code="invalid_transition")
    expect_error(lab.admin.post(f"/requests/{done['id']}/retract"), 409)
    assert status_of(lab, done["id"]) == "resolved"

    expect_error(lab.admin.post(f"/requests/{uuid.uuid4()}/retract"), 404, code="not_found")
