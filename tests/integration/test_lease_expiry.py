"""A lease is live until the clock says otherwise, whether or not the sweeper has run.

Every change that acts on a reservation - the result (through both doors), the heartbeat, the
release - is refused with 409 ``lease_expired`` once the lease has run out, on a broker whose
lease sweeper never runs during the test: the refusal comes from the clock, not from an
expiry the sweeper recorded. The time is moved by the injected clock, never slept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from finales.domain import transitions as plan
from finales.domain.principals import Principal, Role
from finales.errors import LeaseExpired
from finales.services.apply import apply_request
from finales.services.requests import expire_leases
from finales.services.rows import load_request
from tests.conftest import Clock, Lab, local_broker, params, populate

M = "two_electrode"


@pytest.fixture
def unswept(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[Lab]:
    """The lab on a broker whose lease sweeper first looks in an hour (never, in a test);
    FINALES 2 reservations get a 30 s lease, as the clean door's claims below."""
    broker = local_broker(database_url, tmp_path, clock, lease_sweep_s=3600.0, compat_lease_s=30)
    with broker.start_in_process() as b:
        yield populate(b, clock)


def _history(lab: Lab, request_id: str) -> list[tuple[str, str | None, str, str]]:
    r = lab.reader.get(f"/requests/{request_id}/history")
    assert r.status_code == 200, r.text
    return [(e["actor"], e["from_status"], e["to_status"], e["message"]) for e in r.json()]


def _f2_result(lab: Lab, request_id: str) -> dict[str, Any]:
    return {
        "data": {"conductivity": 0.9},
        "quantity": "conductivity",
        "method": [M],
        "parameters": {M: params()},
        "tenant_uuid": lab.tenant_a,
        "request_uuid": request_id,
    }


def _claim_api(lab: Lab, request_id: str, lease: float) -> None:
    r = lab.claim(request_id, "a", lease=lease)
    assert r.status_code == 200, r.text


def _claim_f2(lab: Lab, request_id: str, lease: float) -> None:
    """A FINALES 2 reservation (its lease is the broker's ``compat_lease_s``)."""
    del lease
    r = lab.root("a").post(
        f"/requests/{request_id}/update_status/", params={"new_status": "reserved"}
    )
    assert r.status_code == 200, r.text


Claim = Callable[[Lab, str, float], None]
Act = Callable[[Lab, str], httpx.Response]

# action -> how the request is reserved, the call that needs the lease, its success status
ACTIONS: dict[str, tuple[Claim, Act, int]] = {
    "api result": (_claim_api, lambda lab, rid: lab.post_result(rid, "a"), 201),
    "api result by an admin": (_claim_api, lambda lab, rid: lab.post_result(rid, "admin"), 201),
    "api heartbeat": (
        _claim_api,
        lambda lab, rid: lab.a.post(f"/requests/{rid}/heartbeat", json={"lease_seconds": 60}),
        200,
    ),
    "api release": (_claim_api, lambda lab, rid: lab.a.post(f"/requests/{rid}/release"), 200),
    "api release by an admin": (
        _claim_api,
        lambda lab, rid: lab.admin.post(f"/requests/{rid}/release"),
        200,
    ),
    "finales2 result": (
        _claim_f2,
        lambda lab, rid: lab.root("a").post("/results/", json=_f2_result(lab, rid)),
        200,
    ),
    "finales2 release": (
        _claim_f2,
        lambda lab, rid: lab.root("a").post(
            f"/requests/{rid}/update_status/", params={"new_status": "pending"}
        ),
        200,
    ),
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_a_change_needing_the_lease_is_refused_once_it_ran_out_before_any_sweep(
    unswept: Lab, action: str
) -> None:
    lab = unswept
    claim, act, ok = ACTIONS[action]

    # While the lease is live, the call goes through.
    live = lab.post_request()["id"]
    claim(lab, live, 30)
    r = act(lab, live)
    assert r.status_code == ok, r.text

    # The case: a 1 s lease, 1.3 s later (31.3 s for a 30 s FINALES 2 lease).
    late = lab.post_request()["id"]
    claim(lab, late, 1)
    lease_expires_at = lab.reader.get(f"/requests/{late}").json()["lease_expires_at"]
    before = _history(lab, late)
    lab.clock.advance(1.3 if claim is _claim_api else 31.3)
    r = act(lab, late)
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["code"] == "lease_expired", body
    assert "expired at" in body["detail"] and "claim the request again" in body["detail"]
    if claim is _claim_api:
        assert lease_expires_at[:19] in body["detail"]

    # Refused means unchanged: no result, no event; the sweeper has not run (still reserved).
    after = lab.reader.get(f"/requests/{late}").json()
    assert (after["status"], after["reserved_by"]) == ("reserved", lab.tenant_a)
    assert _history(lab, late) == before
    assert lab.reader.get("/results", params={"request_id": late}).json()["items"] == []

    # The request is claimable: the next claim records the expiry first, and then it is taken.
    assert lab.claim(late, "b").status_code == 200
    assert _history(lab, late)[-2:] == [
        ("system", "reserved", "pending", "lease expired"),
        ("bot-b", "pending", "reserved", "claimed"),
    ]


def test_retract_records_an_unswept_expiry_first(unswept: Lab) -> None:
    """The requester withdraws whatever the lease says; the history says the request was
    pending again (the expiry) when it was withdrawn."""
    lab = unswept
    rid = lab.post_request(who="b")["id"]
    _claim_api(lab, rid, 1)
    lab.clock.advance(1.3)
    r = lab.b.post(f"/requests/{rid}/retract", json={"message": "not needed"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "retracted"
    assert _history(lab, rid)[-2:] == [
        ("system", "reserved", "pending", "lease expired"),
        ("bot-b", "pending", "retracted", "not needed"),
    ]

    # A live reservation is retracted as it is: no expiry in between.
    held = lab.post_request(who="b")["id"]
    _claim_api(lab, held, 30)
    assert lab.b.post(f"/requests/{held}/retract").status_code == 200
    assert [s[1:3] for s in _history(lab, held)][-1] == ("reserved", "retracted")


def test_amending_needs_no_lease(unswept: Lab) -> None:
    """A posted result resolved its request: its lease is over, and amending it later is no
    change to a reservation."""
    lab = unswept
    rid = lab.post_request()["id"]
    _claim_api(lab, rid, 1)
    posted = lab.post_result(rid, "a")
    assert posted.status_code == 201, posted.text
    lab.clock.advance(60)
    r = lab.a.post(f"/results/{posted.json()['id']}/amend", json={"data": {"conductivity": 1.0}})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("action", ["resolve", "heartbeat", "release"])
def test_the_conditional_write_refuses_a_lease_that_ran_out_after_the_plan(
    unswept: Lab, action: str
) -> None:
    """A plan made from a view whose lease looked live (a stale view) is still refused by the
    write: the UPDATE itself requires the row's lease live at the transition's time."""
    lab = unswept
    rid = lab.post_request()["id"]
    _claim_api(lab, rid, 5)
    lab.clock.advance(10)
    state = lab.broker.state
    bot_a = Principal(id="bot-a", name="bot-a", role=Role.TENANT, tenant_id=lab.tenant_a)
    with pytest.raises(LeaseExpired, match="expired at"), state.tx.write() as uow:
        view = load_request(uow.conn, rid)
        assert view.lease_expires_at is not None
        stale = replace(view, lease_expires_at=view.lease_expires_at.replace(year=2999))
        if action == "resolve":
            tr = plan.plan_resolve(stale, bot_a, uow.now, result_id="r")
        elif action == "heartbeat":
            tr = plan.plan_heartbeat(stale, bot_a, uow.now, lease_s=60)
        else:
            tr = plan.plan_release(stale, bot_a, uow.now)
        apply_request(uow.conn, stale, tr)
    after = lab.reader.get(f"/requests/{rid}").json()
    assert (after["status"], after["reserved_by"]) == ("reserved", lab.tenant_a)
    assert [s[2] for s in _history(lab, rid)] == ["pending", "reserved"]


def test_a_claim_racing_the_sweeper_over_a_run_out_lease_still_claims(unswept: Lab) -> None:
    """The sweeper records the expiry while a claim that read the lease as due waits on the
    row (PostgreSQL; on SQLite the claim waits for the write lock and reads afresh): the
    claim's own expiry finds nothing to do, and the claim goes on instead of answering 409."""
    lab = unswept
    rid = lab.post_request()["id"]
    assert lab.claim(rid, "a", lease=5).status_code == 200
    lab.clock.advance(10)
    answers: list[httpx.Response] = []
    with lab.broker.state.tx.write() as uow:  # the sweeper, holding the row until it commits
        assert expire_leases(uow) == 1
        claimer = threading.Thread(target=lambda: answers.append(lab.claim(rid, "b")))
        claimer.start()
        time.sleep(0.5)  # the claim has read the request and waits on its row (or the lock)
    claimer.join(15)
    assert answers[0].status_code == 200, answers[0].text
    steps = [s[2] for s in _history(lab, rid)]
    assert steps == ["pending", "reserved", "pending", "reserved"]  # one expiry, recorded once
