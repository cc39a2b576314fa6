"""Claimers race for the same requests through the HTTP API: each is claimed exactly once.

The racers are threads with their own HTTP connection, spread over three principals of two
tenants, released together by a barrier. Each request is contested by ``CONTENDERS``
racers at once (all of them when the shape is small), so every request sees a real race
while the whole run stays a few thousand calls.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import Lab, params

CONTENDERS = 8  # racers per request in the larger shape


def _contenders(n_threads: int, n_requests: int, per_request: int) -> dict[int, list[int]]:
    """Request index -> the racer threads that go for it (distinct, spread evenly)."""
    step = max(1, n_threads // per_request)
    return {
        i: sorted({(i + j * step) % n_threads for j in range(per_request)})
        for i in range(n_requests)
    }


def _post_requests(lab: Lab, n: int) -> list[str]:
    """Post ``n`` requests over a few connections at once (set-up, not the race)."""
    body = {
        "quantity": "conductivity",
        "methods": ["two_electrode"],
        "parameters": {"two_electrode": params()},
    }

    def post_some(count: int) -> list[str]:
        headers = {"Authorization": f"Bearer {lab.keys['admin']}"}
        with lab.broker.http(headers) as c:
            out = []
            for _ in range(count):
                r = c.post("/requests", json=body)
                assert r.status_code == 201, r.text
                out.append(r.json()["id"])
            return out

    with ThreadPoolExecutor(4) as pool:
        batches = pool.map(post_some, [n // 4 + (1 if k < n % 4 else 0) for k in range(4)])
        return [rid for batch in batches for rid in batch]


@pytest.mark.parametrize(
    ("n_threads", "n_requests", "per_request"),
    [
        pytest.param(20, 50, 20, id="20x50-everyone-races-for-everything"),
        pytest.param(32, 200, CONTENDERS, id=f"32x200-{CONTENDERS}-per-request"),
    ],
)
def test_every_request_is_claimed_exactly_once(
    lab: Lab, n_threads: int, n_requests: int, per_request: int
) -> None:
    ids = _post_requests(lab, n_requests)
    contenders = _contenders(n_threads, n_requests, per_request)
    assert all(len(c) == min(per_request, n_threads) for c in contenders.values())
    keys = [lab.keys["a"], lab.keys["a2"], lab.keys["b"]]
    wins: Counter[str] = Counter()
    winners: dict[str, set[str]] = defaultdict(set)
    statuses: Counter[int] = Counter()
    odd: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(n_threads)

    def racer(n: int) -> None:
        mine = [ids[i] for i, who in contenders.items() if n in who]
        # Ascending order keeps the contenders of one request close in time; a light
        # per-racer shuffle of neighbours varies who arrives first.
        rng = random.Random(n)
        for k in range(0, len(mine) - 1, 2):
            if rng.random() < 0.5:
                mine[k], mine[k + 1] = mine[k + 1], mine[k]
        with lab.broker.http({"Authorization": f"Bearer {keys[n % len(keys)]}"}) as c:
            start.wait()
            for rid in mine:
                r = c.post(f"/requests/{rid}/claim", json={"lease_seconds": 600})
                with lock:
                    statuses[r.status_code] += 1
                    if r.status_code == 200:
                        wins[rid] += 1
                        winners[rid].add(r.json()["reserved_by"])
                    elif r.status_code == 409:
                        if r.json().get("code") != "invalid_transition":
                            odd.append(r.text)
                    else:
                        odd.append(f"{r.status_code} {r.text}")

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not odd, odd[:5]
    assert set(statuses) <= {200, 409}, statuses  # losers get 409, nothing else (no 5xx)
    assert statuses[200] == n_requests
    assert statuses[409] == sum(len(c) for c in contenders.values()) - n_requests
    assert all(wins[rid] == 1 for rid in ids), wins
    # The histories of all requests at once, from one consistent snapshot.
    snapshot = lab.archiver.get("/export/snapshot")
    assert snapshot.status_code == 200, snapshot.text
    tables = snapshot.json()["tables"]
    seq_of = {r["id"]: r["seq"] for r in tables["requests"]}
    events: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in sorted(tables["request_events"], key=lambda e: e["seq"]):
        events[e["request_seq"]].append(e)
    for rid in ids:
        hist = events[seq_of[rid]]
        assert [(e["from_status"], e["to_status"]) for e in hist] == [
            (None, "pending"),
            ("pending", "reserved"),
        ], hist
        assert {hist[1]["tenant_id"]} == winners[rid]
