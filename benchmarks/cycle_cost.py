"""What one broker cycle costs, in one process and without a socket: the SQL statements each
call issues, and the CPU time (or, under callgrind, the instructions) per cycle.

The cycle is broker_load.py's: post a request, get work, claim, post the result, by one
client, against the app called in process (httpx -> ASGI, lifespan running). It uses only
``create_app`` and ``LocalBroker``'s set-up shortcuts, so it runs unchanged on older commits
too: run it with each checkout's interpreter to compare two versions.

    .venv/bin/python benchmarks/cycle_cost.py --cycles 300            # CPU ms per cycle
    .venv/bin/python benchmarks/cycle_cost.py --cycles 50 --count-sql  # statements per call
    .venv/bin/python benchmarks/cycle_cost.py --door finales2          # the FINALES 2 routes
    # instructions per cycle, repeatable on a noisy machine: the difference of two runs
    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python \\
        benchmarks/cycle_cost.py --cycles 0      # "Collected : A"
    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python \\
        benchmarks/cycle_cost.py --cycles 100    # "Collected : B"; (B - A) / 130 per cycle
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from finales import testing
from finales.domain.principals import Role
from finales.server.app import create_app
from finales.settings import Settings

SCHEMA = {
    "type": "object",
    "properties": {"temperature": {"type": "number"}, "lipf6_molality": {"type": "number"}},
    "required": ["temperature"],
}
RESULT = {
    "type": "object",
    "properties": {"conductivity": {"type": "number"}},
    "required": ["conductivity"],
}
PARAMS = {"temperature": 298.15, "lipf6_molality": 1.0}
WARM_UP = 30


class Transport(httpx.BaseTransport):
    """The ASGI app on an event loop of its own, with its lifespan entered."""

    def __init__(self, app: Any) -> None:
        self.asgi = httpx.ASGITransport(app=app)
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        lifespan = app.router.lifespan_context(app)
        asyncio.run_coroutine_threadsafe(lifespan.__aenter__(), self.loop).result()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> tuple[int, httpx.Headers, bytes]:
            forwarded = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            r = await self.asgi.handle_async_request(forwarded)
            return r.status_code, r.headers, await r.aread()

        status, headers, content = asyncio.run_coroutine_threadsafe(call(), self.loop).result()
        return httpx.Response(status, headers=headers, content=content, request=request)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=300)
    ap.add_argument("--count-sql", action="store_true", help="statements per call, not time")
    ap.add_argument("--door", choices=["api", "finales2"], default="api", help="which routes")
    ap.add_argument("--clients", type=int, default=1, help="threads, each making --cycles")
    opts = ap.parse_args()
    app = create_app(Settings(home=Path(tempfile.mkdtemp())), migrate=True)
    setup = testing.LocalBroker.__new__(testing.LocalBroker)  # the shortcuts, no server
    setup.state = app.state.finales
    setup.add_capability("conductivity", "two_electrode", SCHEMA, RESULT)
    offers = [{"quantity": "conductivity", "method": "two_electrode", "limitations": {}}]
    tenant = setup.add_tenant("robot", offers)
    admin = setup.add_user("admin", role=Role.ADMIN)
    robot = setup.add_user("robot", role=Role.TENANT, tenant_id=tenant)
    transport = Transport(app)

    def client(key: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.Client(transport=transport, base_url="http://bench", headers=headers)

    requester, worker = client(admin), client(robot)
    current = ["-"]
    counts: collections.Counter[str] = collections.Counter()

    def cycle_api() -> None:
        current[0] = "POST /requests"
        body = {
            "quantity": "conductivity",
            "methods": ["two_electrode"],
            "parameters": {"two_electrode": PARAMS},
        }
        rid = requester.post("/api/v1/requests", json=body).json()["id"]
        current[0] = "GET /work"
        assert worker.get("/api/v1/work", params={"limit": 1}).is_success
        current[0] = "POST /requests/{id}/claim"
        claim = {"lease_seconds": 60}
        assert worker.post(f"/api/v1/requests/{rid}/claim", json=claim).is_success
        current[0] = "POST /results"
        result = {"request_id": rid, "quantity": "conductivity", "method": "two_electrode"}
        result |= {"parameters": PARAMS, "data": {"conductivity": 0.9}}
        assert worker.post("/api/v1/results", json=result).status_code == 201
        current[0] = "-"

    def cycle_finales2() -> None:  # broker_load.py's FINALES 2 cycle
        current[0] = "POST /requests/"
        body = {
            "quantity": "conductivity",
            "methods": ["two_electrode"],
            "parameters": {"two_electrode": PARAMS},
            "tenant_uuid": tenant,
        }
        rid = requester.post("/requests/", json=body).json()
        current[0] = "GET /requests/{id}"
        assert worker.get(f"/requests/{rid}").is_success
        current[0] = "POST /requests/{id}/update_status/"
        params = {"request_id": rid, "new_status": "reserved"}
        assert worker.post(f"/requests/{rid}/update_status/", params=params).is_success
        current[0] = "POST /results/"
        result = {"data": {"conductivity": 0.9}, "quantity": "conductivity"}
        result |= {"method": ["two_electrode"], "parameters": {"two_electrode": PARAMS}}
        result |= {"tenant_uuid": tenant, "request_uuid": rid}
        assert worker.post("/results/", json=result).is_success
        current[0] = "-"

    cycle = cycle_api if opts.door == "api" else cycle_finales2
    for _ in range(WARM_UP if opts.cycles else 0):
        cycle()
    if opts.count_sql:
        engine = app.state.finales.db.engine

        @event.listens_for(engine, "before_cursor_execute")
        def statement(*_args: Any) -> None:
            counts[current[0]] += 1

    def run_cycles() -> None:
        for _ in range(opts.cycles):
            cycle()

    cpu, wall = time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=run_cycles) for _ in range(opts.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    n = max(opts.cycles * opts.clients, 1)
    if opts.count_sql:
        for call in counts:
            print(f"{call:36s} {counts[call] / n:5.2f} statements")
        print(f"{'per cycle':36s} {sum(counts.values()) / n:5.2f} statements")
    else:
        print(
            f"{cpu * 1000 / n:.3f} ms CPU per cycle (client and server), {wall * 1000 / n:.3f} ms"
        )


if __name__ == "__main__":
    main()
