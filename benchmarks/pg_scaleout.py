"""PostgreSQL scale-out: the broker_load cycle against 1 and against 2 `finales serve`
processes sharing one PostgreSQL database, then a count of double claims in that database.

    .venv/bin/python benchmarks/pg_scaleout.py --servers 1 2 --clients 16 \
        --modes clean contended --seconds 20 --rounds 2

Each (servers, mode, clients) row gets a fresh database, so no row inherits another's history.
Clients are assigned to the servers round-robin (client i talks to server i mod N) and run as
threads in worker processes, `CLIENTS_PER_PROCESS` to a process, by broker_load's own worker.

Modes:
- ``clean``: broker_load's cycle as it is (post a request, get work, claim *that* request,
  post its result). Claims do not compete.
- ``contended``: the same, but each client claims the oldest request that ``GET /work`` hands
  out and that it can win (409: try the next one), so clients on different server processes
  race for the same requests. This is where a broken claim would show as a double claim.

Double claims are counted from the events afterwards: a ``pending -> reserved`` event whose
previous event on that request did not leave it ``pending`` (a claim of a request that was
already reserved, with no release or lease expiry in between), plus requests with more than
one result. The PostgreSQL server is the one at ``--pg`` (default: FINALES_TEST_PG or
postgresql://postgres@127.0.0.1:5432/test); databases are created beside it and dropped.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import broker_load  # a sibling script, not a package

DEFAULT_PG = os.environ.get("FINALES_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
CLI = [sys.executable, "-m", "finales.cli"]
CONTENDED_WORK_LIMIT = 4  # how many of the oldest pending requests a client tries to claim
CONTENDED_ROUNDS = 25  # GET /work rounds before a contended cycle counts as an error

DOUBLE_CLAIMS_SQL = """
WITH ev AS (
  SELECT request_seq, from_status, to_status,
         LAG(to_status) OVER (PARTITION BY request_seq ORDER BY seq) AS before
  FROM request_events)
SELECT count(*) FROM ev
WHERE from_status = 'pending' AND to_status = 'reserved' AND before IS DISTINCT FROM 'pending'
"""
MULTI_RESULT_SQL = """
SELECT count(*) FROM (SELECT request_seq FROM results GROUP BY request_seq HAVING count(*) > 1) m
"""
CLAIMS_SQL = (
    "SELECT count(*) FROM request_events WHERE from_status = 'pending' AND to_status = 'reserved'"
)


@dataclass
class Cluster:
    urls: list[str]
    admin: str
    robot: str
    pids: list[int]

    def cpu_s(self) -> float:
        """CPU seconds the server processes have used so far (Linux /proc; else NaN)."""
        total = 0.0
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return float("nan")
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total


def _pg_url(base: str, dbname: str) -> str:
    return f"{base.rsplit('/', 1)[0]}/{dbname}"


@contextmanager
def fresh_database(pg: str) -> Iterator[str]:
    name = f"finales_scaleout_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(pg, name)
    finally:
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def cluster(database_url: str, servers: int) -> Iterator[Cluster]:
    """``servers`` `finales serve` processes on one database, set up as broker_load's."""
    home = tempfile.mkdtemp(prefix="finales-scaleout-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINALES_")}
    env |= {"FINALES_HOME": home, "FINALES_DATABASE_URL": database_url}

    def run(*args: str) -> str:
        return subprocess.run(
            [*CLI, *args], env=env, check=True, capture_output=True, text=True, cwd=broker_load.ROOT
        ).stdout.strip()

    run("db", "upgrade")
    run("user", "add", "requester", "--role", "admin")
    run("capability", "add", "examples/capability-conductivity.json")
    run("tenant", "add", "examples/tenant-robot.json")
    run("user", "add", "robot", "--role", "tenant", "--tenant", "robot")
    admin, robot = run("apikey", "create", "requester"), run("apikey", "create", "robot")
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for i in range(servers):
            port = broker_load.free_port()
            with open(Path(home) / f"server-{i}.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [*CLI, "serve", "--port", str(port), "--log-level", "warning"],
                        env=env,
                        cwd=broker_load.ROOT,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            broker_load.wait_up(url + "/healthz", timeout_s=60)
        yield Cluster(urls=urls, admin=admin, robot=robot, pids=[p.pid for p in procs])
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def cycle_contended(req: httpx.Client, bot: httpx.Client, lat: list[float]) -> None:
    """Post a request, then claim the oldest handed-out request this client can win."""
    t = time.perf_counter()
    req.post(
        "/api/v1/requests",
        json={
            "quantity": "conductivity",
            "methods": ["two_electrode"],
            "parameters": {"two_electrode": broker_load.PARAMS},
        },
    ).raise_for_status()
    for _ in range(CONTENDED_ROUNDS):
        work = bot.get("/api/v1/work", params={"limit": CONTENDED_WORK_LIMIT}).json()
        for item in work:
            claim = bot.post(f"/api/v1/requests/{item['id']}/claim")
            if claim.status_code == 409:
                continue  # another client, maybe on another server process, won it
            claim.raise_for_status()
            bot.post(
                "/api/v1/results",
                json={
                    "request_id": item["id"],
                    "quantity": "conductivity",
                    "method": "two_electrode",
                    "parameters": broker_load.PARAMS,
                    "data": {"conductivity": 1.0},
                },
            ).raise_for_status()
            lat.append(time.perf_counter() - t)
            return
    raise httpx.HTTPError(f"nothing claimable after {CONTENDED_ROUNDS} rounds")


def _worker(args: dict[str, Any], threads: int, out: Any) -> None:
    # In this (forked) worker process only, broker_load's clean cycle is swapped for the
    # contended one, so that its worker's threading, timing and counting are reused as-is.
    if args["mode"] == "contended":
        broker_load.cycle_clean = cycle_contended  # type: ignore[assignment]
    broker_load.worker({**args, "mode": "clean"}, threads, out)


def measure(c: Cluster, mode: str, clients: int, seconds: float) -> dict[str, Any]:
    per_server = [len(range(i, clients, len(c.urls))) for i in range(len(c.urls))]
    queue: Any = mp.Queue()
    cpu_before = c.cpu_s()
    procs = []
    for url, count in zip(c.urls, per_server, strict=True):
        args = {"url": url, "mode": mode, "seconds": seconds, "admin": c.admin, "robot": c.robot}
        while count > 0:
            n = min(broker_load.CLIENTS_PER_PROCESS, count)
            count -= n
            procs.append(mp.Process(target=_worker, args=(args, n, queue)))
    for p in procs:
        p.start()
    lat: list[float] = []
    errors = 0
    for _ in procs:
        got, err = queue.get()
        lat.extend(got)
        errors += err
    for p in procs:
        p.join()
    server_cpu_s = c.cpu_s() - cpu_before
    lat.sort()

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    return {
        "servers": len(c.urls),
        "mode": mode,
        "clients": clients,
        "cycles": len(lat),
        "errors": errors,
        "cycles_per_s": len(lat) / seconds,
        "p50_ms": pct(0.5),
        "p95_ms": pct(0.95),
        "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
        # Server CPU per cycle, all server processes together: what a core buys, whatever
        # else the machine is doing at the time.
        "server_cpu_ms_per_cycle": server_cpu_s * 1000 / len(lat) if lat else float("nan"),
    }


def audit(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:

        def count(sql: str) -> int:
            row = conn.execute(sql).fetchone()
            return int(row[0]) if row else 0

        return {
            "claims": count(CLAIMS_SQL),
            "double_claims": count(DOUBLE_CLAIMS_SQL),
            "multi_result_requests": count(MULTI_RESULT_SQL),
        }


def pg_version(pg: str) -> str:
    with psycopg.connect(pg) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--clients", type=int, nargs="+", default=[16])
    ap.add_argument("--modes", nargs="+", choices=["clean", "contended"], default=["clean"])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=1, help="repeat the whole set this often")
    ap.add_argument("--pg", default=DEFAULT_PG, help="an existing database on the server")
    ap.add_argument("--json", type=Path, help="also write the rows to this file")
    opts = ap.parse_args()
    rows = []
    load_before = os.getloadavg()
    # Rounds interleave the server counts, so that a burst of other work on a shared
    # machine does not land on one configuration only.
    for _round in range(opts.rounds):
        for clients in opts.clients:
            for mode in opts.modes:
                for servers in opts.servers:
                    with fresh_database(opts.pg) as url:
                        with cluster(url, servers) as c:
                            row = measure(c, mode, clients, opts.seconds)
                        row |= audit(url)
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, PostgreSQL {pg_version(opts.pg)} on the same machine; "
        f"servers, clients and PostgreSQL share the cores; load average before: "
        f"{load_before[0]:.1f}, after: {os.getloadavg()[0]:.1f}"
    )
    print(
        "| servers | mode | clients | cycles/s | p50 ms | p95 ms | errors | server CPU ms/cycle "
        "| claims | double claims | requests with >1 result |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['servers']} | {r['mode']} | {r['clients']} | {r['cycles_per_s']:.1f} | "
            f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['errors']} | "
            f"{r['server_cpu_ms_per_cycle']:.1f} | {r['claims']} | "
            f"{r['double_claims']} | {r['multi_result_requests']} |"
        )
    if opts.json:
        opts.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
