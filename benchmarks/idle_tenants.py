"""Idle tenants cost nothing: the full-cycle throughput of C active clients (broker_load's
cycle) alone and while 200 idle tenants long-poll ``GET /api/v1/work?wait=30`` for work that
never comes. Prints a Markdown table.

    .venv/bin/python benchmarks/idle_tenants.py --idle 200 --clients 16 --seconds 20 --rounds 2

Each idle tenant has its own API key and offers conductivity/two_electrode - the capability
the active clients use - but only in a narrow range above 400 K, its own, which no request
asks for: every new request is one the notifier must match against, and turn down for, every
idle tenant (``--same-offers``: one range for all, as a fleet of identical robots). The
pollers are asyncio tasks in one separate process. While they wait, the server's thread count
(``/proc/<pid>/task``), its CPU use and, on PostgreSQL, its connections
(``pg_stat_activity``) are sampled.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import sqlalchemy as sa
from broker_load import ROOT, measure, start_finales


def idle_limitations(i: int) -> dict[str, Any]:
    """Tenant ``i``'s own narrow range above 400 K, which no request asks for. Distinct per
    tenant (the worst case: the notifier cannot share one match among identical offers)."""
    low = 400.0 + i
    return {"temperature": [{"min": low, "max": low + 0.5}], "lipf6_molality": []}


SETTLE_S = 3.0


# ----------------------------------------------------------------------------- set-up


def add_idle_tenants(url: str, admin_key: str, count: int, *, same: bool) -> list[str]:
    """``count`` tenants, each with a tenant principal and its own API key; returns the keys."""
    keys = []
    with httpx.Client(
        base_url=url + "/api/v1", headers={"Authorization": f"Bearer {admin_key}"}, timeout=30
    ) as api:
        for i in range(count):
            name = f"idle-{i:03d}"
            tid = api.post("/tenants", json={"name": name}).raise_for_status().json()["id"]
            api.put(
                f"/tenants/{tid}/offers",
                json=[
                    {
                        "quantity": "conductivity",
                        "method": "two_electrode",
                        "limitations": idle_limitations(0 if same else i),
                    }
                ],
            ).raise_for_status()
            api.post(
                "/users", json={"name": name, "role": "tenant", "tenant_id": tid}
            ).raise_for_status()
            key = api.post("/auth/api-keys", json={"principal": name}).raise_for_status()
            keys.append(key.json()["key"])
    return keys


# ----------------------------------------------------------------------------- idle pollers


def _pollers(url: str, keys: list[str], wait_s: float, stop: Any, out: Any) -> None:
    """Process body: one long-poll loop per key until ``stop`` is set."""
    stats = {"polls": 0, "work_handed_out": 0, "poll_errors": 0}

    async def poll(client: httpx.AsyncClient, key: str) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        while not stop.is_set():
            try:
                r = await client.get("/api/v1/work", params={"wait": wait_s}, headers=headers)
                r.raise_for_status()
                stats["polls"] += 1
                stats["work_handed_out"] += len(r.json())
            except httpx.HTTPError:
                stats["poll_errors"] += 1
                await asyncio.sleep(0.5)

    async def run() -> None:
        limits = httpx.Limits(max_connections=len(keys) + 10, max_keepalive_connections=None)
        async with httpx.AsyncClient(base_url=url, timeout=wait_s + 30, limits=limits) as client:
            tasks = [asyncio.create_task(poll(client, k)) for k in keys]
            while not stop.is_set():
                await asyncio.sleep(0.2)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    out.put(stats)


class IdlePollers:
    def __init__(self, url: str, keys: list[str], wait_s: float) -> None:
        self._stop = mp.Event()
        self._out: Any = mp.Queue()
        self._proc = mp.Process(target=_pollers, args=(url, keys, wait_s, self._stop, self._out))

    def __enter__(self) -> IdlePollers:
        self._proc.start()
        return self

    def stop(self) -> dict[str, int]:
        self._stop.set()
        stats = self._out.get(timeout=60)
        self._proc.join(timeout=30)
        return stats  # type: ignore[no-any-return]

    def __exit__(self, *exc: object) -> None:
        if self._proc.is_alive():
            self._stop.set()
            self._proc.join(timeout=30)


# ----------------------------------------------------------------------------- sampling


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def cpu_s_of(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pg_connections(database_url: str | None) -> dict[str, int] | None:
    """Connections of the benchmark database by state (PostgreSQL only)."""
    if not database_url:
        return None
    url = sa.engine.make_url(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    engine = sa.create_engine(url.set(database="postgres"))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT coalesce(state, '?'), count(*) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid() GROUP BY 1"
                ),
                {"db": url.database},
            ).all()
        return dict(rows)  # type: ignore[arg-type]
    finally:
        engine.dispose()


class Sampler:
    """Samples the server's thread count (and PostgreSQL connections) in the background."""

    def __init__(self, pid: int, database_url: str | None, every_s: float = 0.5) -> None:
        self.pid, self.database_url, self.every_s = pid, database_url, every_s
        self.threads: list[int] = []
        self.pg: list[dict[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.threads.append(threads_of(self.pid))
            pg = pg_connections(self.database_url)
            if pg is not None:
                self.pg.append(pg)

    def __enter__(self) -> Sampler:
        self._cpu0, self._t0 = cpu_s_of(self.pid), time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu_share = (cpu_s_of(self.pid) - self._cpu0) / (time.monotonic() - self._t0)

    def summary(self) -> str:
        out = f"threads {min(self.threads)}-{max(self.threads)}" if self.threads else ""
        if self.pg:
            total = [sum(s.values()) for s in self.pg]
            busy = [sum(n for k, n in s.items() if k != "idle") for s in self.pg]
            out += f", PG connections {min(total)}-{max(total)} (not idle: max {max(busy)})"
        return out + f", server CPU {100 * self.cpu_share:.0f} % of one core"


def sync_route_latency(url: str, calls: int = 20) -> str:
    """``/healthz`` is a plain ``def`` route: it needs a worker thread, so it would queue
    behind long-polls that held the thread pool."""
    lat = []
    with httpx.Client(timeout=30) as client:
        for _ in range(calls):
            started = time.perf_counter()
            client.get(url + "/healthz").raise_for_status()
            lat.append((time.perf_counter() - started) * 1000)
    return f"GET /healthz (a thread-pool route) median {statistics.median(lat):.1f} ms"


# ----------------------------------------------------------------------------- main


def _pg_admin(database_url: str, sql: str) -> None:
    url = sa.engine.make_url(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    engine = sa.create_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def prepare_postgresql(database_url: str) -> str:
    """A fresh database for the run, migrated; returns its URL."""
    url = sa.engine.make_url(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"finales_idle_{os.getpid()}"
    _pg_admin(database_url, f'DROP DATABASE IF EXISTS "{name}"')
    _pg_admin(database_url, f'CREATE DATABASE "{name}"')
    fresh = url.set(database=name).render_as_string(hide_password=False)
    subprocess.run(
        [sys.executable, "-m", "finales.cli", "db", "upgrade"],
        env={**os.environ, "FINALES_DATABASE_URL": fresh},
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return fresh


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idle", type=int, default=200, help="idle long-polling tenants")
    ap.add_argument("--clients", type=int, default=16, help="active clients (full cycle)")
    ap.add_argument("--seconds", type=float, default=20.0, help="per throughput measurement")
    ap.add_argument("--rounds", type=int, default=2, help="alternations alone / with idle")
    ap.add_argument("--wait", type=float, default=30.0, help="the pollers' ?wait= in seconds")
    ap.add_argument("--database-url", help="a PostgreSQL server URL; default: SQLite")
    ap.add_argument("--same-offers", action="store_true", help="identical idle offers")
    opts = ap.parse_args()
    db_url = prepare_postgresql(opts.database_url) if opts.database_url else None
    if db_url:
        os.environ["FINALES_DATABASE_URL"] = db_url  # start_finales passes its environment on
    proc, url, admin, robot = start_finales()
    rows: list[dict[str, Any]] = []
    idle_notes: list[str] = []
    try:
        keys = add_idle_tenants(url, admin, opts.idle, same=opts.same_offers)
        print(f"{len(keys)} idle tenants registered", file=sys.stderr, flush=True)
        base_threads = threads_of(proc.pid)
        for rnd in range(opts.rounds):
            alone = measure(url, "clean", opts.clients, opts.seconds, admin, robot)
            rows.append({**alone, "round": rnd + 1, "idle": 0, "sampled": ""})
            print(f"round {rnd + 1} alone: {alone['cycles_per_s']:.1f}/s", file=sys.stderr)
            with IdlePollers(url, keys, opts.wait) as pollers:
                time.sleep(SETTLE_S)
                with Sampler(proc.pid, db_url) as idle_only:
                    time.sleep(opts.seconds / 2)
                idle_notes.append(
                    f"round {rnd + 1}: {idle_only.summary()}; {sync_route_latency(url)}"
                )
                with Sampler(proc.pid, db_url) as busy:
                    loaded = measure(url, "clean", opts.clients, opts.seconds, admin, robot)
                stats = pollers.stop()
            rows.append(
                {**loaded, "round": rnd + 1, "idle": opts.idle, "sampled": busy.summary(), **stats}
            )
            print(
                f"round {rnd + 1} with idle: {loaded['cycles_per_s']:.1f}/s; {stats}",
                file=sys.stderr,
                flush=True,
            )
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        if db_url and opts.database_url:
            name = sa.engine.make_url(db_url).database
            _pg_admin(opts.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print_table(opts, rows, base_threads, idle_notes, db_url)


def print_table(
    opts: Any,
    rows: list[dict[str, Any]],
    base_threads: int,
    idle_notes: list[str],
    db_url: str | None,
) -> None:
    backend = "PostgreSQL" if db_url else "SQLite (WAL)"
    print(
        f"\nmachine: {platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {backend}; server, {opts.clients} active clients and "
        f"{opts.idle} idle pollers (?wait={opts.wait:g}) on the same machine; "
        f"{opts.seconds:g} s per measurement\n"
    )
    print(
        "| round | idle pollers | cycles/s | p50 ms | p95 ms | errors | idle polls answered "
        "| poll errors | work handed to idle | server during the measurement |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        polls, poll_errors = r.get("polls", ""), r.get("poll_errors", "")
        handed = r.get("work_handed_out", "")
        print(
            f"| {r['round']} | {r['idle']} | {r['cycles_per_s']:.1f} | {r['p50_ms']:.1f} | "
            f"{r['p95_ms']:.1f} | {r['errors']} | {polls} | {poll_errors} | {handed} | "
            f"{r['sampled']} |"
        )
    alone = statistics.fmean(r["cycles_per_s"] for r in rows if r["idle"] == 0)
    loaded = statistics.fmean(r["cycles_per_s"] for r in rows if r["idle"])
    print(
        f"\nmean cycles/s: alone {alone:.1f}, with {opts.idle} idle pollers {loaded:.1f}; "
        f"drop {100 * (1 - loaded / alone):.1f} % (target: at most 20 %)"
    )
    print(f"server threads before the pollers: {base_threads}")
    for note in idle_notes:
        print(f"idle phase (pollers waiting, no active client), {note}")


if __name__ == "__main__":
    main()
