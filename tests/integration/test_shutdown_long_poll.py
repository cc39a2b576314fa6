"""Long-polls at shutdown and after their client left.

Ctrl-C of a real ``finales serve`` answers the waiting long-polls normally (200, an empty
list) at once, not with a 500 after the graceful-shutdown timeout, and logs no traceback; a
long-poll whose client disconnected ends at once instead of at its deadline, so it holds no
waiter and no connection the shutdown would wait for.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from finales.domain.principals import Role
from finales.testing import free_port
from tests.conftest import (
    LIMITS_A,
    REQUEST_SCHEMA,
    RESULT_SCHEMA,
    Clock,
    Lab,
    local_broker,
    params,
)

ROOT = Path(__file__).resolve().parents[2]
SERVE = [sys.executable, "-m", "finales.cli", "serve"]
WAIT_S = 60  # what the clients ask for: far beyond every bound below
ANSWER_S = 3.0  # generous; the graceful-shutdown grace of `finales serve` is 5 s
SETTLE_S = 1.0  # lets the long-polls reach their wait


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    keys: dict[str, str]

    def client(self, who: str, *, read_s: float = WAIT_S + 10) -> httpx.Client:
        return httpx.Client(
            base_url=self.url + "/api/v1",
            headers={"Authorization": f"Bearer {self.keys[who]}"},
            timeout=httpx.Timeout(10, read=read_s),
        )


def _serve(database_url: str, tmp_path: Path, clock: Clock, workers: int) -> Served:
    setup = local_broker(database_url, tmp_path, clock)  # set-up only: never started
    try:
        setup.add_capability("conductivity", "two_electrode", REQUEST_SCHEMA, RESULT_SCHEMA)
        robot = setup.add_tenant(
            "robot",
            offers=[
                {"quantity": "conductivity", "method": "two_electrode", "limitations": LIMITS_A}
            ],
        )
        keys = {
            "admin": setup.add_user("admin", role=Role.ADMIN),
            "robot": setup.add_user("robot", role=Role.TENANT, tenant_id=robot),
        }
    finally:
        setup.stop()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINALES_")}
    env["FINALES_HOME"] = str(tmp_path / "home")
    if not database_url.startswith("sqlite"):
        env["FINALES_DATABASE_URL"] = database_url
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*SERVE, "--port", str(port), "--workers", str(workers)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    served = Served(proc=proc, url=f"http://127.0.0.1:{port}", log=log, keys=keys)
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(served.url + "/healthz", timeout=2).status_code == 200:
                return served
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.2)


@pytest.fixture
def served(workers: int, database_url: str, tmp_path: Path, clock: Clock) -> Iterator[Served]:
    """A real `finales serve` with ``workers`` processes (the test's parameter)."""
    server = _serve(database_url, tmp_path, clock, workers)
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def _poll(served: Served, path: str) -> tuple[float, httpx.Response]:
    with served.client("robot") as c:
        r = c.get(path, params={"wait": WAIT_S})
    return time.monotonic(), r


def _leave_mid_poll(served: Served) -> None:
    """A tenant that gives up (or exits) while its long-poll waits."""
    with served.client("robot", read_s=1.0) as c, pytest.raises(httpx.ReadTimeout):
        c.get("/work", params={"wait": WAIT_S})


# Several processes only on PostgreSQL, as the CLI allows (an SQLite database has one).
@pytest.mark.parametrize(
    ("backend", "workers"),
    [("sqlite", 1), ("postgresql", 1), ("postgresql", 2)],
    ids=["sqlite-1-process", "postgresql-1-process", "postgresql-2-processes"],
    indirect=["backend"],
)
def test_ctrl_c_answers_waiting_long_polls_normally(served: Served) -> None:
    # A request outside the robot's limitations: its work poll waits, and so does the poll
    # for the request's results.
    with served.client("admin") as admin:
        r = admin.post(
            "/requests",
            json={
                "quantity": "conductivity",
                "methods": ["two_electrode"],
                "parameters": {"two_electrode": params(temperature=350.0)},
            },
        )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]

    _leave_mid_poll(served)  # before the shutdown: it must hold nothing open
    with ThreadPoolExecutor(2) as pool:
        work = pool.submit(_poll, served, "/work")
        results = pool.submit(_poll, served, f"/requests/{rid}/results")
        time.sleep(SETTLE_S)
        assert not work.done() and not results.done(), "a long-poll returned before shutdown"
        stopped_at = time.monotonic()
        served.proc.send_signal(signal.SIGINT)
        answers = [work.result(timeout=30), results.result(timeout=30)]
    for answered_at, answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.json() == []
        assert answer.headers.get("connection") == "close"
        assert answered_at - stopped_at < ANSWER_S
    served.proc.wait(timeout=30)
    log = served.log.read_text()
    assert "Shutting down" in log or "Terminated child process" in log, log
    for sign in (
        "Traceback",
        "CancelledError",
        "Exception in ASGI application",
        "timeout graceful shutdown exceeded",
        '" 500',
    ):
        assert sign not in log, log


def _eventually(condition: Callable[[], bool], what: str, within_s: float = ANSWER_S) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_long_poll_ends_when_its_client_disconnects(served_lab: Lab) -> None:
    """The waiters of the server (a real uvicorn in this process) are gone as soon as their
    clients are, not at the 60 s deadline."""
    lab = served_lab
    notifier = lab.broker.state.notifier
    # Tenant-a's offers do not cover it (too hot): its work poll and the results poll wait.
    rid = lab.post_request(p=params(temperature=350.0))["id"]

    def give_up(path: str) -> None:
        with (
            httpx.Client(
                base_url=lab.broker.url + "/api/v1",
                headers={"Authorization": f"Bearer {lab.keys['a']}"},
                timeout=httpx.Timeout(10, read=2.0),
            ) as c,
            pytest.raises(httpx.ReadTimeout),
        ):
            c.get(path, params={"wait": WAIT_S})

    pollers = [
        threading.Thread(target=give_up, args=(path,))
        for path in ("/work", f"/requests/{rid}/results")
    ]
    for t in pollers:
        t.start()
    _eventually(lambda: notifier.waiting == 2, "both long-polls should be waiting")
    for t in pollers:
        t.join(timeout=10)
    _eventually(
        lambda: notifier.waiting == 0, f"{notifier.waiting} waiter(s) outlived their client"
    )

    # A poll whose client stays is still answered as before.
    assert lab.a.get("/work", params={"wait": 0.2}).json() == []
