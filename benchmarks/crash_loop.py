"""Crash loop: `kill -9` the broker under load, again and again, then audit the database.

    .venv/bin/python benchmarks/crash_loop.py --kills 50
    .venv/bin/python benchmarks/crash_loop.py --kills 20 --database-url postgresql://postgres@127.0.0.1:5432/crash

C client threads (each acting for one of two tenants) repeat a cycle over the clean API: post a
request, claim it, heartbeat, and post a result (some requests are left pending, some are
released instead). Every call goes to a real `finales serve` process; through an outage a
client retries the same call (creating calls with the same Idempotency-Key), as the SDK
does. Every request and result the server acknowledged (2xx with an id) is recorded. The
server is SIGKILLed at a random moment, restarted on the same database, N times.

Then the audit, on the database itself: every acknowledged request and result is there; the
status projections equal a rebuild from the events (finales.services.integrity); every
event chain is a legal walk of the lifecycle (no second claim without a release or expiry in
between, no result without its resolved request, ...); every request and result was created
by exactly one Idempotency-Key (retries made no duplicates); on SQLite `PRAGMA
integrity_check` and `foreign_key_check` are clean. Any 5xx (other than a retryable 503) or
unexpected answer during the load is reported too.

tests/acceptance/test_crash_recovery.py runs a short version of this in the suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from finales.db import tables as t
from finales.db.engine import Database
from finales.db.migrate import upgrade
from finales.domain.principals import Principal, Role
from finales.domain.views import OfferView
from finales.services import auth, capabilities, tenants
from finales.services.integrity import projection_mismatches
from finales.services.unit_of_work import Transactions

ROOT = Path(__file__).resolve().parents[1]
SERVE = [sys.executable, "-m", "finales.cli", "serve"]
Q, M = "conductivity", "two_electrode"
SCHEMA = {
    "type": "object",
    "properties": {"temperature": {"type": "number"}},
    "required": ["temperature"],
    "additionalProperties": False,
}
RESULT_SCHEMA = {
    "type": "object",
    "properties": {"conductivity": {"type": "number"}},
    "required": ["conductivity"],
    "additionalProperties": False,
}
# Every legal (from, to) of a request's event chain; reserved -> reserved is a heartbeat.
LEGAL = {
    (None, "pending"),
    (None, "unsolicited"),
    ("pending", "reserved"),
    ("reserved", "reserved"),
    ("reserved", "pending"),
    ("reserved", "resolved"),
    ("pending", "retracted"),
    ("reserved", "retracted"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------ set-up


def prepare(database_url: str) -> dict[str, Any]:
    """Migrate; an admin, a capability, two tenants with a principal and an API key each."""
    db = Database(database_url)
    setup = Principal(id="crash-loop", name="crash-loop", role=Role.ADMIN)
    try:
        upgrade(db)
        with Transactions(db).write() as uow:
            capabilities.register_capability(
                uow,
                principal=setup,
                quantity=Q,
                method=M,
                request_schema=SCHEMA,
                result_schema=RESULT_SCHEMA,
            )
            auth.add_principal(uow, name="requester", role=Role.ADMIN)
            keys = {"admin": auth.create_api_key(uow, principal_name="requester").key}
            tenant_ids = {}
            for name in ("robot-1", "robot-2"):
                tid = tenants.add_tenant(uow, principal=setup, name=name).id
                offer = OfferView(Q, M, {})
                tenants.set_offers(uow, principal=setup, tenant_id=tid, offers=[offer])
                auth.add_principal(uow, name=f"bot-{name}", role=Role.TENANT, tenant_id=tid)
                keys[name] = auth.create_api_key(uow, principal_name=f"bot-{name}").key
                tenant_ids[name] = tid
    finally:
        db.dispose()
    return {"keys": keys, "tenants": tenant_ids}


class Server:
    """`finales serve` as a real process on a fixed port and data directory."""

    def __init__(self, home: Path, database_url: str | None, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FINALES_")}
        self.env["FINALES_HOME"] = str(home)
        if database_url and not database_url.startswith("sqlite"):
            self.env["FINALES_DATABASE_URL"] = database_url
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60) -> float:
        """Start and wait until healthy; returns the seconds it took."""
        began = time.monotonic()
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [*SERVE, "--port", str(self.port), "--log-level", "warning"],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=fh,
                cwd=ROOT,
            )
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return time.monotonic() - began
            except httpx.TransportError:
                pass
            if time.monotonic() - began > timeout_s:
                raise RuntimeError("the server did not come up")
            time.sleep(0.05)

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)


# ------------------------------------------------------------------------------ load


@dataclass
class Record:
    """What the clients saw: acknowledged ids, answers, outages, and anything unexpected."""

    requests: dict[str, str] = field(default_factory=dict)  # request id -> idempotency key
    results: dict[str, str] = field(default_factory=dict)  # result id -> request id
    request_keys: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    outages: int = 0
    replays: int = 0  # answers replayed for a retried key: the first answer was lost in a crash
    anomalies: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acked(self) -> int:
        with self.lock:
            return len(self.requests) + len(self.results)


class Client(threading.Thread):
    def __init__(
        self, n: int, url: str, setup: dict[str, Any], rec: Record, stop: threading.Event
    ) -> None:
        super().__init__(name=f"client-{n}", daemon=True)
        self.n, self.rec, self.stop = n, rec, stop
        self.tenant = ("robot-1", "robot-2")[n % 2]
        self.tenant_id = setup["tenants"][self.tenant]
        self.giving_up = threading.Event()  # set when the run is over and the server is gone
        self.admin = httpx.Client(
            base_url=url + "/api/v1", timeout=10, headers=_bearer(setup["keys"]["admin"])
        )
        self.bot = httpx.Client(
            base_url=url + "/api/v1", timeout=10, headers=_bearer(setup["keys"][self.tenant])
        )

    def call(self, http: httpx.Client, method: str, path: str, **kw: Any) -> httpx.Response | None:
        """Send until the server answers (other than 503); None once the run gives up."""
        while not self.giving_up.is_set():
            try:
                r = http.request(method, path, **kw)
            except httpx.TransportError:
                with self.rec.lock:
                    self.rec.outages += 1
                time.sleep(0.05)
                continue
            with self.rec.lock:
                self.rec.statuses[r.status_code] += 1
                self.rec.replays += int(r.headers.get("Idempotent-Replayed") == "true")
            if r.status_code == 503:
                time.sleep(0.05)
                continue
            return r
        return None

    def odd(self, what: str, r: httpx.Response) -> None:
        with self.rec.lock:
            self.rec.anomalies.append(f"{self.name} {what}: {r.status_code} {r.text[:200]}")

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                self.cycle(i)
            except Exception as exc:  # a client bug must show in the report, not vanish
                with self.rec.lock:
                    self.rec.anomalies.append(f"{self.name} crashed: {exc!r}")
                return
        self.admin.close()
        self.bot.close()

    def cycle(self, i: int) -> None:
        key = f"c{self.n}-req-{i}"
        with self.rec.lock:
            self.rec.request_keys.add(key)
        body = {"quantity": Q, "methods": [M], "parameters": {M: {"temperature": 280.0 + i}}}
        r = self.call(self.admin, "POST", "/requests", json=body, headers=_idem(key))
        if r is None:
            return
        if r.status_code != 201:
            return self.odd("post request", r)
        rid = r.json()["id"]
        with self.rec.lock:
            self.rec.requests[rid] = key
        if i % 4 == 0:
            return  # left pending
        if not self.claim(rid):
            return
        if i % 5 == 0:
            self.release(rid)
            return
        r = self.call(self.bot, "POST", f"/requests/{rid}/heartbeat", json={})
        if r is None:
            return
        if r.status_code != 200:
            return self.odd("heartbeat", r)
        result = {
            "request_id": rid,
            "quantity": Q,
            "method": M,
            "parameters": {"temperature": 280.0 + i},
            "data": {"conductivity": i / 1000},
        }
        r = self.call(self.bot, "POST", "/results", json=result, headers=_idem(f"{key}-result"))
        if r is None:
            return
        if r.status_code != 201:  # a retry finds the first answer: the key is kept with it
            return self.odd("post result", r)
        with self.rec.lock:
            self.rec.results[r.json()["id"]] = rid

    def claim(self, rid: str) -> bool:
        r = self.call(self.bot, "POST", f"/requests/{rid}/claim", json={"lease_seconds": 300})
        if r is None:
            return False
        if r.status_code == 200:
            return True
        if r.status_code == 409:  # an attempt cut off by a crash may have won already
            mine = self.call(self.bot, "GET", f"/requests/{rid}")
            if mine is not None and mine.json().get("reserved_by") == self.tenant_id:
                return True
        self.odd("claim", r)
        return False

    def release(self, rid: str) -> None:
        r = self.call(self.bot, "POST", f"/requests/{rid}/release", json={"message": "test"})
        if r is None or r.status_code == 200:
            return
        if r.status_code == 409:  # released by an attempt cut off by a crash?
            now = self.call(self.bot, "GET", f"/requests/{rid}")
            if now is not None and now.json().get("status") == "pending":
                return
        self.odd("release", r)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _idem(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


# ------------------------------------------------------------------------------ audit


def audit(database_url: str, rec: Record) -> list[str]:
    """Everything that must hold after the crashes; returns the problems found (none: ok)."""
    problems: list[str] = []
    db = Database(database_url)
    try:
        with db.read() as s:
            problems += projection_mismatches(s)
            problems += _check_acknowledged(s, rec)
            problems += _check_chains(s)
            problems += _check_idempotency(s)
        if db.dialect == "sqlite":
            with db.engine.connect() as conn:
                check = conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
                if check != ["ok"]:
                    problems.append(f"PRAGMA integrity_check: {check[:5]}")
                fk = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                if fk:
                    problems.append(f"PRAGMA foreign_key_check: {fk[:5]}")
    finally:
        db.dispose()
    return problems


def _check_acknowledged(s: Any, rec: Record) -> list[str]:
    seq_of = dict(s.execute(sa.select(t.requests.c.id, t.requests.c.seq)).all())
    result_req = dict(s.execute(sa.select(t.results.c.id, t.results.c.request_seq)).all())
    out = [f"acknowledged request {rid} is missing" for rid in rec.requests if rid not in seq_of]
    for res_id, rid in rec.results.items():
        if res_id not in result_req:
            out.append(f"acknowledged result {res_id} is missing")
        elif result_req[res_id] != seq_of.get(rid):
            out.append(f"acknowledged result {res_id} is not attached to request {rid}")
    return out


def _check_chains(s: Any) -> list[str]:
    """Each request's and result's events are a legal walk; results match resolutions."""
    out: list[str] = []
    chains: dict[int, list[Any]] = defaultdict(list)
    for ev in s.execute(sa.select(t.request_events).order_by(t.request_events.c.seq)):
        chains[ev.request_seq].append(ev)
    results: dict[int, list[Any]] = defaultdict(list)
    for row in s.execute(sa.select(t.results.c.id, t.results.c.request_seq, t.results.c.tenant_id)):
        results[row.request_seq].append(row)
    all_seqs = set(s.scalars(sa.select(t.requests.c.seq)).all())
    for seq in all_seqs - set(chains):
        out.append(f"request {seq} has no events")
    for seq, chain in chains.items():
        prev = None
        holder = None
        for ev in chain:
            step = (ev.from_status, ev.to_status)
            if ev.from_status != prev or step not in LEGAL:
                out.append(f"request {seq}: illegal step {step} after {prev}")
            if step == ("reserved", "reserved") and ev.message != "heartbeat":
                out.append(f"request {seq}: reserved twice without a release or expiry")
            if step == ("pending", "reserved"):
                holder = ev.tenant_id
            prev = ev.to_status
        posted = results.get(seq, [])
        if prev == "resolved":
            if len(posted) != 1 or posted[0].tenant_id != holder:
                out.append(f"request {seq}: resolved by {holder} with results {posted}")
            elif chain[-1].message != f"result {posted[0].id}":
                out.append(f"request {seq}: the resolving event names another result")
        elif prev != "unsolicited" and posted:
            out.append(f"request {seq} is {prev} but has results {posted}")
    for seq in set(results) - all_seqs:
        out.append(f"results {results[seq]} belong to no request")
    res_chains: dict[int, list[Any]] = defaultdict(list)
    for ev in s.execute(sa.select(t.result_events).order_by(t.result_events.c.seq)):
        res_chains[ev.result_seq].append(ev)
    result_seqs = set(s.scalars(sa.select(t.results.c.seq)).all())
    if set(res_chains) != result_seqs:
        out.append("results and result events disagree on which results exist")
    for seq, chain in res_chains.items():
        if (chain[0].from_status, chain[0].to_status) != (None, "original"):
            out.append(f"result {seq} does not start as original")
    return out


def _check_idempotency(s: Any) -> list[str]:
    """Every stored request/result was created under exactly one Idempotency-Key."""
    made: Counter[str] = Counter()
    for row in s.execute(sa.select(t.idempotency_keys.c.key, t.idempotency_keys.c.body)):
        made[row.body["id"]] += 1
    out = [f"{oid} is the answer of {n} different keys" for oid, n in made.items() if n > 1]
    for table in (t.requests, t.results):
        ids = set(s.scalars(sa.select(table.c.id)).all())
        orphans = ids - set(made)
        if orphans:
            out.append(f"{len(orphans)} {table.name} without their key (duplicates?)")
    return out


# ------------------------------------------------------------------------------ the loop


@dataclass
class Report:
    kills: int
    clients: int
    backend: str
    seconds: float
    acked_requests: int
    acked_results: int
    acked_at_kills: list[int]
    restart_s: list[float]
    outages: int
    replays: int
    statuses: dict[str, int]
    anomalies: list[str]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.anomalies and not self.problems


def run_crash_loop(
    home: Path,
    *,
    database_url: str | None = None,
    kills: int = 5,
    clients: int = 4,
    between_s: tuple[float, float] = (0.8, 1.6),
    seed: int = 0,
) -> Report:
    """Load, SIGKILL, restart, ``kills`` times; then stop the load and audit."""
    home.mkdir(parents=True, exist_ok=True)
    url = database_url or f"sqlite:///{home / 'finales.db'}"
    setup = prepare(url)
    rng = random.Random(seed)
    server = Server(home, url, home / "server.log")
    rec = Record()
    stop = threading.Event()
    began = time.monotonic()
    restart_s = [server.start()]
    workers = [Client(n, server.url, setup, rec, stop) for n in range(clients)]
    acked_at_kills = []
    try:
        for w in workers:
            w.start()
        for _ in range(kills):
            time.sleep(rng.uniform(*between_s))
            server.kill()
            acked_at_kills.append(rec.acked())
            time.sleep(rng.uniform(0.0, 0.3))  # the clients meet a closed port meanwhile
            restart_s.append(server.start())
        time.sleep(rng.uniform(*between_s))
        stop.set()
        for w in workers:
            w.join(timeout=60)
            w.giving_up.set()  # only matters if the server is gone for good
        problems = audit(url, rec)
        problems += [f"{w.name} did not stop" for w in workers if w.is_alive()]
    finally:
        for w in workers:
            w.giving_up.set()
        if server.proc is not None and server.proc.poll() is None:
            server.kill(signal.SIGTERM)
    return Report(
        kills=kills,
        clients=clients,
        backend="sqlite" if url.startswith("sqlite") else "postgresql",
        seconds=round(time.monotonic() - began, 1),
        acked_requests=len(rec.requests),
        acked_results=len(rec.results),
        acked_at_kills=acked_at_kills,
        restart_s=[round(x, 2) for x in restart_s],
        outages=rec.outages,
        replays=rec.replays,
        statuses={str(k): v for k, v in sorted(rec.statuses.items())},
        anomalies=rec.anomalies,
        problems=problems,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILL + restart cycles")
    parser.add_argument("--clients", type=int, default=6, help="client threads")
    parser.add_argument(
        "--between", type=float, nargs=2, default=(1.0, 2.5), metavar=("MIN_S", "MAX_S")
    )
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="finales-crash-") as tmp:
        report = run_crash_loop(
            Path(tmp) / "home",
            database_url=args.database_url,
            kills=args.kills,
            clients=args.clients,
            between_s=tuple(args.between),
            seed=args.seed,
        )
    data = asdict(report)
    print(
        f"{report.backend}: {report.kills} kills in {report.seconds} s, {report.clients} clients, "
        f"{report.acked_requests} requests and {report.acked_results} results acknowledged, "
        f"{report.outages} calls met an outage, {report.replays} retries got the first answer "
        f"replayed; restart to healthy "
        f"{min(report.restart_s[1:], default=0)}-{max(report.restart_s[1:], default=0)} s"
    )
    print(f"answers: {report.statuses}")
    print(f"on {platform.machine()} with {os.cpu_count()} CPUs, Python {platform.python_version()}")
    for line in report.anomalies + report.problems:
        print("PROBLEM:", line)
    print("audit: ok" if report.ok else "audit: FAILED")
    if args.json:
        args.json.write_text(json.dumps(data, indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
