"""20 threads race to claim the same 50 requests through the HTTP API: each is claimed once."""

from __future__ import annotations

import random
import threading
from collections import Counter

import httpx

from tests.conftest import Lab

THREADS = 20
REQUESTS = 50


def test_every_request_is_claimed_exactly_once(lab: Lab) -> None:
    ids = [lab.post_request(who="admin")["id"] for _ in range(REQUESTS)]
    keys = [lab.keys["a"], lab.keys["a2"], lab.keys["b"]]
    wins: Counter[str] = Counter()
    winners: dict[str, set[str]] = {}
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def racer(n: int) -> None:
        key = keys[n % len(keys)]
        order = ids[:]
        random.Random(n).shuffle(order)
        with httpx.Client(
            base_url=lab.broker.url + "/api/v1",
            timeout=60,
            headers={"Authorization": f"Bearer {key}"},
        ) as c:
            start.wait()
            for rid in order:
                r = c.post(f"/requests/{rid}/claim", json={"lease_seconds": 600})
                with lock:
                    statuses[r.status_code] += 1
                    if r.status_code == 200:
                        wins[rid] += 1
                        winners.setdefault(rid, set()).add(r.json()["reserved_by"])

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert set(statuses) <= {200, 409}, statuses
    assert statuses[200] == REQUESTS
    assert all(wins[rid] == 1 for rid in ids), wins
    for rid in ids:
        hist = lab.reader.get(f"/requests/{rid}/history").json()
        reserved = [e for e in hist if e["to_status"] == "reserved"]
        assert len(reserved) == 1
        assert {reserved[0]["tenant_id"]} == winners[rid]
