"""Long-poll wake-ups cross server processes on PostgreSQL (LISTEN/NOTIFY).

Two real ``finales serve`` processes share one fresh PostgreSQL database. Their periodic
re-check is set to 30 s, so a long-poll that returns within a few seconds of a change made
through the *other* process can only have been woken by a notification.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from finales.domain.principals import Role
from finales.server.pg_notify import LISTEN_APPLICATION
from finales.testing import LocalBroker, free_port
from tests.conftest import (
    LIMITS_B,
    PG_ADMIN_URL,
    REQUEST_SCHEMA,
    RESULT_SCHEMA,
    _pg_exec,
    _pg_url,
    _require_pg,
    params,
)

ROOT = Path(__file__).resolve().parents[2]
SERVE = [sys.executable, "-m", "finales.cli", "serve"]
RECHECK_S = 30.0  # far above WAKE_S: only a notification wakes a poll in time
WAKE_S = 5.0  # generous for a loaded 2-core machine; a notification takes milliseconds
POLL_S = 20.0
SETTLE_S = 1.0  # lets the long-poll reach its wait before the change is made


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url + "/api/v1",
            headers={"Authorization": f"Bearer {key}"},
            timeout=POLL_S + 10,
        )


@dataclass
class Pair:
    a: Server
    b: Server
    keys: dict[str, str]
    dbname: str


def _start(home: Path, database_url: str, name: str) -> Server:
    port = free_port()
    log = home.parent / f"server-{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINALES_")}
    env |= {
        "FINALES_HOME": str(home),
        "FINALES_DATABASE_URL": database_url,
        "FINALES_LONG_POLL_RECHECK_S": str(RECHECK_S),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*SERVE, "--port", str(port), "--log-level", "warning"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(proc=proc, url=f"http://127.0.0.1:{port}", log=log)


def _wait_up(server: Server) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert server.proc.poll() is None, server.log.read_text()
        try:
            if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.2)


def _listeners(dbname: str) -> set[int]:
    """Backend pids of the listen connections that have issued their LISTEN."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s"
            " AND query ILIKE 'LISTEN%%'",
            (dbname, LISTEN_APPLICATION),
        ).fetchall()
    return {int(r[0]) for r in rows}


def _wait_listening(dbname: str, *, count: int = 2, not_in: set[int] | None = None) -> set[int]:
    deadline = time.monotonic() + 30
    while True:
        pids = _listeners(dbname) - (not_in or set())
        if len(pids) >= count:
            return pids
        assert time.monotonic() < deadline, f"listeners: {pids}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def pair(pg_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Two servers on one fresh database, shared by this module's tests (starting two
    processes is the slow part); each test leaves no pending work behind."""
    _require_pg()
    dbname = f"finales_xproc_{uuid.uuid4().hex[:8]}"
    _pg_exec(f'CREATE DATABASE "{dbname}" TEMPLATE "{pg_template}"')
    database_url = _pg_url(dbname)
    home = tmp_path_factory.mktemp("xproc") / "home"
    setup = LocalBroker(home, database_url=database_url)  # set-up only: never started
    try:
        setup.add_capability("conductivity", "two_electrode", REQUEST_SCHEMA, RESULT_SCHEMA)
        tenant = setup.add_tenant(
            "robot",
            offers=[
                {"quantity": "conductivity", "method": "two_electrode", "limitations": LIMITS_B}
            ],
        )
        keys = {
            "admin": setup.add_user("admin", role=Role.ADMIN),
            "robot": setup.add_user("robot", role=Role.TENANT, tenant_id=tenant),
        }
    finally:
        setup.stop()
    servers = [_start(home, database_url, name) for name in ("a", "b")]
    try:
        for server in servers:
            _wait_up(server)
        _wait_listening(dbname)
        yield Pair(a=servers[0], b=servers[1], keys=keys, dbname=dbname)
    finally:
        for server in servers:
            if server.proc.poll() is None:
                server.proc.send_signal(signal.SIGINT)
        for server in servers:
            try:
                server.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait()
        _pg_exec(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def _post_request(client: httpx.Client) -> str:
    body = {
        "quantity": "conductivity",
        "methods": ["two_electrode"],
        "parameters": {"two_electrode": params()},
    }
    r = client.post("/requests", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _timed(call: Callable[[], httpx.Response]) -> tuple[float, Any]:
    """Run ``call``; return when it finished (monotonic) and its JSON body."""
    r = call()
    assert r.status_code == 200, r.text
    return time.monotonic(), r.json()


def _poll_then(
    poll: Callable[[], httpx.Response], change: Callable[[], Any]
) -> tuple[float, Any, Any]:
    """Start ``poll`` in a thread, make ``change`` once it waits; seconds from change to wake."""
    with ThreadPoolExecutor(1) as pool:
        waiting: Future[tuple[float, Any]] = pool.submit(_timed, poll)
        time.sleep(SETTLE_S)
        assert not waiting.done(), "the long-poll returned before the change"
        changed_at = time.monotonic()
        made = change()
        woke_at, body = waiting.result(timeout=POLL_S + 10)
    return woke_at - changed_at, body, made


def _wake_work(waiter: Server, poster: Server, keys: dict[str, str]) -> tuple[float, Any, Any]:
    with waiter.client(keys["robot"]) as robot, poster.client(keys["admin"]) as admin:
        return _poll_then(
            lambda: robot.get("/work", params={"wait": POLL_S}), lambda: _post_request(admin)
        )


def test_a_request_posted_on_one_process_wakes_work_polls_on_the_other(pair: Pair) -> None:
    for waiter, poster in ((pair.a, pair.b), (pair.b, pair.a)):
        took, work, rid = _wake_work(waiter, poster, pair.keys)
        assert [item["id"] for item in work] == [rid]
        assert took < WAKE_S, f"woken after {took:.1f} s: by the re-check, not a notification"
        with waiter.client(pair.keys["robot"]) as robot:  # out of the way of the next round
            assert robot.post(f"/requests/{rid}/claim").status_code == 200


def test_a_result_posted_on_one_process_wakes_result_polls_on_the_other(pair: Pair) -> None:
    with pair.a.client(pair.keys["admin"]) as admin, pair.b.client(pair.keys["robot"]) as robot:
        rid = _post_request(admin)

        def claim_and_post() -> str:
            assert robot.post(f"/requests/{rid}/claim").status_code == 200
            r = robot.post(
                "/results",
                json={
                    "request_id": rid,
                    "quantity": "conductivity",
                    "method": "two_electrode",
                    "parameters": params(),
                    "data": {"conductivity": 0.9},
                },
            )
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

        took, results, result_id = _poll_then(
            lambda: admin.get(f"/requests/{rid}/results", params={"wait": POLL_S}),
            claim_and_post,
        )
    assert [r["id"] for r in results] == [result_id]
    assert took < WAKE_S, f"woken after {took:.1f} s: by the re-check, not a notification"


def _terminate(pids: set[int]) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_the_listener_reconnects_after_its_backend_is_terminated(pair: Pair) -> None:
    old = _wait_listening(pair.dbname)
    _terminate(old)
    _wait_listening(pair.dbname, not_in=old)
    took, work, rid = _wake_work(pair.a, pair.b, pair.keys)
    assert [item["id"] for item in work] == [rid]
    assert took < WAKE_S, f"woken after {took:.1f} s: the listener did not come back"
    # A change made while the listener is down is not lost either: the reconnect wakes the
    # waiters to re-query (the notification itself went nowhere).
    with pair.a.client(pair.keys["robot"]) as robot:
        assert robot.post(f"/requests/{rid}/claim").status_code == 200
    current = _wait_listening(pair.dbname)

    def change_while_down() -> str:
        _terminate(current)
        with pair.b.client(pair.keys["admin"]) as admin:
            return _post_request(admin)

    with pair.a.client(pair.keys["robot"]) as robot:
        took, work, rid = _poll_then(
            lambda: robot.get("/work", params={"wait": POLL_S}), change_while_down
        )
    assert [item["id"] for item in work] == [rid]
    assert took < WAKE_S, f"woken after {took:.1f} s"
    with pair.a.client(pair.keys["robot"]) as robot:
        assert robot.post(f"/requests/{rid}/claim").status_code == 200
    # Each outage is logged once (not once per retry), and so is the recovery.
    log = pair.a.log.read_text()
    assert log.count("notification link lost") == 2, log
    assert log.count("notification link restored") == 2, log


def test_a_revocation_on_one_process_applies_to_the_next_call_on_the_other(pair: Pair) -> None:
    """Credentials cached by one process are forgotten when another revokes them: the
    revoking transaction notifies every process (the re-check is 30 s away here)."""
    with pair.a.client(pair.keys["admin"]) as admin_a:
        for round_ in range(5):
            name = f"revoked-{round_}-{uuid.uuid4().hex[:6]}"
            assert admin_a.post("/users", json={"name": name, "role": "reader"}).status_code == 201
            made = admin_a.post("/auth/api-keys", json={"principal": name}).json()
            with pair.b.client(made["key"]) as on_b, pair.a.client(made["key"]) as on_a:
                for c in (on_a, on_b):
                    assert c.get("/auth/me").status_code == 200  # cached in both processes
                if round_ % 2:
                    r = admin_a.delete(f"/auth/api-keys/{made['id']}")
                else:
                    r = admin_a.patch(f"/users/{name}", json={"disabled": True})
                assert r.status_code == 200, r.text
                for c in (on_b, on_a):
                    refused = c.get("/auth/me")
                    assert refused.status_code == 401, (round_, refused.text)
