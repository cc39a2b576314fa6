"""GET /requests/{id}/results?wait= returns as soon as a result is posted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Clock, Lab, local_broker, params, populate


def test_waiting_for_results(lab: Lab) -> None:
    req = lab.post_request(who="a")
    started = time.monotonic()
    empty = lab.a.get(f"/requests/{req['id']}/results", params={"wait": 1})
    assert empty.status_code == 200 and empty.json() == []
    assert time.monotonic() - started >= 0.9

    got: dict[str, object] = {}

    def wait() -> None:
        t0 = time.monotonic()
        r = lab.client("a2").get(f"/requests/{req['id']}/results", params={"wait": 20})
        got["elapsed"], got["body"] = time.monotonic() - t0, r.json()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)
    assert lab.claim(req["id"], "b").status_code == 200
    posted = lab.post_result(req["id"], who="b").json()
    waiter.join(timeout=25)
    assert [r["id"] for r in got["body"]] == [posted["id"]]  # type: ignore[union-attr]
    assert got["elapsed"] < 10  # woken by the post, not by the 20 s deadline

    gone = lab.post_request(who="a")
    lab.a.post(f"/requests/{gone['id']}/retract")
    t0 = time.monotonic()
    assert lab.a.get(f"/requests/{gone['id']}/results", params={"wait": 20}).json() == []
    assert time.monotonic() - t0 < 5
    assert lab.a.get("/requests/nope/results", params={"wait": 1}).status_code == 404


@pytest.fixture
def quiet_lab(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[Lab]:
    """A lab whose change watcher and long-poll re-checks look only every 30 s: a waiter
    woken sooner was woken by the change that the writing unit of work published."""
    slow = local_broker(database_url, tmp_path, clock, long_poll_recheck_s=30.0)
    with slow.start_in_process() as b:
        yield populate(b, clock)


def _wait_for_results(lab: Lab, request_id: str, out: dict[str, Any]) -> threading.Thread:
    def wait() -> None:
        t0 = time.monotonic()
        r = lab.client("a2").get(f"/requests/{request_id}/results", params={"wait": 20})
        out["returned"] = time.monotonic()
        out["elapsed"], out["body"] = out["returned"] - t0, r.json()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)  # let it reach its wait
    assert waiter.is_alive(), "the long-poll returned before there was a result"
    return waiter


@pytest.mark.parametrize("door", ["finales2", "api"])
def test_a_result_wakes_the_results_long_poll_whichever_door_it_came_through(
    quiet_lab: Lab, door: str
) -> None:
    lab = quiet_lab
    req = lab.post_request(who="a")
    assert lab.claim(req["id"], "b").status_code == 200
    out: dict[str, Any] = {}
    waiter = _wait_for_results(lab, req["id"], out)
    if door == "finales2":
        body = {
            "data": {"conductivity": 0.9},
            "quantity": "conductivity",
            "method": ["two_electrode"],
            "parameters": {"two_electrode": params()},
            "tenant_uuid": lab.tenant_b,
            "request_uuid": req["id"],
        }
        r = lab.root("b").post("/results/", json=body)
        assert r.status_code == 200, r.text
        result_id = r.json()
    else:
        result_id = lab.post_result(req["id"], who="b").json()["id"]
    posted = time.monotonic()  # the result is committed: from now on the waiter may return
    waiter.join(timeout=25)
    assert [r["id"] for r in out["body"]] == [result_id]
    assert out["returned"] - posted < 1.0  # not the 30 s re-check, not the 20 s deadline


def test_a_finales2_release_wakes_the_work_long_poll(quiet_lab: Lab) -> None:
    lab = quiet_lab
    req = lab.post_request(who="admin")
    assert lab.claim(req["id"], "b").status_code == 200
    got: dict[str, Any] = {}

    def poll() -> None:
        got["body"] = lab.a.get("/work", params={"wait": 20}).json()
        got["returned"] = time.monotonic()

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.5)
    assert poller.is_alive(), "the work long-poll returned before there was work"
    r = lab.root("b").post(
        f"/requests/{req['id']}/update_status/", params={"new_status": "pending"}
    )
    assert r.status_code == 200, r.text
    released = time.monotonic()
    poller.join(timeout=25)
    assert [w["id"] for w in got["body"]] == [req["id"]]
    assert got["returned"] - released < 1.0
