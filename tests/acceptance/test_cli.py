"""The `finales` command as a subprocess, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import time
from pathlib import Path

import httpx

from finales import __version__
from finales.testing import LocalBroker, free_port
from tests.acceptance.cli import FINALES, ROOT, _env, run, run_process
from tests.conftest import FINALES2_EXAMPLES as EXAMPLES
from tests.conftest import require_finales2_examples


def test_admin_workflow(env: dict[str, str]) -> None:
    added = run(
        env,
        "user",
        "add",
        "admin",
        "--role",
        "admin",
        "--password-stdin",
        stdin="correct-horse-battery\n",
    )
    assert "admin" in added.stdout
    caps = run(
        env, "capability", "add", str(ROOT / "examples" / "capability-conductivity.json"), "--json"
    )
    assert json.loads(caps.stdout) == [
        {"quantity": "conductivity", "method": "two_electrode", "version": 1, "active": True}
    ]
    tenant = run(env, "tenant", "add", str(ROOT / "examples" / "tenant-robot.json"))
    tenant_id = tenant.stdout.strip()
    assert len(tenant_id) == 36
    run(env, "user", "add", "robot", "--role", "tenant", "--tenant", "robot")
    key = run(env, "apikey", "create", "robot").stdout.strip()
    assert key.startswith("fk_")
    assert "shown once" in run(env, "apikey", "create", "robot").stderr

    listed = json.loads(run(env, "tenant", "list", "--json").stdout)
    assert [(t["name"], len(t["offers"])) for t in listed] == [("robot", 1)]
    users = json.loads(run(env, "user", "list", "--json").stdout)
    assert {u["name"]: u["role"] for u in users} == {"admin": "admin", "robot": "tenant"}
    assert "hash" not in json.dumps(users)

    run(env, "capability", "deactivate", "conductivity", "two_electrode")
    state = json.loads(run(env, "capability", "list", "--json").stdout)
    assert state[0]["active"] is False
    run(env, "capability", "activate", "conductivity", "two_electrode")
    assert json.loads(run(env, "capability", "list", "--json").stdout)[0]["active"] is True


def test_failures_exit_non_zero_with_one_line_reason(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "user", "add", "admin", "--role", "admin")
    dup = run(env, "user", "add", "admin", "--role", "admin", ok=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    # One line of error (after the line that says which database the command opened).
    reasons = [ln for ln in dup.stderr.splitlines() if not ln.startswith("finales: database")]
    assert len(reasons) == 1 and reasons[0].startswith("error:"), dup.stderr
    bad_role = run(env, "user", "add", "x", "--role", "wizard", ok=False)
    assert bad_role.returncode != 0
    no_tenant = run(env, "user", "add", "bot", "--role", "tenant", "--tenant", "nobody", ok=False)
    assert no_tenant.returncode == 1 and "nobody" in no_tenant.stderr
    # A tenant whose capability is not registered yet: the defect is named.
    missing = run(env, "tenant", "add", str(ROOT / "examples" / "tenant-robot.json"), ok=False)
    assert missing.returncode == 1
    assert "/0/method" in missing.stderr and "conductivity/two_electrode" in missing.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    bad = run(env, "capability", "add", str(broken), ok=False)
    assert bad.returncode == 1 and "not valid JSON" in bad.stderr
    schema_bad = tmp_path / "schema.json"
    schema_bad.write_text(
        json.dumps(
            {"quantity": "q", "method": "m", "request_schema": {"type": 12}, "result_schema": {}}
        )
    )
    bad = run(env, "capability", "add", str(schema_bad), ok=False)
    assert bad.returncode == 1 and "/request_schema/type" in bad.stderr
    unknown = run(env, "apikey", "create", "ghost", ok=False)
    assert unknown.returncode == 1 and "ghost" in unknown.stderr
    short = run(
        env,
        "user",
        "add",
        "weak",
        "--role",
        "reader",
        "--password-stdin",
        stdin="short\n",
        ok=False,
    )
    assert short.returncode == 1 and "8 characters" in short.stderr


def test_finales2_files(env: dict[str, str]) -> None:
    require_finales2_examples()
    files = sorted(str(p) for p in (EXAMPLES / "serialized_quantities").glob("*/*.json"))
    added = run(env, "capability", "add", *files)
    assert added.stdout.count("version 1") == len(files) == 13
    transport = run(
        env,
        "tenant",
        "add",
        str(EXAMPLES / "examples/tenants/transport/Transportation_tenant_tenant.json"),
    )
    assert len(transport.stdout.strip()) == 36
    # The published files that FINALES 2 idioms kept out import translated, each translation
    # noted on stderr.
    notes = {
        "conductivity/ASAB.json": ["/1/limitations/formulation -> /1/limitations/electrolyte"],
        "cell_assembly/autobass_assembly.json": [
            "range(s) with minimum/maximum -> min/max",
            "/0/limitations/cell_info/batteryChemistry -> /0/limitations/cell/battery_chemistry",
        ],
        "degradationEOL/degradation_model.json": ["anyOf wrapper -> a list of alternatives"],
    }
    for name, expected in notes.items():
        added = run(env, "tenant", "add", str(EXAMPLES / "examples/tenants" / name))
        assert len(added.stdout.strip()) == 36, added
        lines = [ln for ln in added.stderr.splitlines() if ln.startswith("translated")]
        assert len(lines) == len(expected), added.stderr
        for line, words in zip(lines, expected, strict=True):
            assert words in line, (line, words)
    listed = {t["name"]: t for t in json.loads(run(env, "tenant", "list", "--json").stdout)}
    assert len(listed) == 4
    flow = [o for t in listed.values() for o in t["offers"] if o["method"] == "flow"]
    assert list(flow[0]["limitations"]) == ["electrolyte"]
    # What cannot be translated is still refused with its pointer, and nothing is stored.
    broken = EXAMPLES / "examples/tenants/conductivity/ASAB.json"
    spec = json.loads(broken.read_text())
    spec["name"] = "ASAB-broken"
    spec["limitations"][0]["limitations"]["colour"] = ["red"]
    bad = Path(env["FINALES_HOME"]).parent / "broken.json"
    bad.write_text(json.dumps(spec))
    refused = run(env, "tenant", "add", str(bad), ok=False)
    assert refused.returncode == 1 and "/0/limitations/colour" in refused.stderr
    assert len(json.loads(run(env, "tenant", "list", "--json").stdout)) == 4


def test_db_upgrade_reports_revision(env: dict[str, str]) -> None:
    out = run(env, "db", "upgrade")
    assert "revision" in out.stdout


def test_serve_on_a_fresh_machine(tmp_path: Path) -> None:
    """No configuration at all: `finales serve` starts on SQLite with a 0600 secret."""
    home = tmp_path / "fresh"
    env = _env(home)
    port = free_port()
    proc = subprocess.Popen(
        [*FINALES, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)
        assert (home / "finales.db").exists()
        mode = stat.S_IMODE((home / "secret.key").stat().st_mode)
        assert mode == 0o600
        anon = httpx.get(f"http://127.0.0.1:{port}/api/v1/requests", timeout=5)
        assert anon.status_code == 401
        spec = httpx.get(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=5).json()
        assert "/api/v1/work" in spec["paths"]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "no admin yet" in err
    assert (home / "secret.key").read_text() not in err


def test_serve_refuses_a_short_secret(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    env["FINALES_SECRET_KEY"] = "too-short"
    proc = run_process(env, "serve", "--port", str(free_port()), ok=False)
    assert proc.returncode == 1 and "too short" in proc.stderr


def test_serve_refuses_several_processes_on_sqlite(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    proc = run_process(env, "serve", "--workers", "2", "--port", str(free_port()), ok=False)
    assert proc.returncode == 1 and "one process" in proc.stderr and "PostgreSQL" in proc.stderr


def test_help_texts() -> None:
    env = _env(Path("/nonexistent"))
    for args in (
        ["--help"],
        ["serve", "--help"],
        ["user", "add", "--help"],
        ["tenant", "add", "--help"],
        ["capability", "add", "--help"],
    ):
        out = run(env, *args)
        assert "Usage" in out.stdout
    # And once as the installed module, the way a shell runs it.
    assert "capability" in run_process(env, "--help").stdout


def test_commands_say_which_database_and_fail_in_one_line(tmp_path: Path) -> None:
    fresh = _env(tmp_path / "fresh")
    first = run_process(fresh, "capability", "list", "--json")
    assert json.loads(first.stdout) == []  # stdout stays machine-readable
    db = tmp_path / "fresh" / "finales.db"
    assert first.stderr.strip() == f"finales: database sqlite:///{db} (created)"
    again = run_process(fresh, "capability", "list", "--json")
    assert again.stderr.strip() == f"finales: database sqlite:///{db}"
    # A data directory that cannot exist: one line that says what to do, exit 1.
    impossible = _env(Path("/proc/no-such-dir/home"))
    failed = run_process(impossible, "user", "list", ok=False)
    assert failed.returncode == 1
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and "FINALES_HOME" in lines[0] and "Traceback" not in failed.stderr
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    failed = run_process(_env(blocked / "home"), "serve", ok=False)
    assert failed.returncode == 1 and len(failed.stderr.strip().splitlines()) == 1, failed.stderr


def test_version_on_the_command_line_and_the_wire(broker: LocalBroker) -> None:
    env = _env(Path("/nonexistent"))
    assert run_process(env, "--version").stdout.strip() == f"finales {__version__}"
    assert httpx.get(broker.url + "/healthz").json()["version"] == __version__
    with broker.client() as c:
        assert c.healthz()["version"] == __version__


def test_tenant_add_keeps_a_finales2_tenant_uuid(env: dict[str, str]) -> None:
    run(env, "capability", "add", str(ROOT / "examples" / "capability-conductivity.json"))
    uuid_ = "fd8446d0-558c-451a-8a68-e416b5166265"
    out = run(env, "tenant", "add", str(ROOT / "examples" / "tenant-robot.json"), "--id", uuid_)
    assert out.stdout.strip() == uuid_
    again = run(
        env, "tenant", "add", str(ROOT / "examples" / "tenant-robot.json"), "--id", uuid_, ok=False
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = run(
        env,
        "tenant",
        "add",
        str(ROOT / "examples" / "tenant-robot.json"),
        "--id",
        "not-a-uuid",
        ok=False,
    )
    assert bad.returncode == 1 and "UUID" in bad.stderr
