"""Search latency at 10k and 100k results: p50/p95 of typical searches over HTTP, the time the
graph takes to build from the database, and the server's memory.

For each size a fresh SQLite database is filled through the services (unsolicited results of
three built-in capabilities - conductivity, density, viscosity - posted by three tenants,
with random LiPF6 fractions and temperatures, 500 per transaction), a broker is served on it
in this process, the first search builds the graph (timed), and one client then times
sequential calls of each search.

    .venv/bin/python benchmarks/search_latency.py --sizes 10000 100000 --calls 200

The searches (``QUERIES``): a concept with its sub-classes; a concept with a range on a
request parameter (the goal: p95 < 200 ms at 100k); that plus a temperature range in another
unit, a tenant and a time window; a range so narrow that it matches almost nothing (the worst
case of the plan: every result is looked at); and a SPARQL count through the endpoint.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from finales.capabilities import get as builtin  # noqa: E402
from finales.capabilities.examples import EC, EMC, EXAMPLES, LIPF6  # noqa: E402
from finales.domain.principals import Principal, Role  # noqa: E402
from finales.services import auth, capabilities, results, tenants  # noqa: E402
from finales.testing import LocalBroker  # noqa: E402

PAIRS = [
    ("conductivity", "two_electrode"),
    ("density", "vibrating_tube_densimetry"),
    ("viscosity", "rolling_ball_viscometry"),
]
QUERIES: dict[str, dict[str, Any]] = {
    "concept": {"concept": "electrochemical quantity"},
    "concept + range": {
        "concept": "ionic conductivity",
        "where": "amount fraction of LiPF6:0.08..0.10 mol/mol",
    },
    "concept + 2 ranges + tenant + time": {
        "concept": "ionic conductivity",
        "where": ["amount fraction of LiPF6:0.08..0.10 mol/mol", "temperature:20..30 degC"],
        "tenant": "lab-1",
        "since": "2026-01-01T00:00:00Z",
    },
    "concept + rare range (worst case)": {
        "concept": "ionic conductivity",
        "where": "ionic conductivity:1.4990..1.4991 S/m",
    },
}
SPARQL_COUNT = (
    "PREFIX finales: <urn:finales:vocab#> "
    'SELECT (COUNT(?r) AS ?n) WHERE { ?r a finales:Result ; finales:method "two_electrode" }'
)


def _formulation(x_li: float, x_ec: float) -> list[dict[str, Any]]:
    parts = [(LIPF6, x_li), (EC, x_ec), (EMC, round(1 - x_li - x_ec, 6))]
    return [{"chemical": dict(c), "fraction": f, "fraction_type": "molPerMol"} for c, f in parts]


def _result(rng: random.Random, pair: tuple[str, str]) -> dict[str, Any]:
    x_li, x_ec = round(rng.uniform(0.02, 0.15), 4), round(rng.uniform(0.1, 0.5), 4)
    temperature = round(rng.uniform(283.15, 333.15), 2)
    data = copy.deepcopy(EXAMPLES[pair]["result"])
    data["run_info"]["formulation"] = _formulation(x_li, x_ec)
    block = data[pair[0]]
    block["values"] = [round(rng.uniform(0.1, 1.5), 4)]
    block["temperature"] = temperature
    return {
        "quantity": pair[0],
        "method": pair[1],
        "parameters": {"formulation": _formulation(x_li, x_ec), "temperature": temperature},
        "data": data,
    }


def fill(broker: LocalBroker, n: int, seed: int = 0) -> str:
    """``n`` results through the services; returns a reader's API key."""
    rng = random.Random(seed)
    admin = Principal(id="bench", name="bench", role=Role.ADMIN)
    tx = broker.state.tx
    with tx.write() as uow:
        for pair in PAIRS:
            cap = builtin(*pair)
            capabilities.register_capability(
                uow,
                principal=admin,
                quantity=pair[0],
                method=pair[1],
                request_schema=cap.request_schema(),
                result_schema=cap.result_schema(),
            )
        robots = []
        for i in range(3):
            tid = tenants.add_tenant(uow, principal=admin, name=f"lab-{i}").id
            user = auth.add_principal(uow, name=f"bot-{i}", role=Role.TENANT, tenant_id=tid)
            robots.append(Principal(id=user.id, name=user.name, role=Role.TENANT, tenant_id=tid))
        auth.add_principal(uow, name="reader", role=Role.READER)
        key = auth.create_api_key(uow, principal_name="reader").key
    validators = broker.state.validators
    done = 0
    while done < n:
        with tx.write() as uow:
            for _ in range(min(500, n - done)):
                results.post_result(
                    uow,
                    principal=rng.choice(robots),
                    request_id=None,
                    validators=validators,
                    **_result(rng, rng.choice(PAIRS)),
                )
                done += 1
    return key


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _times(call: Any, calls: int) -> tuple[float, float, Any, float]:
    """p50 and p95 wall-clock ms, the first answer, and the CPU ms per call of this process
    (server and client: what the machine's other load does not inflate much)."""
    first = call()
    samples = []
    cpu0 = time.process_time()
    for _ in range(calls):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
    cpu_ms = (time.process_time() - cpu0) * 1000 / calls
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))], first, cpu_ms


def prepared(home: Path, n: int) -> tuple[LocalBroker, str, float]:
    """A broker on ``home`` holding ``n`` results (filled once: ``home/reader.key`` marks a
    finished fill, so a later run reuses the database)."""
    marker = home / "reader.key"
    broker = LocalBroker(home, clock=_now)
    if marker.exists():
        return broker, marker.read_text(), 0.0
    t0 = time.perf_counter()
    key = fill(broker, n)
    marker.write_text(key)
    return broker, key, time.perf_counter() - t0


def run(n: int, calls: int, keep: Path | None, fill_only: bool = False) -> list[str]:
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = keep / f"n{n}" if keep else Path(tmp)
        home.mkdir(parents=True, exist_ok=True)
        broker, key, fill_s = prepared(home, n)
        if fill_only:
            print(f"N={n}: filled in {fill_s:.0f} s ({home})", flush=True)
            return rows
        rss_before = _rss_mib()
        t0 = time.perf_counter()  # the graph is built in the background from the start
        with (
            broker,
            httpx.Client(
                base_url=broker.url + "/api/v1",
                headers={"Authorization": f"Bearer {key}"},
                timeout=600,
            ) as http,
        ):
            while True:  # 503 while the graph is being built
                r = http.get("/search", params={"concept": "density", "limit": 1})
                if r.status_code != 503:
                    break
            r.raise_for_status()
            build_s = time.perf_counter() - t0
            rss_after = _rss_mib()
            print(
                f"N={n}: filled in {fill_s:.0f} s; graph built in {build_s:.1f} s "
                f"(server start to first answer); RSS {rss_before:.0f} -> {rss_after:.0f} MiB",
                flush=True,
            )
            for name, params in QUERIES.items():
                p50, p95, first, cpu = _times(
                    lambda params=params: http.get("/search", params=params).raise_for_status(),
                    calls,
                )
                hits = len(first.json()["items"])
                rows.append(f"| {n:,} | {name} | {hits} | {p50:.1f} | {p95:.1f} | {cpu:.1f} |")
                print(rows[-1], flush=True)
            p50, p95, first, cpu = _times(
                lambda: http.post("/sparql", json={"query": SPARQL_COUNT}).raise_for_status(),
                max(10, calls // 10),
            )
            count = first.json()["results"]["bindings"][0]["n"]["value"]
            rows.append(
                f"| {n:,} | SPARQL count (forked query) | {count} | {p50:.1f} | {p95:.1f} |"
            )
            print(rows[-1], flush=True)
    return rows


_START = None


def _now() -> Any:
    """Results spread over the days before now (one second apart), so that ``since`` cuts."""
    from datetime import UTC, datetime

    global _START
    if _START is None:
        _START = datetime.now(UTC) - timedelta(days=30)
    _START += timedelta(seconds=1)
    return _START


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--keep", type=Path, help="keep (and reuse) the filled databases here")
    ap.add_argument("--fill-only", action="store_true", help="fill the databases and stop")
    a = ap.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}, {platform.platform()}")
    print(f"load average at start: {os.getloadavg()}")
    table = [
        "| results | search | hits | p50 ms | p95 ms | CPU ms/call |",
        "|---|---|---|---|---|---|",
    ]
    for n in a.sizes:
        table += run(n, a.calls, a.keep, a.fill_only)
    print("\n".join(table))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (filler, server and client): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
