"""Scaling with history: hand-out and listing latency with 1k, 10k and 100k stored requests and
results. Prints Markdown tables (latency per N, and p95 at the largest N over p95 at the
smallest) and, with ``--explain``, the query plans of the hot queries.

    .venv/bin/python benchmarks/history_scaling.py --sizes 1000 10000 100000 --calls 300
    .venv/bin/python benchmarks/history_scaling.py --database-url postgresql://postgres@127.0.0.1/test

For each N a fresh database is migrated and filled in bulk (SQLAlchemy core inserts that follow
the schema: records, one event per status change, the projections those events imply); the
projections are checked against a rebuild from the events (``finales.services.integrity``).
Then a real ``finales serve`` runs on it and one client times sequential calls. The live
queue (pending and reserved requests) has a fixed size by default - history grows, the backlog
of a working lab does not; ``--backlog-fraction`` makes it grow with N instead.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import sqlalchemy as sa
from broker_load import ROOT, free_port, wait_up

from finales.db import tables as t
from finales.db.engine import Database
from finales.db.migrate import upgrade
from finales.domain.leases import utcnow
from finales.domain.principals import Principal, Role
from finales.domain.views import OfferView
from finales.services import auth, capabilities, integrity, tenants
from finales.services import requests as request_svc
from finales.services import results as result_svc
from finales.services import work as work_svc
from finales.services.common import encode_cursor
from finales.services.unit_of_work import Transactions

PARAM_SCHEMA = {
    "type": "object",
    "properties": {
        "temperature": {"type": "number", "description": "Unit: kelvin"},
        "lipf6_molality": {"type": "number", "minimum": 0, "description": "Unit: mol/kg"},
    },
    "required": ["temperature", "lipf6_molality"],
    "additionalProperties": False,
}
RESULT_SCHEMA = {
    "type": "object",
    "properties": {"value": {"type": "number"}},
    "required": ["value"],
    "additionalProperties": False,
}
WIDE = {"temperature": [{"min": 250.0, "max": 340.0}], "lipf6_molality": [{"min": 0, "max": 4}]}
# (quantity, method, serving tenant, share of requests)
CAPABILITIES = (
    ("conductivity", "two_electrode", "robot", 0.45),
    ("conductivity", "impedance", "impedance_rig", 0.15),
    ("density", "pycnometer", "densimeter", 0.25),
    ("viscosity", "rheometer", "rheometer", 0.15),
)
MULTI_METHOD_SHARE = 0.1  # of conductivity requests: two_electrode or impedance
# The probe asks for work: it serves conductivity/two_electrode, but only at 350-360 K, which
# only PROBE_MATCHES pending requests ask for; every other pending request of the same
# capability is a candidate that the limitations matcher must turn down.
PROBE_TEMPERATURE = {"min": 350.0, "max": 360.0}
PROBE_MATCHES = 5
BATCH_ROWS = 10_000
RECENT = 200
KEY_PREFIX = "FINALES_"


@dataclass
class Seeded:
    url: str
    n: int
    admin_key: str
    probe_key: str
    probe: Principal
    request_ids: list[str]
    deep_cursor: str
    recent: datetime  # created_at of the 200th newest request: ?since= returns a full page
    counts: dict[str, int] = field(default_factory=dict)
    seed_s: float = 0.0


# --------------------------------------------------------------------------------- seeding


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _params(rng: random.Random, *, probe: bool = False) -> dict[str, float]:
    temperature = 355.0 if probe else round(rng.uniform(273.15, 333.15), 2)
    return {"temperature": temperature, "lipf6_molality": round(rng.uniform(0.1, 3.0), 3)}


def _setup(db: Database, now: datetime) -> dict[str, Any]:
    """Capabilities, tenants with offers, principals and keys, through the services."""
    admin = Principal(id="bench", name="bench", role=Role.ADMIN)
    out: dict[str, Any] = {"cap": {}, "tenant": {}, "principal": {}}
    with Transactions(db, clock=lambda: now).write() as uow:
        s = uow.conn
        for quantity, method, _, _ in CAPABILITIES:
            capabilities.register_capability(
                uow,
                principal=admin,
                quantity=quantity,
                method=method,
                request_schema=PARAM_SCHEMA,
                result_schema=RESULT_SCHEMA,
            )
        out["cap"] = {
            r.method: r.id
            for r in s.execute(sa.select(t.capabilities.c.method, t.capabilities.c.id))
        }
        offers_of: dict[str, list[OfferView]] = {"optimiser": []}
        for quantity, method, tenant, _ in CAPABILITIES:
            offers_of[tenant] = [OfferView(quantity, method, WIDE)]
        offers_of["probe"] = [
            OfferView(
                "conductivity",
                "two_electrode",
                {"temperature": [PROBE_TEMPERATURE], "lipf6_molality": []},
            )
        ]
        for name, offers in offers_of.items():
            tid = tenants.add_tenant(uow, principal=admin, name=name).id
            if offers:
                tenants.set_offers(uow, principal=admin, tenant_id=tid, offers=offers)
            user = auth.add_principal(uow, name=name, role=Role.TENANT, tenant_id=tid)
            out["tenant"][name] = tid
            out["principal"][name] = Principal(
                id=user.id, name=user.name, role=user.role, tenant_id=user.tenant_id
            )
        auth.add_principal(uow, name="admin", role=Role.ADMIN)
        out["admin_key"] = auth.create_api_key(uow, principal_name="admin").key
        out["probe_key"] = auth.create_api_key(uow, principal_name="probe").key
    return out


def _statuses(n: int, rng: random.Random, *, pending: int, reserved: int) -> list[str]:
    """A status per request index: the live queue is recent, plus a few old stragglers."""
    status = ["resolved"] * n
    recent = list(range(max(0, n - max(4 * (pending + reserved), n // 10)), n))
    live = rng.sample(recent, min(len(recent), pending + reserved))
    stragglers = rng.sample(range(n), min(n, max(1, pending // 20)))
    for i in live[:reserved]:
        status[i] = "reserved"
    for i in live[reserved:] + stragglers:
        status[i] = "pending"
    for share, name in ((1, "retracted"), (3, "unsolicited")):
        for i in rng.sample(range(n), share * n // 100):
            if status[i] == "resolved":
                status[i] = name
    return status


class History:
    """Rows of ``n`` requests and their results as the live broker would have written them:
    records, one event per status change, and the projections those events leave."""

    def __init__(self, setup: dict[str, Any], rng: random.Random, now: datetime) -> None:
        self.cap, self.tid, self.prin = setup["cap"], setup["tenant"], setup["principal"]
        self.serving = {m: tenant for _, m, tenant, _ in CAPABILITIES}
        self.rng, self.now = rng, now
        self.rows: dict[str, list[dict[str, Any]]] = {
            name: []
            for name in (
                "requests",
                "request_methods",
                "request_state",
                "request_events",
                "results",
                "result_state",
                "result_events",
            )
        }
        self.request_ids: list[str] = []
        self.pending_two_electrode: list[int] = []
        self.resolved_results: list[int] = []  # indices of the results of resolved requests

    # -- requests
    def request(self, seq: int, created: datetime, status: str) -> None:
        quantity, method, _, _ = self.rng.choices(CAPABILITIES, [c[3] for c in CAPABILITIES])[0]
        methods = [method]
        if quantity == "conductivity" and self.rng.random() < MULTI_METHOD_SHARE:
            methods = ["two_electrode", "impedance"]
        params = {m: _params(self.rng) for m in methods}
        if status == "pending" and "two_electrode" in methods:
            self.pending_two_electrode.append(seq - 1)
        worker = self.serving[methods[0]]
        requester = worker if status == "unsolicited" else "optimiser"
        rid = _uuid(self.rng)
        self.request_ids.append(rid)
        self.rows["requests"].append(
            {
                "seq": seq,
                "id": rid,
                "quantity": quantity,
                "methods": methods,
                "parameters": params,
                "capability_ids": {m: self.cap[m] for m in methods},
                "requester_principal_id": self.prin[requester].id,
                "requester_tenant_id": self.tid[requester],
                "parent_request_id": None,
                "created_at": created,
            }
        )
        self.rows["request_methods"].extend({"request_seq": seq, "method": m} for m in methods)
        state = {"request_seq": seq, "quantity": quantity, "status": status}
        state.update(reserved_by=None, lease_expires_at=None, updated_at=created)
        self.rows["request_state"].append(state)
        first = "unsolicited" if status == "unsolicited" else "pending"
        self._event(seq, created, requester, None, first, tenant_id=self.tid[requester])
        claimed, done = created + timedelta(seconds=0.5), created + timedelta(seconds=1)
        if status == "unsolicited":
            self.result(seq, quantity, method, params[method], created, requester)
        elif status == "pending" and self.rng.random() < 0.2:  # a lease that ran out once
            self._claim(seq, claimed, worker, lease=claimed + timedelta(seconds=0.2))
            self._event(seq, done, "system", "reserved", "pending", message="lease expired")
            state["updated_at"] = done
        elif status == "reserved":
            lease = self.now + timedelta(days=1)
            self._claim(seq, claimed, worker, lease=lease)
            state.update(reserved_by=self.tid[worker], lease_expires_at=lease, updated_at=claimed)
        elif status == "resolved":
            self._claim(seq, claimed, worker, lease=self.now + timedelta(days=1))
            row = self.result(seq, quantity, methods[0], params[methods[0]], done, worker)
            self.resolved_results.append(row["seq"] - 1)
            self._event(
                seq,
                done,
                worker,
                "reserved",
                "resolved",
                tenant_id=self.tid[worker],
                message=f"result {row['id']}",
            )
            state.update(reserved_by=self.tid[worker], updated_at=done)
        elif status == "retracted":
            self._event(seq, claimed, requester, "pending", "retracted")
            state["updated_at"] = claimed

    def _claim(self, seq: int, at: datetime, worker: str, *, lease: datetime) -> None:
        tid = self.tid[worker]
        self._event(seq, at, worker, "pending", "reserved", tenant_id=tid, lease=lease)

    def _event(
        self, seq: int, at: datetime, actor: str, frm: str | None, to: str, **kw: Any
    ) -> None:
        self.rows["request_events"].append(
            {
                "request_seq": seq,
                "at": at,
                "actor": actor,
                "tenant_id": kw.get("tenant_id"),
                "from_status": frm,
                "to_status": to,
                "message": kw.get("message", "claimed" if to == "reserved" else ""),
                "lease_expires_at": kw.get("lease"),
            }
        )

    def probe_matches(self, count: int) -> None:
        """Turn ``count`` pending two_electrode requests into ones the probe can serve."""
        picked = self.rng.sample(
            self.pending_two_electrode, min(count, len(self.pending_two_electrode))
        )
        for i in picked:
            self.rows["requests"][i]["parameters"]["two_electrode"] = _params(self.rng, probe=True)

    # -- results
    def result(
        self, seq: int, quantity: str, method: str, params: dict[str, Any], at: datetime, who: str
    ) -> dict[str, Any]:
        row = {
            "seq": len(self.rows["results"]) + 1,
            "id": _uuid(self.rng),
            "request_seq": seq,
            "quantity": quantity,
            "method": method,
            "parameters": params,
            "data": {"value": round(self.rng.uniform(0, 2), 4)},
            "capability_id": self.cap[method],
            "tenant_id": self.tid[who],
            "principal_id": self.prin[who].id,
            "supersedes": None,
            "created_at": at,
        }
        self.rows["results"].append(row)
        self.rows["result_state"].append(
            {
                "result_seq": row["seq"],
                "status": "original",
                "superseded_by": None,
                "updated_at": at,
            }
        )
        self._result_event(row["seq"], at, who, None, "original", "posted")
        return row

    def _result_event(
        self, seq: int, at: datetime, actor: str, frm: str | None, to: str, message: str
    ) -> None:
        self.rows["result_events"].append(
            {
                "result_seq": seq,
                "at": at,
                "actor": actor,
                "from_status": frm,
                "to_status": to,
                "message": message,
            }
        )

    def amend(self, k: int) -> None:
        """Supersede result ``k`` by a new one, linked both ways."""
        old = self.rows["results"][k]
        at = old["created_at"] + timedelta(seconds=1.5)
        who = next(w for w, v in self.tid.items() if v == old["tenant_id"])
        new = self.result(
            old["request_seq"], old["quantity"], old["method"], old["parameters"], at, who
        )
        new["supersedes"] = old["id"]
        self.rows["result_events"][-1]["message"] = f"amends {old['id']}"
        self.rows["result_state"][k].update(
            status="amended", superseded_by=new["id"], updated_at=at
        )
        self._result_event(old["seq"], at, who, "original", "amended", f"amended by {new['id']}")

    def delete(self, k: int) -> None:
        state = self.rows["result_state"][k]
        at = state["updated_at"] + timedelta(seconds=0.1)
        self._result_event(k + 1, at, "admin", state["status"], "deleted", "deleted")
        state.update(status="deleted", updated_at=at)

    def write(self, db: Database) -> None:
        # Event order is time order, as when live (amendments and deletions come later).
        self.rows["result_events"].sort(key=lambda e: e["at"])
        with db.write() as s:
            for name, rows in self.rows.items():
                for i in range(0, len(rows), BATCH_ROWS):
                    s.execute(t.metadata.tables[name].insert(), rows[i : i + BATCH_ROWS])


def seed(url: str, n: int, *, pending: int, reserved: int, rng_seed: int = 1) -> Seeded:
    """Fill an empty database at ``url`` with ``n`` requests and ``n`` results."""
    started = time.perf_counter()
    rng = random.Random(rng_seed)
    db = Database(url)
    try:
        upgrade(db)
        now = utcnow()
        setup = _setup(db, now)
        history = History(setup, rng, now)
        status = _statuses(n, rng, pending=pending, reserved=reserved)
        t0 = now - timedelta(seconds=2 * n + 3600)
        for i in range(n):
            history.request(i + 1, t0 + timedelta(seconds=2 * i), status[i])
        history.probe_matches(PROBE_MATCHES)
        # Amendments bring the result count to n; about 1 % of results are soft-deleted.
        resolved = history.resolved_results
        extra = max(0, min(len(resolved), n - len(history.rows["results"])))
        for k in rng.sample(resolved, extra):
            history.amend(k)
        results = len(history.rows["results"])
        for k in rng.sample(range(results), results // 100):
            history.delete(k)
        history.write(db)
        if db.dialect == "postgresql":
            _after_bulk_postgresql(db)
        with db.read() as s:
            problems = integrity.projection_mismatches(s)
        if problems:
            raise RuntimeError(f"seeded database is inconsistent: {problems[:5]}")
        counts = {name: status.count(name) for name in sorted(set(status))}
        counts.update({name: len(rows) for name, rows in history.rows.items() if "event" in name})
        counts["results"] = results
        return Seeded(
            url=url,
            n=n,
            admin_key=setup["admin_key"],
            probe_key=setup["probe_key"],
            probe=setup["principal"]["probe"],
            request_ids=history.request_ids,
            deep_cursor=encode_cursor(int(n * 0.9)),
            recent=history.rows["requests"][max(0, n - RECENT)]["created_at"],
            counts=counts,
            seed_s=time.perf_counter() - started,
        )
    finally:
        db.dispose()


def _after_bulk_postgresql(db: Database) -> None:
    """Explicit ``seq`` values bypass the sequences: move them past the rows. ANALYZE as
    autovacuum would shortly after a bulk load."""
    with db.engine.begin() as conn:
        for table in ("requests", "request_events", "results", "result_events"):
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'seq'), "
                f"(SELECT max(seq) FROM {table}))"
            )
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")


# --------------------------------------------------------------------------------- databases


@contextmanager
def fresh_database(base_url: str | None, n: int) -> Iterator[tuple[str, Path]]:
    """A new empty database (SQLite file, or a PostgreSQL database next to ``base_url``)."""
    home = Path(tempfile.mkdtemp(prefix=f"finales-hist-{n}-"))
    if not base_url:
        try:
            yield f"sqlite:///{home / 'finales.db'}", home
        finally:
            shutil.rmtree(home, ignore_errors=True)
        return
    name = f"finales_hist_{n}_{os.getpid()}"
    admin = sa.create_engine(base_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield sa.engine.make_url(base_url).set(database=name).render_as_string(False), home
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def serve(url: str, home: Path) -> Iterator[str]:
    """A real ``finales serve`` process on ``url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(KEY_PREFIX)}
    env.update(FINALES_HOME=str(home), FINALES_DATABASE_URL=url)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "finales.cli",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base + "/healthz")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --------------------------------------------------------------------------------- timing


def endpoints(seeded: Seeded, rng: random.Random) -> dict[str, Callable[[], tuple[str, str]]]:
    """Name -> a function giving (credential, path) for the next call."""
    ids = seeded.request_ids
    admin, probe = seeded.admin_key, seeded.probe_key
    since = quote(seeded.recent.isoformat())
    return {
        "GET /work (probe tenant)": lambda: (probe, "/api/v1/work?limit=10"),
        "GET /requests?status=pending": lambda: (admin, "/api/v1/requests?status=pending"),
        "GET /requests?status=resolved": lambda: (admin, "/api/v1/requests?status=resolved"),
        "GET /requests (first page)": lambda: (admin, "/api/v1/requests"),
        "GET /requests (deep page, cursor at 90 %)": lambda: (
            admin,
            f"/api/v1/requests?cursor={seeded.deep_cursor}",
        ),
        "GET /requests?since= (last 200)": lambda: (admin, f"/api/v1/requests?since={since}"),
        "GET /results (first page)": lambda: (admin, "/api/v1/results"),
        "GET /requests/{id}": lambda: (admin, f"/api/v1/requests/{rng.choice(ids)}"),
        "GET /requests/{id}/history": lambda: (
            admin,
            f"/api/v1/requests/{rng.choice(ids)}/history",
        ),
        "GET /requests/{id}/results": lambda: (
            admin,
            f"/api/v1/requests/{rng.choice(ids)}/results",
        ),
    }


WARM_UP_CALLS = 10


def time_interleaved(
    servers: dict[int, tuple[str, Seeded]], name: str, calls: int
) -> dict[int, list[float]]:
    """Time one endpoint on every N, one call each in turn, so that the load of a shared
    machine falls on all sizes alike. Returns sorted latencies (ms) per N."""
    rngs = {n: random.Random(2) for n in servers}
    makers = {n: endpoints(seeded, rngs[n])[name] for n, (_, seeded) in servers.items()}
    lat: dict[int, list[float]] = {n: [] for n in servers}
    clients = {n: httpx.Client(base_url=base, timeout=60) for n, (base, _) in servers.items()}
    try:
        for i in range(calls + WARM_UP_CALLS):
            for n, client in clients.items():
                key, path = makers[n]()
                started = time.perf_counter()
                r = client.get(path, headers={"Authorization": f"Bearer {key}"})
                elapsed = time.perf_counter() - started
                r.raise_for_status()
                if i >= WARM_UP_CALLS:  # the first calls warm caches and connections
                    lat[n].append(elapsed * 1000)
    finally:
        for client in clients.values():
            client.close()
    return {n: sorted(v) for n, v in lat.items()}


def pct(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


# --------------------------------------------------------------------------------- plans


def hot_queries(seeded: Seeded) -> dict[str, Callable[[Any], Any]]:
    rid = seeded.request_ids[len(seeded.request_ids) // 2]
    return {
        "work (probe)": lambda s: work_svc.work(s, principal=seeded.probe, now=utcnow()),
        "requests?status=pending": lambda s: request_svc.list_requests(s, status="pending"),
        "requests?status=resolved": lambda s: request_svc.list_requests(s, status="resolved"),
        "requests first page": lambda s: request_svc.list_requests(s),
        "requests deep page": lambda s: request_svc.list_requests(s, cursor=seeded.deep_cursor),
        "requests since (last 200)": lambda s: request_svc.list_requests(s, since=seeded.recent),
        "results first page": lambda s: result_svc.list_results(s),
        "results?status=original": lambda s: result_svc.list_results(s, status="original"),
        "request by id": lambda s: request_svc.get_request(s, rid),
        "request history": lambda s: request_svc.history(s, rid),
        "results of request": lambda s: result_svc.results_of_request(s, rid),
        "lease sweep (read part)": lambda s: request_svc.leases_due(s, utcnow()),
    }


def explain(url: str, seeded: Seeded) -> list[str]:
    """The plan of every SELECT the hot service calls issue, as the database sees them."""
    db = Database(url)
    lines: list[str] = []
    try:
        for name, fn in hot_queries(seeded).items():
            seen: list[tuple[str, Any]] = []

            def grab(
                _c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: Any
            ) -> None:
                if statement.lstrip().upper().startswith("SELECT"):
                    seen.append((statement, params))  # noqa: B023 - used right away

            sa.event.listen(db.engine, "before_cursor_execute", grab)
            try:
                with db.read() as s:
                    fn(s)
            finally:
                sa.event.remove(db.engine, "before_cursor_execute", grab)
            lines.append(f"### {name}")
            with db.engine.connect() as conn:
                for statement, params in _unique(seen):
                    lines.append("    " + " ".join(statement.split())[:160])
                    lines.extend("      " + p for p in _plan(conn, statement, params))
    finally:
        db.dispose()
    return lines


def _unique(seen: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    out, keys = [], set()
    for statement, params in seen:
        if statement not in keys:
            keys.add(statement)
            out.append((statement, params))
    return out


def _plan(conn: sa.Connection, statement: str, params: Any) -> list[str]:
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
        return [r[3] for r in rows]
    rows = conn.exec_driver_sql("EXPLAIN " + statement, params).all()
    return [r[0] for r in rows]


# --------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--calls", type=int, default=300, help="timed calls per endpoint and N")
    ap.add_argument("--database-url", help="a PostgreSQL server URL; default: SQLite files")
    ap.add_argument("--pending", type=int, default=100, help="pending requests at every N")
    ap.add_argument("--reserved", type=int, default=20, help="reserved requests at every N")
    ap.add_argument(
        "--backlog-fraction",
        type=float,
        help="instead: pending = fraction * N, reserved = a fifth of that",
    )
    ap.add_argument("--explain", action="store_true", help="print the hot queries' plans")
    ap.add_argument("--explain-only", action="store_true", help="seed and explain, no timing")
    opts = ap.parse_args()
    results: dict[str, dict[int, list[float]]] = {}
    notes = []
    with ExitStack() as stack:
        servers: dict[int, tuple[str, Seeded]] = {}
        for n in opts.sizes:
            pending, reserved = opts.pending, opts.reserved
            if opts.backlog_fraction is not None:
                pending = int(opts.backlog_fraction * n)
                reserved = pending // 5
            url, home = stack.enter_context(fresh_database(opts.database_url, n))
            seeded = seed(url, n, pending=pending, reserved=reserved)
            notes.append(
                f"N={n}: seeded in {seeded.seed_s:.1f} s, projections consistent; "
                + ", ".join(f"{k} {v}" for k, v in seeded.counts.items())
            )
            print(notes[-1], file=sys.stderr, flush=True)
            if opts.explain or opts.explain_only:
                print(f"\n## Query plans at N={n} ({url.split(':')[0]})\n")
                print("\n".join(explain(url, seeded)), flush=True)
            if not opts.explain_only:
                servers[n] = (stack.enter_context(serve(url, home)), seeded)
        names = list(endpoints(seeded, random.Random())) if servers else []
        for name in names:
            results[name] = time_interleaved(servers, name, opts.calls)
            summary = ", ".join(
                f"N={n} p50 {pct(v, 0.5):.1f} p95 {pct(v, 0.95):.1f}"
                for n, v in results[name].items()
            )
            print(f"  {name}: {summary} ms", file=sys.stderr, flush=True)
    if results:
        print_tables(opts, results, notes)


def print_tables(opts: Any, results: dict[str, dict[int, list[float]]], notes: list[str]) -> None:
    backend = "PostgreSQL" if opts.database_url else "SQLite (WAL)"
    print(
        f"\nmachine: {platform.platform()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {backend}; server and client on the same machine; "
        f"{opts.calls} sequential calls per endpoint and N, the sizes taking turns call by call "
        f"(after {WARM_UP_CALLS} warm-up calls)\n"
    )
    for note in notes:
        print(f"- {note}")
    sizes = opts.sizes
    print("\n| endpoint | N | p50 ms | p95 ms | p99 ms | mean ms |")
    print("|---|---|---|---|---|---|")
    for name, by_n in results.items():
        for n in sizes:
            lat = by_n[n]
            print(
                f"| {name} | {n:,} | {pct(lat, 0.5):.1f} | {pct(lat, 0.95):.1f} | "
                f"{pct(lat, 0.99):.1f} | {statistics.fmean(lat):.1f} |"
            )
    lo, hi = sizes[0], sizes[-1]
    head = " | ".join(f"p95 {n:,}" for n in sizes)
    print(f"\n| endpoint | {head} | p95({hi:,}) / p95({lo:,}) | p50({hi:,}) / p50({lo:,}) |")
    print("|---|" + "---|" * len(sizes) + "---|---|")
    for name, by_n in results.items():
        cells = " | ".join(f"{pct(by_n[n], 0.95):.1f}" for n in sizes)
        p95 = pct(by_n[hi], 0.95) / pct(by_n[lo], 0.95)
        p50 = pct(by_n[hi], 0.5) / pct(by_n[lo], 0.5)
        print(f"| {name} | {cells} | {p95:.2f} | {p50:.2f} |")


if __name__ == "__main__":
    main()
