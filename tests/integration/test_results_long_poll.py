"""GET /requests/{id}/results?wait= returns as soon as a result is posted."""

from __future__ import annotations

import threading
import time

from tests.conftest import Lab


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
