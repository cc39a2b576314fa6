"""Broker load: C concurrent clients repeat the full cycle (post request, get work, claim,
post result) for a fixed time, against finales (clean API and FINALES 2 routes) and against
the framework ceiling (benchmarks/ceiling_app.py). Prints a Markdown table.

    .venv/bin/python benchmarks/broker_load.py --clients 1 4 16 64 --seconds 10

Clients are threads spread over worker processes (one process per 8 clients) so that the
load generator is not bound by one interpreter lock. Server and clients share the machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PARAMS = {"temperature": 298.15, "lipf6_molality": 1.0}
CLIENTS_PER_PROCESS = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start_finales() -> tuple[subprocess.Popen[bytes], str, str, str]:
    home = tempfile.mkdtemp(prefix="finales-bench-")
    env = {**os.environ, "FINALES_HOME": home}
    cli = [sys.executable, "-m", "finales.cli"]

    def run(*args: str) -> str:
        return subprocess.run(
            [*cli, *args], env=env, check=True, capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()

    run("user", "add", "requester", "--role", "admin")
    run("capability", "add", "examples/capability-conductivity.json")
    run("tenant", "add", "examples/tenant-robot.json")
    run("user", "add", "robot", "--role", "tenant", "--tenant", "robot")
    admin_key, robot_key = run("apikey", "create", "requester"), run("apikey", "create", "robot")
    port = free_port()
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_up(url + "/healthz")
    return proc, url, admin_key, robot_key


def start_ceiling() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(Path(__file__).parent),
            "ceiling_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_up(url + "/api/v1/work")
    return proc, url


def cycle_clean(req: httpx.Client, bot: httpx.Client, lat: list[float]) -> None:
    t = time.perf_counter()
    rid = req.post(
        "/api/v1/requests",
        json={
            "quantity": "conductivity",
            "methods": ["two_electrode"],
            "parameters": {"two_electrode": PARAMS},
        },
    ).json()["id"]
    bot.get("/api/v1/work", params={"limit": 1})
    bot.post(f"/api/v1/requests/{rid}/claim").raise_for_status()
    bot.post(
        "/api/v1/results",
        json={
            "request_id": rid,
            "quantity": "conductivity",
            "method": "two_electrode",
            "parameters": PARAMS,
            "data": {"conductivity": 1.0},
        },
    ).raise_for_status()
    lat.append(time.perf_counter() - t)


def cycle_finales2(req: httpx.Client, bot: httpx.Client, lat: list[float], tenant: str) -> None:
    t = time.perf_counter()
    rid = req.post(
        "/requests/",
        json={
            "quantity": "conductivity",
            "methods": ["two_electrode"],
            "parameters": {"two_electrode": PARAMS},
            "tenant_uuid": tenant,
        },
    ).json()
    bot.get(f"/requests/{rid}")
    bot.post(
        f"/requests/{rid}/update_status/", params={"request_id": rid, "new_status": "reserved"}
    ).raise_for_status()
    bot.post(
        "/results/",
        json={
            "data": {"conductivity": 1.0},
            "quantity": "conductivity",
            "method": ["two_electrode"],
            "parameters": {"two_electrode": PARAMS},
            "tenant_uuid": tenant,
            "request_uuid": rid,
        },
    ).raise_for_status()
    lat.append(time.perf_counter() - t)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def worker(args: dict[str, Any], threads: int, out: Any) -> None:
    stop_at = time.monotonic() + args["seconds"]
    lats: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads

    def loop(i: int) -> None:
        with (
            httpx.Client(
                base_url=args["url"],
                timeout=30,
                headers=_auth(args["admin"]),
            ) as req,
            httpx.Client(
                base_url=args["url"],
                timeout=30,
                headers=_auth(args["robot"]),
            ) as bot,
        ):
            while time.monotonic() < stop_at:
                try:
                    if args["mode"] == "finales2":
                        cycle_finales2(req, bot, lats[i], args["tenant"])
                    else:
                        cycle_clean(req, bot, lats[i])
                except httpx.HTTPError:
                    errors[i] += 1

    ts = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(([x for lat in lats for x in lat], sum(errors)))


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    url: str,
    mode: str,
    clients: int,
    seconds: float,
    admin: str = "",
    robot: str = "",
    tenant: str = "",
    server_pid: int | None = None,
) -> dict[str, Any]:
    args = {
        "url": url,
        "mode": mode,
        "seconds": seconds,
        "admin": admin,
        "robot": robot,
        "tenant": tenant,
    }
    queue: Any = mp.Queue()
    cpu_before = cpu_seconds(server_pid)
    procs, left = [], clients
    while left > 0:
        n = min(CLIENTS_PER_PROCESS, left)
        left -= n
        p = mp.Process(target=worker, args=(args, n, queue))
        p.start()
        procs.append(p)
    lat: list[float] = []
    errors = 0
    for _ in procs:
        got, err = queue.get()
        lat.extend(got)
        errors += err
    for p in procs:
        p.join()
    server_cpu = cpu_seconds(server_pid) - cpu_before
    lat.sort()

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    return {
        "mode": mode,
        "clients": clients,
        "cycles": len(lat),
        "errors": errors,
        "cycles_per_s": len(lat) / seconds,
        "p50_ms": pct(0.5),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
        # Server CPU per cycle: what the broker costs, whatever else the machine is doing.
        "server_cpu_ms": server_cpu * 1000 / len(lat) if lat and server_pid else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--json", type=Path, help="also write the rows to this file")
    opts = ap.parse_args()
    rows = []
    fin, url, admin, robot = start_finales()
    ceiling, curl = start_ceiling()
    try:
        tenant = httpx.get(
            url + "/api/v1/auth/me", headers={"Authorization": f"Bearer {robot}"}
        ).json()["tenant_id"]
        for c in opts.clients:
            rows.append(measure(curl, "ceiling", c, opts.seconds, server_pid=ceiling.pid))
            rows.append(measure(url, "clean", c, opts.seconds, admin, robot, server_pid=fin.pid))
            rows.append(
                measure(url, "finales2", c, opts.seconds, admin, robot, tenant, server_pid=fin.pid)
            )
    finally:
        for p in (fin, ceiling):
            p.terminate()
            p.wait(timeout=30)
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; server and clients on the same machine; SQLite"
    )
    print(
        "| clients | route set | cycles/s | p50 ms | p95 ms | p99 ms | errors "
        "| server CPU ms/cycle | ratio to ceiling |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    ceil = {r["clients"]: r["cycles_per_s"] for r in rows if r["mode"] == "ceiling"}
    for r in rows:
        ratio = r["cycles_per_s"] / ceil[r["clients"]] if ceil.get(r["clients"]) else float("nan")
        print(
            f"| {r['clients']} | {r['mode']} | {r['cycles_per_s']:.1f} | {r['p50_ms']:.1f} | "
            f"{r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | {r['server_cpu_ms']:.2f} | "
            f"{ratio:.2f} |"
        )
    if opts.json:
        opts.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
