"""Login flood: the latency of an authenticated cheap GET while F threads send wrong-password
logins as fast as they can, against a real ``finales serve`` (SQLite) on this machine.

    .venv/bin/python benchmarks/login_flood.py --flooders 40 --seconds 10
    .venv/bin/python benchmarks/login_flood.py --no-rate-limit   # the login pool alone
    .venv/bin/python benchmarks/login_flood.py --checkout /tmp/before  # an older tree

Phases: idle (the GET alone), then the flood (the GET from one thread while the flooders
run). Prints p50/p95/max of the GET in both phases and what the flooders got back (status
counts). The flooders use distinct user names (a per-user limit alone would stop one name at
once); with the rate limit on, the per-address limit answers most of them 429 without hashing.
Server and clients share the machine: the flooders run in a separate process.
"""

from __future__ import annotations

import argparse
import collections
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(checkout: Path, rate_limit: bool) -> tuple[subprocess.Popen[bytes], str, str]:
    home = tempfile.mkdtemp(prefix="finales-flood-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINALES_")}
    env |= {"FINALES_HOME": home, "PYTHONPATH": str(checkout / "src")}
    if not rate_limit:
        env |= {"FINALES_LOGIN_RATE_PER_USER": "", "FINALES_LOGIN_RATE_PER_ADDRESS": ""}
    cli = [sys.executable, "-m", "finales.cli"]

    def run(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [*cli, *args], env=env, check=True, capture_output=True, text=True, input=stdin
        )
        return done.stdout.strip()

    run("user", "add", "admin", "--role", "admin", "--password-stdin", stdin="admin-password\n")
    for i in range(4):
        run(
            "user", "add", f"user{i}", "--role", "reader", "--password-stdin", stdin="pw-pw-pw-pw\n"
        )
    key = run("apikey", "create", "admin")
    port = free_port()
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not come up")
        time.sleep(0.1)
    return proc, url, key


def probe(url: str, key: str, seconds: float) -> list[float]:
    """Latencies (ms) of GET /api/v1/auth/me, one after another, for ``seconds``."""
    out = []
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
        c.get("/api/v1/auth/me").raise_for_status()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            c.get("/api/v1/auth/me").raise_for_status()
            out.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)
    return out


def flood(url: str, flooders: int, stop: Any, counts: Any) -> None:
    """Run in a separate process: ``flooders`` threads of wrong-password logins."""
    tally: collections.Counter[int] = collections.Counter()
    lock = threading.Lock()

    def one(i: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            while not stop.is_set():
                r = c.post(
                    "/api/v1/auth/token",
                    data={"username": f"user{i % 4}", "password": f"wrong-{i}-{time.time()}"},
                )
                with lock:
                    tally[r.status_code] += 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(flooders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts.update({str(k): v for k, v in tally.items()})


def stats(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=100)
    return f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, max {max(ms):.1f} ms (n={len(ms)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--flooders", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--no-rate-limit", action="store_true", help="limit nothing: the pool alone")
    ap.add_argument("--checkout", type=Path, default=ROOT, help="the source tree to serve")
    args = ap.parse_args()
    proc, url, key = start(args.checkout, rate_limit=not args.no_rate_limit)
    try:
        idle = probe(url, key, args.seconds)
        with mp.Manager() as manager:
            stop, counts = manager.Event(), manager.dict()
            flooder = mp.Process(target=flood, args=(url, args.flooders, stop, counts))
            flooder.start()
            time.sleep(1.0)  # let the flood build up
            busy = probe(url, key, args.seconds)
            stop.set()
            flooder.join()
            got = dict(counts)
    finally:
        proc.terminate()
        proc.wait()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; checkout {args.checkout}; "
        f"rate limit {'off' if args.no_rate_limit else 'on'}; {args.flooders} flooders"
    )
    print(f"idle : {stats(idle)}")
    print(f"flood: {stats(busy)}")
    ratio = statistics.quantiles(busy, n=100)[94] / statistics.quantiles(idle, n=100)[94]
    print(f"p95 under flood / idle p95: {ratio:.1f}x; flood answers: {got}")


if __name__ == "__main__":
    main()
