"""`finales request list|approve|reject` against a running broker's database, on SQLite and
PostgreSQL: the decision reaches the API (and wakes nothing it should not)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from finales.domain.principals import Role
from tests.acceptance.cli import _env, run
from tests.conftest import REQUEST_SCHEMA, RESULT_SCHEMA, Clock, local_broker, params


@pytest.fixture
def gated(
    backend: str, database_url: str, tmp_path: Path, clock: Clock
) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    with local_broker(database_url, tmp_path, clock) as b:
        env = _env(b.settings.home, None if backend == "sqlite" else database_url)
        cap = tmp_path / "gated.json"
        cap.write_text(
            json.dumps(
                {
                    "quantity": "conductivity",
                    "method": "gated_cell",
                    "request_schema": REQUEST_SCHEMA,
                    "result_schema": RESULT_SCHEMA,
                    "requires_approval": True,
                }
            )
        )
        run(env, "capability", "add", str(cap))
        tenant = b.add_tenant("lab")
        key = b.add_user("requester", role=Role.TENANT, tenant_id=tenant)
        with httpx.Client(
            base_url=b.url + "/api/v1", headers={"Authorization": f"Bearer {key}"}
        ) as c:
            yield c, env


def _post(c: httpx.Client) -> str:
    body = {
        "quantity": "conductivity",
        "methods": ["gated_cell"],
        "parameters": {"gated_cell": params()},
    }
    r = c.post("/requests", json=body)
    assert r.status_code == 201 and r.json()["status"] == "awaiting_approval", r.text
    return str(r.json()["id"])


def test_approve_and_reject_from_the_shell(gated: tuple[httpx.Client, dict[str, str]]) -> None:
    c, env = gated
    first, second = _post(c), _post(c)
    waiting = json.loads(
        run(env, "request", "list", "--status", "awaiting_approval", "--json").stdout
    )
    assert [w["id"] for w in waiting] == [first, second]
    shown = run(env, "request", "list", "--status", "awaiting_approval").stdout.splitlines()
    assert shown[0] == "2 request(s) awaiting_approval"
    assert [line.split()[0] for line in shown[1:]] == [first, second]

    done = json.loads(run(env, "request", "approve", first, "-m", "checked", "--json").stdout)
    assert done["status"] == "pending"
    assert c.get(f"/requests/{first}").json()["status"] == "pending"
    history = c.get(f"/requests/{first}/history").json()
    assert history[-1]["message"] == "approved: checked"
    assert history[-1]["actor"].startswith("cli:")

    missing = run(env, "request", "reject", second, ok=False)
    assert missing.returncode != 0  # the reason is required
    run(env, "request", "reject", second, "--message", "no channel free")
    assert c.get(f"/requests/{second}").json()["status"] == "rejected"
    again = run(env, "request", "approve", second, ok=False)
    assert again.returncode == 1 and "not awaiting approval" in again.stderr
    assert (
        json.loads(run(env, "request", "list", "--status", "awaiting_approval", "--json").stdout)
        == []
    )
