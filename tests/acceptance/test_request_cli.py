"""``finales request submit|list|show|history|wait|results|retract`` as real subprocesses
against a served broker, on SQLite and PostgreSQL: text and ``--json``, the warning for a
request no offer covers, the live status of ``wait``, the local database for reads, and
one-line errors."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from finales.domain.principals import Role
from finales.testing import LocalBroker
from tests.acceptance.cli import FINALES, ROOT, _env, run_process
from tests.conftest import (
    LIMITS_A,
    REQUEST_SCHEMA,
    RESULT_SCHEMA,
    Clock,
    local_broker,
    require_finales2_examples,
)

WARNING = "warning: no tenant's offer covers this request: it will wait until one does"
SIMPLE = ["--quantity", "conductivity", "--method", "simple_cell"]


@dataclass
class Shell:
    broker: LocalBroker
    env: dict[str, str]  # the requester's: the broker's URL and key, and its database
    local: dict[str, str]  # no broker named: the local database
    robot: httpx.Client  # the tenant, on the API
    tenant_id: str

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_process(self.env, "request", *args)

    def fails(self, *args: str, env: dict[str, str] | None = None) -> str:
        """The one line a failing command prints (exit status 1)."""
        proc = run_process(env or self.env, "request", *args, ok=False)
        assert proc.returncode == 1, (proc.stdout, proc.stderr)
        # Before it, only 'wait' prints something: its status lines ("finales: ...").
        *progress, last = proc.stderr.strip().splitlines()
        assert all(line.startswith("finales: request ") for line in progress), proc.stderr
        assert last.startswith("error: "), proc.stderr
        return last.removeprefix("error: ")

    def submit(self, *args: str) -> str:
        return self.ok("submit", *args).stdout.strip()

    def release(self, request_id: str, why: str) -> None:
        assert self.robot.post(f"/requests/{request_id}/claim", json={}).status_code == 200
        r = self.robot.post(f"/requests/{request_id}/release", json={"message": why})
        assert r.status_code == 200, r.text


@pytest.fixture
def shell(backend: str, database_url: str, tmp_path: Path, clock: Clock) -> Iterator[Shell]:
    examples = require_finales2_examples()
    f2 = json.loads(
        (examples / "serialized_quantities/conductivity/two_electrode.json").read_text()
    )
    with local_broker(database_url, tmp_path, clock) as b:
        b.add_capability("conductivity", "simple_cell", REQUEST_SCHEMA, RESULT_SCHEMA)
        b.add_capability(
            "conductivity",
            "two_electrode",
            f2["json_schema_specifications"],
            f2["json_schema_result_output"],
        )
        offers = [{"quantity": "conductivity", "method": "simple_cell", "limitations": LIMITS_A}]
        tenant = b.add_tenant("robot", offers=offers)
        robot_key = b.add_user("robot", role=Role.TENANT, tenant_id=tenant)
        asker = b.add_tenant("asker")
        key = b.add_user("alice", role=Role.TENANT, tenant_id=asker)
        local = _env(b.settings.home, None if backend == "sqlite" else database_url)
        env = {**local, "FINALES_SERVER_URL": b.url, "FINALES_API_KEY": key}
        robot = b.http({"Authorization": f"Bearer {robot_key}"})
        yield Shell(b, env, local, robot, tenant)


def test_submit_and_read_a_request(shell: Shell, tmp_path: Path) -> None:
    # From flags: the id on stdout, how many offers cover it on stderr.
    proc = shell.ok("submit", *SIMPLE, "--param", "temperature=298.15", "--param", "fraction=0.1")
    rid = proc.stdout.strip()
    assert proc.stderr.strip() == f"finales: request {rid} is pending; 1 current offer covers it"

    # From a TOML file, --json: the API's answer; outside the robot's limitations: a warning.
    toml = tmp_path / "hot.toml"
    toml.write_text(
        'quantity = "conductivity"\nmethods = ["simple_cell"]\n'
        "[parameters.simple_cell]\ntemperature = 350.0\nfraction = 0.2\n"
        '[labels]\ncampaign = "first-hour"\n'
    )
    proc = shell.ok("submit", str(toml), "--json")
    hot = json.loads(proc.stdout)
    assert hot["covering_offers"] == 0 and hot["labels"] == {"campaign": "first-hour"}
    assert hot["parameters"] == {"simple_cell": {"temperature": 350.0, "fraction": 0.2}}
    assert proc.stderr.strip() == WARNING

    # A FINALES 2 request file as it is (its tenant_uuid is not ours: the key decides).
    f2 = require_finales2_examples() / "examples/requests/conductivity/two_electrode.json"
    f2_id = json.loads(shell.ok("submit", str(f2), "--json").stdout)
    assert f2_id["requester"] == "alice" and f2_id["covering_offers"] == 0

    listed = shell.ok("list").stdout.splitlines()
    assert listed[0] == "3 request(s)"
    assert [line.split()[:2] for line in listed[1:]] == [
        [rid, "pending"],
        [hot["id"], "pending"],
        [f2_id["id"], "pending"],
    ]
    only = json.loads(shell.ok("list", "--method", "two_electrode", "--json").stdout)
    assert [r["id"] for r in only] == [f2_id["id"]]

    shell.release(rid, "cell too hot")
    shown = dict(line.split(":", 1) for line in shell.ok("show", rid).stdout.splitlines() if line)
    assert shown["status"].strip() == "pending"
    assert shown["last release"].strip().endswith("by robot: 'cell too hot'")
    remote = json.loads(shell.ok("show", rid, "--json").stdout)
    assert remote["last_release"]["message"] == "cell too hot"

    history = shell.ok("history", rid).stdout.splitlines()
    assert [line.split("  ")[1:3] for line in history] == [
        ["alice", "- -> pending"],
        ["robot", "pending -> reserved"],
        ["robot", "reserved -> pending"],
    ]
    assert history[-1].endswith("  cell too hot")

    # Without a broker named, the reads go to the local database and print the same JSON.
    local = run_process(shell.local, "request", "show", rid, "--json")
    assert json.loads(local.stdout) == remote
    local_history = run_process(shell.local, "request", "history", rid, "--json")
    assert json.loads(local_history.stdout) == json.loads(shell.ok("history", rid, "--json").stdout)


def _lines(stream: Any) -> queue.Queue[str]:
    found: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            found.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return found


def test_wait_results_and_retract(shell: Shell) -> None:
    rid = shell.submit(*SIMPLE, "--param", "temperature=298.15", "--param", "fraction=0.1")
    shell.release(rid, "cell too hot")
    waiting = subprocess.Popen(
        [*FINALES, "request", "wait", rid, "--timeout", "60"],
        env=shell.env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        status = _lines(waiting.stderr)
        first = status.get(timeout=30)
        assert first.startswith(f"finales: request {rid} · pending · not reserved · 0:0")
        assert first.endswith("· last released by robot: 'cell too hot'")
        assert shell.robot.post(f"/requests/{rid}/claim", json={}).status_code == 200
        second = status.get(timeout=30)  # the next look sees the reservation
        assert f"· reserved · reserved by {shell.tenant_id} ·" in second
        body = {
            "request_id": rid,
            "quantity": "conductivity",
            "method": "simple_cell",
            "parameters": {"temperature": 298.15, "fraction": 0.1},
            "data": {"conductivity": 0.91},
        }
        posted = shell.robot.post("/results", json=body)
        assert posted.status_code == 201, posted.text
        stdout, _ = waiting.communicate(timeout=30)
    finally:
        waiting.kill()
    assert waiting.returncode == 0
    result_id = posted.json()["id"]
    expected = (
        f'{result_id}  simple_cell  original  tenant {shell.tenant_id}  {{"conductivity": 0.91}}'
    )
    assert stdout.splitlines() == [expected]
    assert shell.ok("results", rid).stdout.splitlines() == [expected]
    assert [r["id"] for r in json.loads(shell.ok("results", rid, "--json").stdout)] == [result_id]
    waited = json.loads(shell.ok("wait", rid, "--json").stdout)  # at once: it has one
    assert [r["data"] for r in waited] == [{"conductivity": 0.91}]

    # No offer covers this one: a timeout says where it stands and why it waits.
    cold = shell.submit(*SIMPLE, "--param", "temperature=250", "--param", "fraction=0.1")
    assert shell.fails("wait", cold, "--timeout", "0.5") == (
        f"no result for request {cold} within 0.5 s (it is pending)"
    )
    done = json.loads(shell.ok("retract", cold, "-m", "changed my mind", "--json").stdout)
    assert done["status"] == "retracted"
    assert shell.fails("wait", cold) == f"request {cold} was retracted: changed my mind"
    again = shell.submit(*SIMPLE, "--param", "temperature=298.15", "--param", "fraction=0.1")
    assert shell.ok("retract", again).stdout.strip() == f"request {again} retracted"


def test_errors_are_one_line(shell: Shell, tmp_path: Path) -> None:
    assert shell.fails("show", "no-such-id") == "no request with id 'no-such-id'"
    assert shell.fails(
        "submit", *SIMPLE, "--param", "temperature=hot", "--param", "fraction=0.1"
    ) == (
        "parameters invalid at /parameters/simple_cell/temperature: 'hot' is not of type 'number'"
    )
    assert shell.fails("submit", "--method", "simple_cell").startswith("no quantity")
    assert shell.fails("submit", *SIMPLE, "--param", "temperature").startswith(
        "--param 'temperature' is not NAME=VALUE"
    )
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"quantity": "conductivity", "method": "simple_cell"}))
    assert shell.fails("submit", str(odd)) == (
        f"{odd}: a request file has no key 'method' (its keys: quantity, methods, "
        "parameters, parent_request_id, labels, inputs)"
    )
    # Writes act as a principal: no broker named is said, not read from the database.
    assert shell.fails("retract", "x", env=shell.local).startswith(
        "'finales request retract' acts on a broker: --server URL or FINALES_SERVER_URL"
    )
    no_key = {k: v for k, v in shell.env.items() if k != "FINALES_API_KEY"}
    assert shell.fails("list", env=no_key).startswith(f"no credentials for {shell.broker.url}")
