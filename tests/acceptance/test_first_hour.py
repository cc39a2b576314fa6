"""A new user's slips, answered in one line that says what to do (the real command, as a
subprocess) or with a message that names what was expected: issue "A new user's first
hour", points 4, 5 and 7."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from finales.domain.principals import Role
from finales.testing import LocalBroker
from tests.acceptance.cli import _env, run, run_process
from tests.conftest import ErrorCheck


def _one_line(stderr: str) -> str:
    """The error line; the only other line allowed is the database announcement."""
    lines = [ln for ln in stderr.splitlines() if not ln.startswith("finales: database")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_serve_refuses_an_impossible_port_and_a_taken_one(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    bad = run_process(env, "serve", "--port", "99999", ok=False)
    assert bad.returncode == 1 and "1 to 65535" in _one_line(bad.stderr)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run_process(env, "serve", "--port", str(port), ok=False)
    assert busy.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in _one_line(busy.stderr)


def test_tenant_run_naming_a_handler_says_what_to_name(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    out = run_process(
        env,
        "tenant",
        "run",
        "finales.lab.physics:ec_factor",
        "--server",
        "http://127.0.0.1:9",
        ok=False,
    )
    assert out.returncode == 1
    line = _one_line(out.stderr)
    assert "not a Tenant" in line and "finales.lab.physics:tenant" in line


def test_a_tenant_file_of_ours_without_offers_keeps_its_contact(env: dict[str, str]) -> None:
    path = Path(env["FINALES_HOME"]).parent / "plain.json"
    path.write_text(json.dumps({"name": "plain", "contact": "lab@example.org"}))
    run(env, "tenant", "add", str(path))
    listed = json.loads(run(env, "tenant", "list", "--json").stdout)
    assert [(t["name"], t["contact"]) for t in listed] == [("plain", "lab@example.org")]
    path.write_text(json.dumps({"name": "typo", "contacts": "lab@example.org"}))
    refused = run(env, "tenant", "add", str(path), ok=False)
    assert refused.returncode == 1 and "'contacts'" in refused.stderr


def test_capability_export_does_not_overwrite_silently(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    out = tmp_path / "caps"
    run(env, "capability", "export", str(out))
    run(env, "capability", "export", str(out))  # the same content again: fine
    mine = out / "conductivity" / "two_electrode.json"
    mine.write_text("{}\n")
    refused = run(env, "capability", "export", str(out), ok=False)
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert mine.read_text() == "{}\n"
    run(env, "capability", "export", str(out), "--force")
    assert json.loads(mine.read_text())["method"] == "two_electrode"


@pytest.fixture
def admin(served_broker: LocalBroker) -> Iterator[httpx.Client]:
    key = served_broker.add_user("admin", role=Role.ADMIN, password="admin-password")
    served_broker.add_capability(
        "conductivity",
        "two_electrode",
        {"type": "object", "properties": {"temperature": {"type": "number"}}},
        {"type": "object"},
    )
    with httpx.Client(
        base_url=served_broker.url + "/api/v1", headers={"Authorization": f"Bearer {key}"}
    ) as c:
        yield c


def test_messages_name_what_was_expected(admin: httpx.Client, expect_error: ErrorCheck) -> None:
    flat = {
        "quantity": "conductivity",
        "methods": ["two_electrode"],
        "parameters": {"temperature": 298},
    }
    body = expect_error(admin.post("/requests", json=flat), 422, pointer="/parameters")
    assert 'one block per method, e.g. {"two_electrode": {...}}' in body["detail"]
    assert "Value error" not in body["detail"]
    broken = admin.post(
        "/requests",
        content=b'{"quantity": "conductivity",\n "methods": [',
        headers={"Content-Type": "application/json"},
    )
    body = expect_error(broken, 422)
    assert "not JSON" in body["detail"] and "line 2" in body["detail"]
    login = admin.post("/auth/token", json={"username": "admin", "password": "admin-password"})
    body = expect_error(login, 422)
    assert (
        "takes a form" in body["detail"] and "application/x-www-form-urlencoded" in body["detail"]
    )
