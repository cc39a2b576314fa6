"""Feedback to requesters, on SQLite and PostgreSQL: how many offers cover a new request
(``covering_offers`` in the creation answer), why a pending request waits again
(``last_release`` on ``GET /requests/{id}``), and the SDK's wait messages built from them."""

from __future__ import annotations

import pytest

from finales.client import RequestRetracted, WaitTimeout
from tests.conftest import REQUEST_SCHEMA, RESULT_SCHEMA, Lab, params

BOTH = ("two_electrode", "molecular_dynamics")


def test_creation_answers_how_many_offers_cover_the_request(lab: Lab) -> None:
    # Tenant a offers two_electrode up to 313.15 K, tenant b up to 373.15 K and
    # molecular_dynamics without limits.
    assert lab.post_request(p=params(temperature=300.0))["covering_offers"] == 2
    assert lab.post_request(p=params(temperature=350.0))["covering_offers"] == 1
    assert lab.post_request(p=params(temperature=400.0))["covering_offers"] == 0
    assert lab.post_request(methods=BOTH, p=params(temperature=400.0))["covering_offers"] == 1
    assert lab.post_request(methods=BOTH, p=params(temperature=300.0))["covering_offers"] == 3


def test_the_count_follows_the_current_offers(lab: Lab) -> None:
    hot = params(temperature=400.0)
    assert lab.post_request(p=hot)["covering_offers"] == 0
    wider = [
        {
            "quantity": "conductivity",
            "method": "two_electrode",
            "limitations": {"temperature": [{"min": 273.15, "max": 500}]},
        }
    ]
    r = lab.a.put(f"/tenants/{lab.tenant_a}/offers", json=wider)
    assert r.status_code == 200, r.text
    assert lab.post_request(p=hot)["covering_offers"] == 1
    assert lab.a.put(f"/tenants/{lab.tenant_a}/offers", json=[]).status_code == 200
    assert lab.post_request(p=hot)["covering_offers"] == 0


def test_a_replay_answers_the_count_stored_with_the_request(lab: Lab) -> None:
    body = {
        "quantity": "conductivity",
        "methods": ["two_electrode"],
        "parameters": {"two_electrode": params(temperature=300.0)},
    }
    headers = {"Idempotency-Key": "feedback-replay-1"}
    first = lab.a.post("/requests", json=body, headers=headers)
    assert first.status_code == 201 and first.json()["covering_offers"] == 2
    assert lab.b.put(f"/tenants/{lab.tenant_b}/offers", json=[]).status_code == 200
    again = lab.a.post("/requests", json=body, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()


def test_listings_and_the_finales2_door_keep_their_payloads(lab: Lab) -> None:
    posted = lab.post_request(p=params(temperature=400.0))
    items = lab.reader.get("/requests").json()["items"]
    assert [i["id"] for i in items] == [posted["id"]]
    assert "covering_offers" not in items[0] and "last_release" not in items[0]
    f2 = {
        "quantity": "conductivity",
        "methods": ["two_electrode"],
        "parameters": {"two_electrode": params()},
        "tenant_uuid": lab.tenant_a,
    }
    r = lab.root("a").post("/requests/", json=f2)
    assert r.status_code == 200 and isinstance(r.json(), str)  # FINALES 2 answers the id


def test_get_shows_the_last_release(lab: Lab) -> None:
    rid = lab.post_request(who="admin")["id"]
    assert lab.reader.get(f"/requests/{rid}").json()["last_release"] is None

    assert lab.claim(rid, "a").status_code == 200
    r = lab.a.post(f"/requests/{rid}/release", json={"message": "cell too hot"})
    assert r.status_code == 200, r.text
    last = lab.reader.get(f"/requests/{rid}").json()["last_release"]
    assert (last["actor"], last["message"]) == ("bot-a", "cell too hot")
    assert (last["from_status"], last["to_status"]) == ("reserved", "pending")
    assert last["tenant_id"] == lab.tenant_a

    # Claimed again: the last release stays what it was until the next one.
    assert lab.claim(rid, "b", lease=5).status_code == 200
    shown = lab.reader.get(f"/requests/{rid}").json()
    assert shown["status"] == "reserved" and shown["last_release"]["message"] == "cell too hot"
    lab.clock.advance(10)  # b's lease runs out; the next look records it
    assert lab.claim(rid, "a").status_code == 200
    last = lab.reader.get(f"/requests/{rid}").json()["last_release"]
    assert (last["actor"], last["message"]) == ("system", "lease expired")


def test_the_sdk_says_why_a_request_still_waits(lab: Lab) -> None:
    requester = lab.broker.client(api_key=lab.keys["admin"])
    created = requester.submit_request(
        "conductivity", ["two_electrode"], {"two_electrode": params(temperature=400.0)}
    )
    assert created.covering_offers == 0
    with pytest.raises(WaitTimeout) as never_taken:
        requester.wait_for_results(created.id, timeout_s=0.3, poll_s=0.1)
    assert never_taken.value.detail.endswith("within 0.3 s (it is pending)")

    rid = requester.submit_request(
        "conductivity", ["two_electrode"], {"two_electrode": params()}
    ).id
    for who, why in (("a", "cell too hot"), ("b", "no channel free")):
        assert lab.claim(rid, who).status_code == 200
        assert lab.client(who).post(f"/requests/{rid}/release", json={"message": why}).is_success
    assert requester.get_request(rid).last_release is not None
    seen: list[str] = []
    with pytest.raises(WaitTimeout) as released:
        requester.wait_for_results(
            rid, timeout_s=0.3, poll_s=0.1, on_status=lambda r: seen.append(r.status.value)
        )
    assert released.value.request_id == rid
    assert released.value.detail == (
        f"no result for request {rid} within 0.3 s "
        "(it is pending; last released by bot-b: 'no channel free')"
    )
    assert seen and set(seen) == {"pending"}

    assert lab.claim(rid, "a").status_code == 200
    with pytest.raises(WaitTimeout) as held:
        requester.wait_for_results(rid, timeout_s=0.2, poll_s=0.1)
    assert f"(it is reserved by tenant {lab.tenant_a}; last released by bot-b" in (
        held.value.detail
    )


def test_a_rejected_request_ends_the_wait(lab: Lab) -> None:
    gate = {
        "quantity": "conductivity",
        "method": "gated_cell",
        "request_schema": REQUEST_SCHEMA,
        "result_schema": RESULT_SCHEMA,
        "requires_approval": True,
    }
    assert lab.admin.post("/capabilities", json=gate).status_code == 201
    rid = lab.post_request(who="a", methods=("gated_cell",))["id"]
    r = lab.admin.post(f"/requests/{rid}/reject", json={"message": "no channel free"})
    assert r.status_code == 200, r.text
    requester = lab.broker.client(api_key=lab.keys["a"])
    with pytest.raises(RequestRetracted) as ended:
        requester.wait_for_results(rid, timeout_s=30, poll_s=0.2)
    assert ended.value.detail == f"request {rid} was rejected: rejected: no channel free"
