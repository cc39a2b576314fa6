"""What a large limitation set costs: ``GET /work`` CPU per call, and what posting a request
costs (in all, and on the event loop) while the tenant holding it waits in a long-poll.

One tenant offers a limitation just inside the size bounds (``finales.domain.limitations``: two
alternatives, each of 1000 temperatures - 500 points and 500 ranges -, 1000 solvents and 650
sites, 9908 entries in all). Requests outside it are posted one by one, first with nobody
waiting, then while the tenant waits in ``GET /work?wait=`` (the poll stays asleep: each new
request is matched against the waiting offer). Then the queue is topped up to ``--pending``
requests outside the offer, and each ``GET /work`` scans and matches every one of them. The app
is called in process (httpx -> ASGI on a loop thread of its own, lifespan running, as
cycle_cost.py does); "loop" is the CPU time of the event loop's thread alone.

It uses only ``create_app`` and ``LocalBroker``'s set-up shortcuts, so it runs unchanged on the
commit before the bounds and the compiled matcher: run it against both checkouts.

    .venv/bin/python benchmarks/limitations_cost.py
    git worktree add /tmp/before <commit> && \\
        PYTHONPATH=/tmp/before/src .venv/bin/python benchmarks/limitations_cost.py
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

import finales
from finales import testing
from finales.domain.principals import Role
from finales.server.app import create_app
from finales.settings import Settings

SCHEMA = {
    "type": "object",
    "properties": {
        "temperature": {"type": "number"},
        "solvent": {"type": "string"},
        "site": {
            "type": "object",
            "properties": {"address": {"type": "string"}, "slot": {"type": "string"}},
        },
    },
    "required": ["temperature"],
}
RESULT = {"type": "object", "properties": {"conductivity": {"type": "number"}}}


def large_limitations(alternatives: int = 2, sites: int = 650) -> list[dict[str, Any]]:
    """Top-level alternatives, each with every kind of entry the matcher sorts: numbers,
    ranges, strings and objects."""
    out = []
    for a in range(alternatives):
        base = 10_000.0 * a
        points = [base + i for i in range(500)]
        ranges = [{"min": base + 1000 + 2 * i, "max": base + 1001 + 2 * i} for i in range(500)]
        out.append(
            {
                "temperature": points + ranges,
                "solvent": [f"solvent-{a}-{i}" for i in range(1000)],
                "site": [{"address": f"lab-{a}", "slot": f"slot-{i}"} for i in range(sites)],
            }
        )
    return out


def entries(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(entries(v) for v in value.values())
    if isinstance(value, list):
        return len(value) + sum(entries(v) for v in value)
    return 0


class Transport(httpx.BaseTransport):
    """The ASGI app on an event loop of its own, with its lifespan entered."""

    def __init__(self, app: Any) -> None:
        self.asgi = httpx.ASGITransport(app=app)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        lifespan = app.router.lifespan_context(app)
        asyncio.run_coroutine_threadsafe(lifespan.__aenter__(), self.loop).result()

    def loop_cpu_s(self) -> float:
        assert self.thread.ident is not None
        return time.clock_gettime(time.pthread_getcpuclockid(self.thread.ident))

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
    ap.add_argument("--pending", type=int, default=300, help="queued requests outside the offer")
    ap.add_argument("--gets", type=int, default=20, help="GET /work calls measured")
    ap.add_argument("--posts", type=int, default=100, help="POST /requests measured")
    ap.add_argument(
        "--solvents",
        type=int,
        default=0,
        help="offer one list of this many solvents instead (the issue's 100000: refused now)",
    )
    opts = ap.parse_args()
    app = create_app(Settings(home=Path(tempfile.mkdtemp())), migrate=True)
    setup = testing.LocalBroker.__new__(testing.LocalBroker)  # the shortcuts, no server
    setup.state = app.state.finales
    setup.add_capability("conductivity", "two_electrode", SCHEMA, RESULT)
    lims: Any = large_limitations()
    if opts.solvents:
        lims = {"solvent": [f"solvent-{i}" for i in range(opts.solvents)]}
    offers = [{"quantity": "conductivity", "method": "two_electrode", "limitations": lims}]
    started = time.perf_counter()
    try:
        tenant = setup.add_tenant("robot", offers)
    except Exception as exc:  # the bounds refuse it
        ms = (time.perf_counter() - started) * 1000
        print(f"offer: {entries(lims)} entries, refused in {ms:.0f} ms: {exc}")
        return
    register_s = time.perf_counter() - started
    admin = setup.add_user("admin", role=Role.ADMIN)
    robot = setup.add_user("robot", role=Role.TENANT, tenant_id=tenant)
    transport = Transport(app)

    def client(key: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.Client(transport=transport, base_url="http://bench", headers=headers)

    requester, worker = client(admin), client(robot)
    n = [0]

    def post() -> None:  # a request outside the offer: no temperature, solvent or site fits
        n[0] += 1
        p = {"temperature": 5000.5 + n[0] % 100, "solvent": "water", "site": {"address": "x"}}
        body = {"quantity": "conductivity", "methods": ["two_electrode"]}
        body["parameters"] = {"two_electrode": p}
        assert requester.post("/api/v1/requests", json=body).status_code == 201

    def posts() -> tuple[float, float]:
        cpu, loop = time.process_time(), transport.loop_cpu_s()
        for _ in range(opts.posts):
            post()
        return (
            (time.process_time() - cpu) / opts.posts,
            (transport.loop_cpu_s() - loop) / opts.posts,
        )

    post()  # warm-up
    assert worker.get("/api/v1/work").json() == []  # nothing is covered
    alone_cpu, alone_loop = posts()
    # The long-poll goes to sleep on a short queue (its hand-out query is over quickly) and
    # sleeps through the posts: none of them is covered, and it waits up to a minute.
    notifier = app.state.finales.notifier
    poller = threading.Thread(
        target=lambda: client(robot).get("/api/v1/work", params={"wait": 55}, timeout=90),
        daemon=True,
    )
    poller.start()
    while not notifier._groups:  # filed under its offers: waiting (a private detail)
        time.sleep(0.01)
    waited_cpu, waited_loop = posts()
    assert poller.is_alive(), "a request outside the offer woke the long-poll"

    while n[0] < opts.pending:
        post()
    cpu, loop = time.process_time(), transport.loop_cpu_s()
    for _ in range(opts.gets):
        assert worker.get("/api/v1/work", params={"limit": 10}).json() == []
    get_cpu = (time.process_time() - cpu) / opts.gets
    get_loop = (transport.loop_cpu_s() - loop) / opts.gets

    print(f"finales {finales.__file__}")
    print(f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}")
    print(f"offer: {entries(lims)} entries, registered in {register_s * 1000:.0f} ms")
    print(f"GET /work, {n[0]} pending outside the offer: {get_cpu * 1000:8.2f} ms CPU")
    print(f"{'':52s}{get_loop * 1000:8.2f} ms on the loop")
    print(f"POST /requests, nobody waiting: {alone_cpu * 1000:29.2f} ms CPU")
    print(f"{'':52s}{alone_loop * 1000:8.2f} ms on the loop")
    print(f"POST /requests, the tenant waiting: {waited_cpu * 1000:25.2f} ms CPU")
    print(f"{'':52s}{waited_loop * 1000:8.2f} ms on the loop")


if __name__ == "__main__":
    main()
