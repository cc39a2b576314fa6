"""The tenant runtime as users run it: `finales serve` and `finales tenant run` processes.

A real server process on a free port (SQLite), tenant processes running a small module
written to tmp_path, signals and kills. Each scenario bounds every wait. A few behaviours that
need no process boundary run in-process at the end, against the `lab` broker.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from typer.testing import CliRunner

from finales.cli import app
from finales.client import FinalesClient
from finales.errors import FinalesError
from finales.tenant import Tenant, TenantSetupError
from finales.testing import free_port
from tests.conftest import LIMITS_A, Lab

ROOT = Path(__file__).resolve().parents[2]
FINALES = [sys.executable, "-m", "finales.cli"]
ADMIN_PASSWORD = "a-long-admin-password"
T = TypeVar("T")

CAPABILITY = {
    "quantity": "conductivity",
    "method": "two_electrode",
    "description": "test capability",
    "request_schema": {
        "type": "object",
        "properties": {
            "temperature": {"type": "number"},
            "mode": {"enum": ["ok", "raise", "bad"]},
            "delay_s": {"type": "number", "minimum": 0},
        },
        "required": ["temperature"],
        "additionalProperties": False,
    },
    "result_schema": {
        "type": "object",
        "properties": {"conductivity": {"type": "number"}, "success": {"type": "boolean"}},
        "required": ["conductivity"],
        "additionalProperties": False,
    },
}

# The tenant every process runs; its behaviour comes from the environment (T_*) and the
# request's parameters (mode, delay_s). Each job appends a line to T_LOG.
TENANT_MODULE = """
import json, os, time
from pathlib import Path
from finales.tenant import Tenant

LOG = Path(os.environ["T_LOG"])
lab = Tenant(
    os.environ["T_NAME"],
    lease_s=float(os.environ.get("T_LEASE", "30")),
    poll_s=float(os.environ.get("T_POLL", "2")),
    grace_s=float(os.environ.get("T_GRACE", "10")),
    concurrency=int(os.environ.get("T_CONCURRENCY", "1")),
)


def note(event, request):
    line = json.dumps({"event": event, "id": request.id, "tenant": lab.name, "pid": os.getpid()})
    with LOG.open("a") as fh:
        fh.write(line + "\\n")


LIMITS = json.loads(os.environ.get("T_LIMITS", "{}"))


@lab.serves("conductivity", "two_electrode", limitations=LIMITS)
def measure(request, ctx):
    p = ctx.parameters
    note("start", request)
    time.sleep(p.get("delay_s", float(os.environ.get("T_DELAY", "0"))))
    if p.get("mode") == "raise":
        raise RuntimeError(f"instrument jammed at {p['temperature']} K")
    note("done", request)
    if p.get("mode") == "bad":
        return {"conductivity": "high"}
    return {"conductivity": p["temperature"] / 1000}
"""


def wait_for(check: Callable[[], T], what: str, timeout_s: float = 20.0) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(app, list(args), input=stdin, env=env)
    assert result.exit_code == 0, (result.stderr, result.exception)
    return result.stdout


@dataclass
class Stack:
    """A server process on SQLite plus tenant processes, all on one data directory."""

    tmp: Path
    home: Path
    port: int
    server: subprocess.Popen[str] | None = None
    tenants: list[subprocess.Popen[str]] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    log: Path = field(init=False)
    _admin: FinalesClient | None = None

    def __post_init__(self) -> None:
        self.log = self.tmp / "jobs.log"
        self.log.touch()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FINALES_")}
        env.update(FINALES_HOME=str(self.home), **extra)
        return env

    # -- the server
    def start_server(self, *, wait: bool = True) -> None:
        assert self.server is None or self.server.poll() is not None
        with (self.tmp / "server.log").open("a") as log:  # the child keeps its own copy
            self.server = subprocess.Popen(
                [*FINALES, "serve", "--port", str(self.port), "--log-level", "warning"],
                env=self.env(FINALES_LONG_POLL_RECHECK_S="0.5", FINALES_LEASE_SWEEP_S="0.5"),
                stdout=subprocess.DEVNULL,
                stderr=log,
                text=True,
                cwd=ROOT,
            )
        if wait:
            wait_for(self._healthy, "the server to come up", 30)

    def _healthy(self) -> bool:
        assert self.server is not None and self.server.poll() is None, "the server died"
        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop_server(self, sig: signal.Signals = signal.SIGTERM) -> None:
        assert self.server is not None
        self.server.send_signal(sig)
        self.server.wait(timeout=30)

    # -- tenants
    def tenant(self, name: str, *args: str, **env: str) -> subprocess.Popen[str]:
        """`finales tenant run labmod:lab` as tenant ``name`` (credentials in env)."""
        base = {"FINALES_SERVER_URL": self.url, "FINALES_API_KEY": self.keys[name]}
        base.update({"T_NAME": name, "T_LOG": str(self.log)})
        with self.stderr_path(name, len(self.tenants)).open("w") as log:
            proc = subprocess.Popen(
                [*FINALES, "tenant", "run", "labmod:lab", "--app-dir", str(self.tmp), *args],
                env=self.env(**{**base, **env}),
                stdout=subprocess.DEVNULL,
                stderr=log,
                text=True,
                cwd=self.tmp,
            )
        self.tenants.append(proc)
        return proc

    def stderr_path(self, name: str, index: int) -> Path:
        return self.tmp / f"tenant-{name}-{index}.log"

    def wait_started(self, name: str, index: int) -> None:
        path = self.stderr_path(name, index)
        wait_for(lambda: 'msg="tenant started"' in path.read_text(), f"{name} to start")

    # -- observations
    @property
    def admin(self) -> FinalesClient:
        if self._admin is None:
            self._admin = FinalesClient(self.url, username="admin", password=ADMIN_PASSWORD)
        return self._admin

    def submit(self, temperature: float = 300.0, **extra: Any) -> str:
        body = {"two_electrode": {"temperature": temperature, **extra}}
        return self.admin.submit_request("conductivity", ["two_electrode"], body).id

    def jobs(self, event: str = "start") -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines()
        return [j for j in map(json.loads, lines) if j["event"] == event]

    def status(self, request_id: str) -> str:
        return self.admin.get_request(request_id).status.value

    def messages(self, request_id: str) -> list[str]:
        return [e.message for e in self.admin.request_history(request_id)]

    def close(self) -> None:
        for proc in [*self.tenants, self.server]:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        if self._admin is not None:
            self._admin.close()


@pytest.fixture
def stack(tmp_path: Path, sqlite_template: Path) -> Iterator[Stack]:
    """Admin, the capability, tenants alpha/beta with one key each; the server running."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    shutil.copy(sqlite_template, home / "finales.db")  # already migrated: a faster start
    (tmp_path / "labmod.py").write_text(TENANT_MODULE)
    (tmp_path / "capability.json").write_text(json.dumps(CAPABILITY))
    s = Stack(tmp=tmp_path, home=home, port=free_port())
    s.start_server(wait=False)  # it boots while the set-up below writes to the database
    env = {"FINALES_HOME": str(home)}
    _cli(env, "user", "add", "admin", "--role", "admin", "--password-stdin", stdin=ADMIN_PASSWORD)
    _cli(env, "capability", "add", str(tmp_path / "capability.json"))
    for name in ("alpha", "beta"):
        spec = tmp_path / f"{name}.json"
        spec.write_text(json.dumps({"name": name, "offers": []}))
        _cli(env, "tenant", "add", str(spec))
        _cli(
            env,
            "user",
            "add",
            f"bot-{name}",
            "--role",
            "tenant",
            "--tenant",
            name,
            "--password-stdin",
            stdin=f"{name}-password",
        )
        s.keys[name] = _cli(env, "apikey", "create", f"bot-{name}").strip()
    wait_for(s._healthy, "the server to come up", 30)
    yield s
    s.close()


def _exit_code(proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGTERM) -> int:
    proc.send_signal(sig)
    return proc.wait(timeout=30)


# ------------------------------------------------------------------------------ processes


def test_two_instances_handle_every_request_exactly_once(stack: Stack) -> None:
    alpha = stack.tenant("alpha", T_CONCURRENCY="2", T_DELAY="0.05")
    # Credentials from flags for this one (the environment has none).
    beta = stack.tenant(
        "beta",
        "--server",
        stack.url,
        "--api-key",
        stack.keys["beta"],
        "--concurrency",
        "2",
        FINALES_API_KEY="",
        FINALES_SERVER_URL="",
        T_DELAY="0.05",
    )
    stack.wait_started("alpha", 0)
    stack.wait_started("beta", 1)
    ids = [stack.submit(280.0 + i) for i in range(16)]
    wait_for(lambda: all(stack.status(i) == "resolved" for i in ids), "all requests resolved", 30)
    started = [j["id"] for j in stack.jobs("start")]
    assert sorted(started) == sorted(ids)  # each handled once, none twice
    results = list(stack.admin.iter_results(quantity="conductivity", page_size=5))
    assert sorted(r.request_id for r in results) == sorted(ids)
    for rid in ids:
        assert stack.messages(rid).count("claimed") == 1
    assert _exit_code(alpha) == 0
    assert _exit_code(beta) == 0


def test_a_killed_tenant_s_request_goes_to_another_after_the_lease(stack: Stack) -> None:
    alpha = stack.tenant("alpha", T_LEASE="2", T_DELAY="60")
    stack.wait_started("alpha", 0)
    rid = stack.submit()
    wait_for(lambda: stack.jobs("start"), "alpha to start the job")
    alpha.send_signal(signal.SIGKILL)
    alpha.wait(timeout=10)
    assert stack.status(rid) == "reserved"

    beta = stack.tenant("beta", T_DELAY="0")
    wait_for(lambda: stack.status(rid) == "resolved", "beta to take over", 30)
    (result,) = stack.admin.request_results(rid)
    assert result.tenant_id == stack.admin.get_request(rid).reserved_by
    assert [j["tenant"] for j in stack.jobs("start")] == ["alpha", "beta"]
    assert "lease expired" in stack.messages(rid)
    assert _exit_code(beta) == 0


def test_tenants_survive_server_restarts_idle_and_working(stack: Stack) -> None:
    alpha = stack.tenant("alpha", T_POLL="2")
    stack.wait_started("alpha", 0)

    # Idle: a graceful restart while alpha long-polls.
    stack.stop_server(signal.SIGTERM)
    time.sleep(0.5)  # alpha now finds the port closed
    stack.start_server()
    first = stack.submit()
    wait_for(lambda: stack.status(first) == "resolved", "work after an idle restart", 30)

    # Working: the server crashes mid-job and comes back; the result still arrives, once.
    second = stack.submit(delay_s=2.0)
    wait_for(lambda: second in [j["id"] for j in stack.jobs("start")], "the second job")
    stack.stop_server(signal.SIGKILL)
    time.sleep(0.5)
    stack.start_server()
    wait_for(lambda: stack.status(second) == "resolved", "the result after a crash", 30)

    assert [j["id"] for j in stack.jobs("start")] == [first, second]
    assert [j["id"] for j in stack.jobs("done")] == [first, second]
    results = list(stack.admin.iter_results())
    assert sorted(r.request_id for r in results) == sorted([first, second])
    assert alpha.poll() is None  # still serving
    assert _exit_code(alpha) == 0


def test_sigterm_finishes_short_jobs_and_releases_long_ones(stack: Stack) -> None:
    alpha = stack.tenant("alpha", T_CONCURRENCY="2", T_GRACE="2")
    stack.wait_started("alpha", 0)
    short = stack.submit(delay_s=1.0)
    long = stack.submit(delay_s=30.0)
    wait_for(lambda: len(stack.jobs("start")) == 2, "both jobs to start")
    started = time.monotonic()
    assert _exit_code(alpha, signal.SIGTERM) == 0
    assert time.monotonic() - started < 10  # the grace period, not the 30 s job

    assert stack.status(short) == "resolved"
    assert stack.status(long) == "pending"
    assert "stopped before the job finished" in stack.messages(long)[-1]
    err = stack.stderr_path("alpha", 0).read_text()
    assert "signal=SIGTERM" in err and f"request_id={long}" in err


def test_a_raising_handler_releases_with_the_reason_and_keeps_serving(stack: Stack) -> None:
    alpha = stack.tenant("alpha")
    stack.wait_started("alpha", 0)
    broken = stack.submit(mode="raise")
    wait_for(lambda: "instrument jammed" in " ".join(stack.messages(broken)), "the release")
    reason = stack.messages(broken)[-1]
    assert "RuntimeError: instrument jammed at 300.0 K" in reason
    history = stack.admin.request_history(broken)
    assert [(e.from_status, e.to_status) for e in history][-1] == ("reserved", "pending")
    assert history[-1].actor == "bot-alpha"

    fine = stack.submit()
    wait_for(lambda: stack.status(fine) == "resolved", "the next request", 15)
    assert alpha.poll() is None
    assert stack.status(broken) == "pending"  # not retried at once by the same tenant
    assert "Traceback" in stack.stderr_path("alpha", 0).read_text()
    assert _exit_code(alpha) == 0


def test_a_result_violating_the_schema_is_caught_before_it_is_sent(stack: Stack) -> None:
    alpha = stack.tenant("alpha", "--log-format", "json")
    bad = stack.submit(mode="bad")
    wait_for(lambda: stack.status(bad) == "pending" and stack.jobs("done"), "the bad job", 20)
    wait_for(lambda: "violates" in stack.messages(bad)[-1], "the release")
    reason = stack.messages(bad)[-1]
    assert "/data/conductivity" in reason and "'high' is not of type 'number'" in reason
    assert stack.admin.request_results(bad) == []  # the broker never saw it
    lines = [json.loads(x) for x in stack.stderr_path("alpha", 0).read_text().splitlines()]
    failed = [x for x in lines if x["msg"] == "job failed"]
    assert failed and failed[0]["request_id"] == bad and "/data/conductivity" in failed[0]["error"]
    assert _exit_code(alpha) == 0


def test_a_tenant_is_never_handed_work_outside_its_limitations(stack: Stack) -> None:
    inside = [stack.submit(t) for t in (280.0, 300.0, 310.0)]
    outside = [stack.submit(t) for t in (320.0, 350.0)]
    # Credentials from a TOML file, password login; --until-idle drains and exits.
    config = stack.tmp / "tenant.toml"
    config.write_text(
        f'[tenant]\nserver_url = "{stack.url}"\nusername = "bot-alpha"\n'
        'password = "alpha-password"\n'
    )
    limits = json.dumps({"temperature": [{"min": 273.15, "max": 313.15}]})
    alpha = stack.tenant(
        "alpha",
        "--config",
        str(config),
        "--until-idle",
        FINALES_API_KEY="",
        FINALES_SERVER_URL="",
        T_LIMITS=limits,
    )
    assert alpha.wait(timeout=30) == 0
    assert sorted(j["id"] for j in stack.jobs("start")) == sorted(inside)
    assert [stack.status(i) for i in inside] == ["resolved"] * 3
    assert [stack.status(i) for i in outside] == ["pending"] * 2
    offers = stack.admin.get_tenant(stack.admin.get_request(inside[0]).reserved_by or "").offers
    assert offers[0].limitations == json.loads(limits)


def test_tenant_run_reports_setup_problems_in_one_line(stack: Stack) -> None:
    wrong = stack.tenant("alpha", FINALES_API_KEY=stack.keys["beta"])
    assert wrong.wait(timeout=30) == 1
    err = stack.stderr_path("alpha", 0).read_text()
    assert "act for tenant 'beta'" in err and "not 'alpha'" in err
    assert len(err.strip().splitlines()) == 1
    missing = subprocess.run(
        [*FINALES, "tenant", "run", "nosuchmodule:lab"],
        env=stack.env(FINALES_SERVER_URL=stack.url, FINALES_API_KEY="x"),
        capture_output=True,
        text=True,
        timeout=30,
        cwd=stack.tmp,
    )
    assert missing.returncode == 1 and "cannot import nosuchmodule" in missing.stderr


# ------------------------------------------------------------------------------ README


def _readme_tenant() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- tenant:start -->\s*```python\n(.*?)```\s*<!-- tenant:end -->", text, re.S
    )
    assert block, "the README lost its tenant block"
    return block.group(1)


def test_readme_tenant_runs_as_written(tmp_path: Path, sqlite_template: Path) -> None:
    """Both ways the README runs it: ``python robot.py`` with FINALES_API_KEY set, and
    ``finales tenant run robot:robot --api-key KEY`` with no such variable (importing the
    module must not need it)."""
    code = _readme_tenant()
    assert len(code.strip().splitlines()) <= 22
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    shutil.copy(sqlite_template, home / "finales.db")
    s = Stack(tmp=tmp_path, home=home, port=free_port())
    env = {"FINALES_HOME": str(home)}
    _cli(env, "user", "add", "admin", "--role", "admin", "--password-stdin", stdin=ADMIN_PASSWORD)
    _cli(env, "capability", "add", str(ROOT / "examples" / "capability-conductivity.json"))
    _cli(env, "tenant", "add", str(ROOT / "examples" / "tenant-robot.json"))
    _cli(env, "user", "add", "robot", "--role", "tenant", "--tenant", "robot")
    key = _cli(env, "apikey", "create", "robot").strip()
    (tmp_path / "robot.py").write_text(code)
    as_documented = {
        "python": (
            [sys.executable, "robot.py"],
            {"FINALES_SERVER_URL": s.url, "FINALES_API_KEY": key},
        ),
        "tenant run": (
            [*FINALES, "tenant", "run", "robot:robot", "--server", s.url, "--api-key", key],
            {},
        ),
    }
    try:
        s.start_server()
        for way, (command, extra) in as_documented.items():
            robot = subprocess.Popen(
                command,
                env=s.env(**extra),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                cwd=tmp_path,
            )
            s.tenants.append(robot)
            results = s.admin.submit_and_wait(
                "conductivity",
                ["two_electrode"],
                {"two_electrode": {"temperature": 298.15, "lipf6_molality": 1.0}},
                timeout_s=30,
            )
            assert len(results) == 1 and results[0].data["conductivity"] > 0, way
            robot.send_signal(signal.SIGTERM)
            _, err = robot.communicate(timeout=30)
            assert robot.returncode == 0, (way, err)
            assert 'msg="result posted"' in err, (way, err)
    finally:
        s.close()


# ------------------------------------------------------------------------------ in-process


@pytest.fixture
def backend() -> str:
    """The runtime does not depend on the database: SQLite is enough here."""
    return "sqlite"


def _nothing(request: Any, ctx: Any) -> dict[str, Any]:
    return {}


def _tenant(lab: Lab, who: str = "a", name: str = "tenant-a", **kw: Any) -> Tenant:
    return Tenant(name, server=lab.broker.url, api_key=lab.keys[who], **kw)


def test_async_handlers_run_concurrently(lab: Lab) -> None:
    ids = [lab.post_request()["id"] for _ in range(3)]
    tenant = _tenant(lab, concurrency=3)
    running, peak = [0], [0]
    lock = threading.Lock()

    @tenant.serves("conductivity", "two_electrode", limitations=LIMITS_A)
    async def measure(request: Any, ctx: Any) -> dict[str, Any]:
        import asyncio

        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        await asyncio.sleep(0.4)
        with lock:
            running[0] -= 1
        ctx.progress("halfway", percent=50)
        return {"conductivity": ctx.parameters["temperature"] / 1000}

    stats = tenant.run_once()
    assert stats.handled == 3 and stats.failed == 0
    assert peak[0] == 3
    for rid in ids:
        assert lab.admin.get(f"/requests/{rid}").json()["status"] == "resolved"
        assert "heartbeat" in [
            e["message"] for e in lab.admin.get(f"/requests/{rid}/history").json()
        ]


def test_the_first_served_method_of_a_multi_method_request_is_chosen(lab: Lab) -> None:
    req = lab.post_request(methods=("molecular_dynamics", "two_electrode"))
    tenant = _tenant(lab, "b", "tenant-b")
    seen: list[str] = []

    @tenant.serves("conductivity", "two_electrode")
    def measure(request: Any, ctx: Any) -> dict[str, Any]:
        seen.append(ctx.method)
        assert ctx.parameters == request.parameters["two_electrode"]
        return {"conductivity": 1.0}

    assert tenant.run_once().handled == 1
    assert seen == ["two_electrode"]
    result = lab.admin.get("/results", params={"request_id": req["id"]}).json()["items"][0]
    assert result["method"] == "two_electrode"


def test_a_lost_lease_sets_stopping_and_drops_the_result(lab: Lab) -> None:
    req = lab.post_request()
    tenant = _tenant(lab, lease_s=0.6)
    flags: dict[str, bool] = {}

    @tenant.serves("conductivity", "two_electrode", limitations=LIMITS_A)
    def measure(request: Any, ctx: Any) -> dict[str, Any]:
        assert lab.admin.post(f"/requests/{request.id}/retract").status_code == 200
        flags["stopping"] = ctx.stopping.wait(10)
        flags["lost"] = ctx.lease_lost
        return {"conductivity": 1.0}

    stats = tenant.run_once()
    assert flags == {"stopping": True, "lost": True}
    assert stats.leases_lost == 1 and stats.handled == 0
    assert lab.admin.get(f"/requests/{req['id']}").json()["status"] == "retracted"


def test_stop_returns_promptly_while_long_polling(lab: Lab) -> None:
    tenant = _tenant(lab, poll_s=2)

    @tenant.serves("conductivity", "two_electrode", limitations=LIMITS_A)
    def measure(request: Any, ctx: Any) -> dict[str, Any]:
        return {"conductivity": 1.0}

    runner = threading.Thread(target=tenant.run, kwargs={"configure_logging": False})
    runner.start()
    wait_for(lambda: tenant.tenant_id, "the tenant to start")
    req = lab.post_request()
    wait_for(
        lambda: lab.admin.get(f"/requests/{req['id']}").json()["status"] == "resolved",
        "the long-poll to deliver",
    )
    started = time.monotonic()
    tenant.stop()
    runner.join(timeout=10)
    assert not runner.is_alive() and time.monotonic() - started < 1.5
    assert tenant.stats.handled == 1


@pytest.mark.parametrize(
    ("who", "name", "quantity", "limitations", "message"),
    [
        ("a", "tenant-b", "conductivity", {}, "act for tenant 'tenant-a'"),
        ("admin", "tenant-a", "conductivity", {}, "role admin"),
        ("a", "tenant-a", "viscosity", {}, "no capability viscosity/two_electrode"),
        ("a", "tenant-a", "conductivity", {"colour": "red"}, "/0/limitations/colour"),
    ],
)
def test_setup_problems_are_named(
    lab: Lab, who: str, name: str, quantity: str, limitations: Any, message: str
) -> None:
    tenant = _tenant(lab, who, name)
    tenant.serves(quantity, "two_electrode", limitations=limitations)(_nothing)
    with pytest.raises(TenantSetupError) as info:
        tenant.run_once()
    assert message in info.value.detail


def test_missing_configuration_is_named() -> None:
    tenant = Tenant("x")
    with pytest.raises(TenantSetupError, match="serves nothing"):
        tenant.run_once()
    tenant.serves("conductivity", "two_electrode")(_nothing)
    with pytest.raises(TenantSetupError, match="no broker URL"):
        tenant.run_once()
    tenant.configure(server="http://127.0.0.1:1")
    with pytest.raises(TenantSetupError, match="no credentials"):
        tenant.run_once()
    with pytest.raises(ValueError, match="already serves"):
        tenant.serves("conductivity", "two_electrode")(_nothing)
    assert isinstance(TenantSetupError("x"), FinalesError)
