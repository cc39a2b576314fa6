"""Routes /results: post (reserver or unsolicited), list, read, amend, delete, history."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import ErrorCheck, Lab, params


def reserved(lab: Lab, who: str = "a", **kwargs: Any) -> str:
    req = lab.post_request(**kwargs)
    assert lab.claim(req["id"], who).status_code == 200
    return str(req["id"])


def resolved(lab: Lab, who: str = "a", data: dict[str, Any] | None = None) -> dict[str, Any]:
    rid = reserved(lab, who)
    r = lab.post_result(rid, who, data=data)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def result_status(lab: Lab, result_id: str) -> str:
    return lab.reader.get(f"/results/{result_id}").json()["status"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------ POST /results


def test_post_result_by_reserver(lab: Lab) -> None:
    rid = reserved(lab, "a")
    r = lab.post_result(rid, "a", data={"conductivity": 1.25, "success": True})
    assert r.status_code == 201, r.text
    res = r.json()
    assert uuid.UUID(res["id"])
    assert res["request_id"] == rid
    assert res["status"] == "original"
    assert res["tenant_id"] == lab.tenant_a
    assert res["data"] == {"conductivity": 1.25, "success": True}
    assert res["parameters"] == params()
    assert (res["quantity"], res["method"]) == ("conductivity", "two_electrode")
    assert res["supersedes"] is None
    assert res["superseded_by"] is None
    cap = lab.reader.get("/capabilities/conductivity/two_electrode").json()
    assert res["capability_id"] == cap["id"]

    req = lab.reader.get(f"/requests/{rid}").json()
    assert req["status"] == "resolved"
    assert req["lease_expires_at"] is None
    assert lab.reader.get(f"/results/{res['id']}").json() == res
    # resolved is terminal: a second result is refused
    assert lab.post_result(rid, "a").status_code == 409

    # another principal of the reserving tenant may post; a multi-method request accepts
    # a result for any of its methods
    rid2 = reserved(lab, "b", methods=("two_electrode", "molecular_dynamics"))
    r = lab.post_result(rid2, "b", method="molecular_dynamics")
    assert r.status_code == 201, r.text
    assert r.json()["tenant_id"] == lab.tenant_b
    rid3 = reserved(lab, "a")
    assert lab.post_result(rid3, "a2").status_code == 201


def test_admin_may_post_result_for_reserved_request(lab: Lab) -> None:
    """architecture.md, principle 2: only the reserving tenant (or an admin) may post the
    result. The result belongs to the reserving tenant."""
    rid = reserved(lab, "a")
    r = lab.post_result(rid, "admin")
    assert r.status_code == 201, r.text
    assert r.json()["tenant_id"] == lab.tenant_a
    assert lab.reader.get(f"/requests/{rid}").json()["status"] == "resolved"


def test_post_result_errors(lab: Lab, expect_error: ErrorCheck) -> None:
    rid = reserved(lab, "a")

    expect_error(lab.post_result(rid, "b"), 403, code="forbidden")
    for who in ("reader", "archiver"):
        expect_error(lab.post_result(rid, who), 403, code="forbidden")

    body = {
        "request_id": rid,
        "quantity": "viscosity",
        "method": "two_electrode",
        "parameters": params(),
        "data": {"conductivity": 1.0},
    }
    expect_error(
        lab.a.post("/results", json=body), 422, code="invalid_payload", pointer="/quantity"
    )
    body = {**body, "quantity": "conductivity", "method": "molecular_dynamics"}
    expect_error(lab.a.post("/results", json=body), 422, code="invalid_payload", pointer="/method")

    bad_data = [
        ({"conductivity": "high"}, "/data/conductivity"),
        ({}, "/data/conductivity"),
        ({"conductivity": 1.0, "colour": "blue"}, "/data/colour"),
        ({"conductivity": 1.0, "success": "yes"}, "/data/success"),
    ]
    for data, pointer in bad_data:
        expect_error(
            lab.post_result(rid, "a", data=data), 422, code="invalid_payload", pointer=pointer
        )
    r = lab.post_result(rid, "a", p={"temperature": 300.0, "fraction": 7})
    expect_error(r, 422, code="invalid_payload", pointer="/parameters/fraction")

    full = {
        "request_id": rid,
        "quantity": "conductivity",
        "method": "two_electrode",
        "parameters": params(),
        "data": {"conductivity": 1.0},
    }
    for missing in ("quantity", "method", "parameters", "data"):
        partial = {k: v for k, v in full.items() if k != missing}
        expect_error(lab.a.post("/results", json=partial), 422, pointer=f"/{missing}")
    expect_error(
        lab.a.post("/results", json={**full, "tenant_id": lab.tenant_b}), 422, pointer="/tenant_id"
    )

    r = lab.post_result(str(uuid.uuid4()), "a")
    expect_error(r, 404, code="not_found")

    # none of that changed the request or stored a result
    assert lab.reader.get(f"/requests/{rid}").json()["status"] == "reserved"
    assert lab.reader.get("/results").json()["items"] == []

    # an unclaimed request takes no result
    pending = lab.post_request()
    expect_error(lab.post_result(pending["id"], "a"), 409, code="invalid_transition")
    assert lab.reader.get(f"/requests/{pending['id']}").json()["status"] == "pending"


def test_unsolicited_result(lab: Lab, expect_error: ErrorCheck) -> None:
    r = lab.post_result(None, "b", method="molecular_dynamics", p=params(fraction=0.7))
    assert r.status_code == 201, r.text
    res = r.json()
    assert res["status"] == "original"
    assert res["tenant_id"] == lab.tenant_b
    req = lab.reader.get(f"/requests/{res['request_id']}")
    assert req.status_code == 200
    assert req.json()["status"] == "unsolicited"
    assert req.json()["methods"] == ["molecular_dynamics"]
    assert req.json()["parameters"] == {"molecular_dynamics": params(fraction=0.7)}
    # The listing shows what GET shows, without the detail GET adds (its last release).
    detail = {k: v for k, v in req.json().items() if k != "last_release"}
    assert req.json()["last_release"] is None
    assert lab.reader.get("/requests", params={"status": "unsolicited"}).json()["items"] == [detail]
    # unsolicited requests are never handed out or claimable
    assert lab.b.get("/work").json() == []
    expect_error(lab.claim(res["request_id"], "b"), 409)

    # unsolicited results are validated too
    r = lab.post_result(None, "a", data={"conductivity": "n/a"})
    expect_error(r, 422, pointer="/data/conductivity")
    r = lab.post_result(None, "a", method="nmr")
    expect_error(r, 422, pointer="/method")
    expect_error(lab.post_result(None, "reader"), 403, code="forbidden")
    assert len(lab.reader.get("/results").json()["items"]) == 1


# ------------------------------------------------------------------------------ GET /results


def test_list_and_get_results(lab: Lab, expect_error: ErrorCheck) -> None:
    ra = resolved(lab, "a", data={"conductivity": 1.0})
    rb = resolved(lab, "b", data={"conductivity": 2.0})
    ru = lab.post_result(None, "b", method="molecular_dynamics").json()
    rgone = resolved(lab, "a", data={"conductivity": 3.0})
    assert lab.a.post(f"/results/{rgone['id']}/delete").status_code == 200

    def ids(**query: Any) -> list[str]:
        r = lab.reader.get("/results", params=query)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert ids() == [ra["id"], rb["id"], ru["id"]]
    assert ids(include_deleted=True) == [ra["id"], rb["id"], ru["id"], rgone["id"]]
    assert ids(status="deleted") == [rgone["id"]]
    assert ids(status="original") == [ra["id"], rb["id"], ru["id"]]
    assert ids(tenant=lab.tenant_a) == [ra["id"]]
    assert ids(tenant=lab.tenant_a, include_deleted=True) == [ra["id"], rgone["id"]]
    assert ids(method="molecular_dynamics") == [ru["id"]]
    assert ids(quantity="conductivity") == [ra["id"], rb["id"], ru["id"]]
    assert ids(quantity="viscosity") == []
    assert ids(request_id=rb["request_id"]) == [rb["id"]]
    assert ids(since="2999-01-01T00:00:00Z") == []
    assert ids(since="2000-01-01T00:00:00Z") == [ra["id"], rb["id"], ru["id"]]
    assert ids(since=rb["created_at"]) == [rb["id"], ru["id"]]

    page1 = lab.reader.get("/results", params={"limit": 2, "include_deleted": True}).json()
    assert [i["id"] for i in page1["items"]] == [ra["id"], rb["id"]]
    page2 = lab.reader.get(
        "/results", params={"limit": 2, "include_deleted": True, "cursor": page1["next_cursor"]}
    ).json()
    assert [i["id"] for i in page2["items"]] == [ru["id"], rgone["id"]]
    assert page2["next_cursor"] is None
    # a status filter pages with the cursor too
    page1 = lab.reader.get("/results", params={"limit": 2, "status": "original"}).json()
    assert [i["id"] for i in page1["items"]] == [ra["id"], rb["id"]]
    page2 = lab.reader.get(
        "/results", params={"limit": 2, "status": "original", "cursor": page1["next_cursor"]}
    ).json()
    assert [i["id"] for i in page2["items"]] == [ru["id"]]
    assert page2["next_cursor"] is None

    # /requests/{id}/results hides deleted results the same way
    url = f"/requests/{rgone['request_id']}/results"
    assert lab.reader.get(url).json() == []
    assert [x["id"] for x in lab.reader.get(url, params={"include_deleted": True}).json()] == [
        rgone["id"]
    ]

    for who in ("a", "b", "archiver", "admin"):
        r = lab.client(who).get(f"/results/{ra['id']}")
        assert r.status_code == 200
        assert r.json() == ra
    assert lab.reader.get(f"/results/{rgone['id']}").json()["status"] == "deleted"
    expect_error(lab.reader.get(f"/results/{uuid.uuid4()}"), 404, code="not_found")
    expect_error(lab.reader.get("/results", params={"status": "lost"}), 422, pointer="/status")
    expect_error(lab.reader.get("/results", params={"limit": 0}), 422, pointer="/limit")
    expect_error(lab.reader.get("/results", params={"cursor": "bm9wZQ"}), 422, pointer="/cursor")


# ------------------------------------------------------------------------------ amend


def test_amend(lab: Lab) -> None:
    old = resolved(lab, "a", data={"conductivity": 1.0})
    r = lab.a2.post(
        f"/results/{old['id']}/amend",
        json={"data": {"conductivity": 1.1}, "message": "calibration fixed"},
    )
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["id"] != old["id"]
    assert new["supersedes"] == old["id"]
    assert new["superseded_by"] is None
    assert new["status"] == "original"
    assert new["data"] == {"conductivity": 1.1}
    assert new["parameters"] == old["parameters"]
    assert new["request_id"] == old["request_id"]
    assert new["tenant_id"] == lab.tenant_a

    old_now = lab.reader.get(f"/results/{old['id']}").json()
    assert old_now["status"] == "amended"
    assert old_now["superseded_by"] == new["id"]
    assert old_now["data"] == {"conductivity": 1.0}  # immutable

    # both stay listed for the request
    listed = lab.reader.get(f"/requests/{old['request_id']}/results").json()
    assert {x["id"]: x["status"] for x in listed} == {old["id"]: "amended", new["id"]: "original"}

    hist = lab.reader.get(f"/results/{old['id']}/history").json()
    assert [(e["from_status"], e["to_status"]) for e in hist] == [
        (None, "original"),
        ("original", "amended"),
    ]
    assert (hist[-1]["actor"], hist[-1]["message"]) == ("bot-a2", "calibration fixed")

    # an admin may amend too, with new parameters
    r = lab.admin.post(
        f"/results/{new['id']}/amend",
        json={"data": {"conductivity": 1.2}, "parameters": params(temperature=301.0)},
    )
    assert r.status_code == 201, r.text
    assert r.json()["parameters"] == params(temperature=301.0)
    assert r.json()["supersedes"] == new["id"]
    assert r.json()["tenant_id"] == lab.tenant_a


def test_amend_errors(lab: Lab, expect_error: ErrorCheck) -> None:
    old = resolved(lab, "a")
    url = f"/results/{old['id']}/amend"
    good = {"data": {"conductivity": 2.0}}
    expect_error(lab.b.post(url, json=good), 403, code="forbidden")
    expect_error(lab.reader.post(url, json=good), 403, code="forbidden")
    expect_error(
        lab.a.post(url, json={"data": {"conductivity": "x"}}), 422, pointer="/data/conductivity"
    )
    r = lab.a.post(url, json={**good, "parameters": {"temperature": 300.0}})
    expect_error(r, 422, pointer="/parameters/fraction")
    expect_error(lab.a.post(url, json={}), 422, pointer="/data")
    expect_error(lab.a.post(url, json={**good, "quantity": "x"}), 422, pointer="/quantity")
    expect_error(lab.a.post(f"/results/{uuid.uuid4()}/amend", json=good), 404, code="not_found")
    assert result_status(lab, old["id"]) == "original"
    assert lab.reader.get(f"/results/{old['id']}").json()["superseded_by"] is None

    new = lab.a.post(url, json=good)
    assert new.status_code == 201, new.text
    r = lab.a.post(url, json={"data": {"conductivity": 3.0}})
    body = expect_error(r, 409, code="invalid_transition")
    assert new.json()["id"] in body["detail"]
    # a deleted result cannot be amended either
    assert lab.a.post(f"/results/{new.json()['id']}/delete").status_code == 200
    expect_error(lab.a.post(f"/results/{new.json()['id']}/amend", json=good), 409)
    ids = [
        x["id"]
        for x in lab.reader.get("/results", params={"include_deleted": True}).json()["items"]
    ]
    assert ids == [old["id"], new.json()["id"]]


# ------------------------------------------------------------------------------ delete, history


def test_delete_and_history(lab: Lab, expect_error: ErrorCheck) -> None:
    res = resolved(lab, "a")
    url = f"/results/{res['id']}/delete"
    expect_error(lab.b.post(url), 403, code="forbidden")
    expect_error(lab.reader.post(url), 403, code="forbidden")
    expect_error(lab.a.post(url, json={"message": ["x"]}), 422, pointer="/message")
    expect_error(lab.a.post(f"/results/{uuid.uuid4()}/delete"), 404, code="not_found")
    assert result_status(lab, res["id"]) == "original"

    r = lab.a.post(url, json={"message": "sensor fault"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == res["id"]
    assert r.json()["status"] == "deleted"
    assert r.json()["data"] == res["data"]  # soft: the row stays

    hist = lab.b.get(f"/results/{res['id']}/history")
    assert hist.status_code == 200
    events = hist.json()
    assert [(e["actor"], e["from_status"], e["to_status"]) for e in events] == [
        ("bot-a", None, "original"),
        ("bot-a", "original", "deleted"),
    ]
    assert events[-1]["message"] == "sensor fault"

    expect_error(lab.a.post(url), 409, code="invalid_transition")
    expect_error(lab.admin.post(url), 409)
    # the request stays resolved
    assert lab.reader.get(f"/requests/{res['request_id']}").json()["status"] == "resolved"

    # an admin may delete any result
    other = resolved(lab, "b")
    r = lab.admin.post(f"/results/{other['id']}/delete")
    assert r.status_code == 200, r.text
    assert lab.reader.get(f"/results/{other['id']}/history").json()[-1]["actor"] == "admin"

    expect_error(lab.reader.get(f"/results/{uuid.uuid4()}/history"), 404, code="not_found")


# ------------------------------------------------------------------------------ Idempotency-Key


def test_post_result_retried_with_same_key(lab: Lab, expect_error: ErrorCheck) -> None:
    rid = reserved(lab, "a")
    body = {
        "request_id": rid,
        "quantity": "conductivity",
        "method": "two_electrode",
        "parameters": params(),
        "data": {"conductivity": 0.5},
    }
    headers = {"Idempotency-Key": "result-1"}
    first = lab.a.post("/results", json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = lab.a.post("/results", json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(lab.reader.get(f"/requests/{rid}/results").json()) == 1
    # without the key the same retry is a state conflict
    expect_error(lab.a.post("/results", json=body), 409)
    # the same key with another body is refused
    r = lab.a.post("/results", json={**body, "data": {"conductivity": 0.6}}, headers=headers)
    expect_error(r, 409, code="conflict")
