"""Limitations are bounded in size at registration, and a large offer inside the bounds still
gets exactly the hand-outs and wake-ups its limitations cover (on both databases)."""

from __future__ import annotations

import threading
import time
from typing import Any

from finales.domain.limitations import MAX_DEPTH, MAX_LIST_ENTRIES, MAX_OFFER_ENTRIES
from tests.conftest import LIMITS_A, ErrorCheck, Lab, params

WAIT_S = 20.0


def put_offers(lab: Lab, limitations: Any) -> Any:
    offer = {"quantity": "conductivity", "method": "two_electrode", "limitations": limitations}
    return lab.a.put(f"/tenants/{lab.tenant_a}/offers", json=[offer])


def test_over_bound_limitations_are_refused_naming_the_field(
    lab: Lab, expect_error: ErrorCheck
) -> None:
    too_long = {"temperature": [{"min": i, "max": i + 0.5} for i in range(MAX_LIST_ENTRIES + 1)]}
    body = expect_error(
        put_offers(lab, too_long), 422, code="invalid_payload", pointer="/0/limitations/temperature"
    )
    assert "MAX_LIST_ENTRIES" in body["detail"] and str(MAX_LIST_ENTRIES + 1) in body["detail"]

    deep: Any = [300.0]
    for _ in range(MAX_DEPTH):
        deep = [deep]
    deepest = "/0/limitations/temperature" + "/0" * (MAX_DEPTH - 1)
    body = expect_error(put_offers(lab, {"temperature": deep}), 422, pointer=deepest)
    assert "MAX_DEPTH" in body["detail"]

    # Every list within its bound, too many entries in all: alternatives of 1000 temperatures.
    alternatives = MAX_OFFER_ENTRIES // MAX_LIST_ENTRIES + 1
    many = [{"temperature": list(range(MAX_LIST_ENTRIES))} for _ in range(alternatives)]
    body = expect_error(put_offers(lab, many), 422, pointer="/0/limitations")
    assert "MAX_OFFER_ENTRIES" in body["detail"]

    # Nothing of the refused offers was stored.
    offers = lab.reader.get(f"/tenants/{lab.tenant_a}").json()["offers"]
    assert [o["limitations"] for o in offers] == [LIMITS_A]


# At the bounds: 500 temperature points and 499 narrow ranges, 1000 solvents, one fraction range.
POINTS = [200.0 + i for i in range(500)]
RANGES = [{"min": 1000.0 + 2 * i, "max": 1001.0 + 2 * i} for i in range(MAX_LIST_ENTRIES - 500)]
SOLVENTS = [f"solvent-{i}" for i in range(MAX_LIST_ENTRIES)]
LARGE = {"temperature": POINTS + RANGES, "solvent": SOLVENTS, "fraction": [{"min": 0, "max": 1}]}


def test_a_large_offer_within_the_bounds_hands_out_what_it_covers(lab: Lab) -> None:
    r = put_offers(lab, LARGE)
    assert r.status_code == 200, r.text

    def post(temperature: float, solvent: str) -> str:
        p = params(temperature=temperature, fraction=0.3, solvent=solvent)
        return str(lab.post_request(p=p)["id"])

    covered = [post(250.0, "solvent-5"), post(1500.5, "solvent-999"), post(1000.0, "solvent-0")]
    uncovered = [
        post(250.5, "solvent-5"),  # between two points
        post(1501.5, "solvent-5"),  # between two ranges
        post(1500.5, "solvent-1000"),  # not a listed solvent
        post(2000.0, "solvent-5"),  # above the last range
    ]
    got = lab.a.get("/work", params={"limit": 100})
    assert got.status_code == 200, got.text
    assert [w["id"] for w in got.json()] == covered
    assert lab.claim(uncovered[0]).status_code >= 400  # the claim check agrees
    for rid in covered:
        assert lab.claim(rid).status_code == 200

    # Only uncovered requests are pending now: a long-poll waits through another uncovered
    # request and wakes for a covered one.
    out: dict[str, Any] = {}

    def poll() -> None:
        headers = {"Authorization": f"Bearer {lab.keys['a']}"}
        with lab.broker.http(headers) as c:
            out["response"] = c.get("/work", params={"wait": WAIT_S})

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.7)  # let it reach its wait
    post(260.5, "solvent-7")
    time.sleep(0.7)
    assert thread.is_alive(), "an uncovered request woke the long-poll with work"
    wanted = post(1998.0, "solvent-998")  # the last range, [1998, 1999]
    thread.join(timeout=WAIT_S + 10)
    assert [w["id"] for w in out["response"].json()] == [wanted]
