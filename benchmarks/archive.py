"""Archiving N results: the first run's wall time and bytes uploaded, and a second run's after
new results arrive (goal: under 5 % of the first), against the InvenioRDM test double.

    .venv/bin/python benchmarks/archive.py --results 100000 --new 1000
    .venv/bin/python benchmarks/archive.py --results 100000 --database-url postgresql://postgres@127.0.0.1:5432/test

The database is filled in bulk (``history_scaling``'s seeding: every record, one event per
status change, the projections), with the N requests spread evenly over ``--months`` months
up to now; an archiver principal bound to its tenant is added. Then a real ``finales serve``
and the double (``python -m finales.archive.invenio_double``) run as processes, and
``finales archive run --once --json`` runs as a process three times: first (creates the
record), after ``--new`` results posted through the API by a tenant (this month), and once
more with nothing new. Wall time is the whole process (start-up, snapshot over HTTP, cutting,
JSON-LD, upload, publish, recording in the broker); bytes are the file bytes uploaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from broker_load import ROOT, free_port
from history_scaling import History, _setup, _statuses, fresh_database, serve

from finales.capabilities import get
from finales.client import FinalesClient
from finales.db.engine import Database
from finales.db.migrate import upgrade
from finales.domain.leases import utcnow
from finales.domain.principals import Principal, Role
from finales.services import auth, capabilities, tenants
from finales.services.unit_of_work import Transactions

TOKEN = "bench-token"
DOUBLE = [sys.executable, "-m", "finales.archive.invenio_double"]
ARCHIVE = [sys.executable, "-m", "finales.cli", "archive", "run"]
ADMIN = Principal(id="bench", name="bench", role=Role.ADMIN)


def seed(
    url: str, n: int, months: int, *, full_last: bool = False, rng_seed: int = 1
) -> dict[str, Any]:
    """N requests and results over ``months`` months, plus an archiver; returns keys. With
    ``full_last`` the current month (or week) so far holds a whole period's share, as at the
    end of a period: the worst case for what a later run re-sends."""
    rng = random.Random(rng_seed)
    db = Database(url)
    try:
        upgrade(db)
        now = utcnow()
        setup = _setup(db, now)
        history = History(setup, rng, now)
        status = _statuses(n, rng, pending=105, reserved=20)
        span = timedelta(days=30.4 * months)
        t0 = now - span
        times = [t0 + span * (i / n) for i in range(n)]
        if full_last is not None:
            period_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            if full_last == "week":
                period_start = (now - timedelta(days=now.weekday())).replace(
                    hour=0, minute=0, second=0, microsecond=0
                )
            share = n // (months if full_last == "month" else round(months * 30.4 / 7))
            before = n - share
            times = [t0 + (period_start - t0) * (i / before) for i in range(before)]
            times += [period_start + (now - period_start) * (i / share) for i in range(share)]
        for i in range(n):
            history.request(i + 1, times[i], status[i])
        resolved = history.resolved_results
        extra = max(0, min(len(resolved), n - len(history.rows["results"])))
        for k in rng.sample(resolved, extra):
            history.amend(k)
        history.write(db)
        if db.dialect == "postgresql":
            from history_scaling import _after_bulk_postgresql

            _after_bulk_postgresql(db)
        with Transactions(db).write() as uow:
            cap = get("archive", "deposit")
            capabilities.register_capability(
                uow,
                principal=ADMIN,
                quantity="archive",
                method="deposit",
                request_schema=cap.request_schema(),
                result_schema=cap.result_schema(),
            )
            tid = tenants.add_tenant(uow, principal=ADMIN, name="archiver").id
            auth.add_principal(uow, name="archiver-bot", role=Role.ARCHIVER, tenant_id=tid)
            archiver_key = auth.create_api_key(uow, principal_name="archiver-bot").key
            robot_key = auth.create_api_key(uow, principal_name="robot").key
        return {
            "archiver_key": archiver_key,
            "robot_key": robot_key,
            "results": len(history.rows["results"]),
        }
    finally:
        db.dispose()


@contextmanager
def double(port: int) -> Any:
    proc = subprocess.Popen(
        [*DOUBLE, "--port", str(port), "--token", TOKEN],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/api/records", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the double did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def archive_run(config: Path, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    proc = subprocess.run(
        [*ARCHIVE, "--config", str(config), "--once", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=ROOT,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return wall, json.loads(proc.stdout)


def post_new(url: str, key: str, n: int) -> None:
    """``n`` unsolicited results of the robot, posted through the API now."""
    rng = random.Random(7)
    with FinalesClient(url, api_key=key) as client:
        for _ in range(n):
            client.post_result(
                quantity="conductivity",
                method="two_electrode",
                parameters={
                    "temperature": round(rng.uniform(273.15, 333.15), 2),
                    "lipf6_molality": round(rng.uniform(0.1, 3.0), 3),
                },
                data={"value": round(rng.uniform(0, 2), 4)},
            )


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} vCPU {cpu}, Linux {platform.release()}, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at start"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--compress", action="store_true", help="files.compress: true")
    parser.add_argument("--cut", choices=["month", "week"], default="month", help="files.cut")
    parser.add_argument(
        "--full-last-period",
        action="store_true",
        help="the current period holds a whole period's share (the end-of-period worst case)",
    )
    opts = parser.parse_args()
    print(machine())
    print(
        f"{opts.results} results over {opts.months} months, files.cut {opts.cut}, compress "
        f"{opts.compress}, full last period {opts.full_last_period}"
    )
    with fresh_database(opts.database_url, opts.results) as (url, home):
        t = time.perf_counter()
        keys = seed(
            url, opts.results, opts.months, full_last=opts.cut if opts.full_last_period else None
        )
        print(
            f"seeded {keys['results']} results in {time.perf_counter() - t:.1f} s "
            f"({url.split(':')[0]})"
        )
        with serve(url, home) as broker, double(free_port()) as archive:
            config = Path(tempfile.mkdtemp()) / "archive.yaml"
            config.write_text(
                json.dumps(  # JSON is YAML
                    {
                        "id": "bench",
                        "target": {
                            "kind": "invenio",
                            "url": archive,
                            "token": {"env": "BENCH_TOKEN"},
                        },
                        "record": {
                            "title": "Benchmark archive",
                            "description": "history_scaling's lab, archived",
                            "creators": [{"family_name": "Bench"}],
                        },
                        "files": {"compress": opts.compress, "cut": opts.cut},
                    }
                )
            )
            env = {k: v for k, v in os.environ.items() if not k.startswith("FINALES_")}
            env.update(
                FINALES_SERVER_URL=broker,
                FINALES_API_KEY=keys["archiver_key"],
                BENCH_TOKEN=TOKEN,
            )
            rows = []
            wall, first = archive_run(config, env)
            rows.append(("first run", wall, first))
            t = time.perf_counter()
            post_new(broker, keys["robot_key"], opts.new)
            print(f"posted {opts.new} new results in {time.perf_counter() - t:.1f} s")
            wall, second = archive_run(config, env)
            rows.append((f"after {opts.new} new results", wall, second))
            wall, idle = archive_run(config, env)
            rows.append(("nothing new", wall, idle))
    print()
    print("| run | wall s | action | version | files | files sent | bytes sent | share of first |")
    print("|---|---|---|---|---|---|---|---|")
    base = first["bytes"] or 1
    for name, wall, s in rows:
        sent = s["bytes"] or 0
        print(
            f"| {name} | {wall:.1f} | {s['action']} | {s['version']} | {s['files']} | "
            f"{len(s['upload'])} | {sent:,} | {100 * sent / base:.2f} % |"
        )


if __name__ == "__main__":
    main()
