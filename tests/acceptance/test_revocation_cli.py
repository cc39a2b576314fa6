"""The CLI's share of hardening, on SQLite and PostgreSQL: names are checked by the domain's
one rule (the API's too), and credentials are revoked from the command line while a server
runs on the same database - refused by that server on its next look (SQLite: the periodic look
for changes) or, on PostgreSQL, where no server caches principals, on the very next call."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from finales.domain.principals import Role
from finales.testing import LocalBroker
from tests.acceptance.cli import ROOT, _env, run
from tests.conftest import Clock, ErrorCheck, local_broker

BAD_NAMES = ["", "..", "../../etc", "../x", "a/b", " padded", "tab\there", "nul\x00"]
RECHECK_S = 0.5  # the SQLite server's look for changes made by other processes


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_cli_refuses_the_names_the_api_refuses(
    env: dict[str, str], tmp_path: Path, name: str
) -> None:
    cap = tmp_path / "cap.json"
    for field in ("quantity", "method"):
        body = {"quantity": "q", "method": "m", "request_schema": {}, "result_schema": {}}
        cap.write_text(json.dumps({**body, field: name}))
        refused = run(env, "capability", "add", str(cap), ok=False)
        assert refused.returncode == 1, refused
        assert f"/{field}" in refused.stderr and "name" in refused.stderr
    tenant = tmp_path / "tenant.json"
    tenant.write_text(json.dumps({"name": name, "offers": []}))
    refused = run(env, "tenant", "add", str(tenant), ok=False)
    assert refused.returncode == 1 and "/name" in refused.stderr, refused
    refused = run(env, "user", "add", name, "--role", "reader", ok=False)
    assert refused.returncode != 0, refused
    assert json.loads(run(env, "capability", "list", "--json").stdout) == []
    assert json.loads(run(env, "tenant", "list", "--json").stdout) == []
    assert json.loads(run(env, "user", "list", "--json").stdout) == []


@pytest.mark.parametrize("name", [n for n in BAD_NAMES if "\x00" not in n])
def test_the_api_refuses_the_same_names(
    name: str, broker: LocalBroker, expect_error: ErrorCheck
) -> None:
    key = broker.add_user("admin", role=Role.ADMIN)
    with httpx.Client(
        base_url=broker.url + "/api/v1", headers={"Authorization": f"Bearer {key}"}
    ) as c:
        for field in ("quantity", "method"):
            body = {"quantity": "q", "method": "m", "request_schema": {}, "result_schema": {}}
            r = c.post("/capabilities", json={**body, field: name})
            expect_error(r, 422, pointer=f"/{field}")
        expect_error(c.post("/tenants", json={"name": name}), 422, pointer="/name")
        expect_error(c.post("/users", json={"name": name, "role": "reader"}), 422, pointer="/name")
        assert c.get("/capabilities").json() == []


@pytest.fixture
def running(
    backend: str, database_url: str, tmp_path: Path, clock: Clock
) -> Iterator[tuple[LocalBroker, dict[str, str]]]:
    """A served broker and a CLI environment on the same database. On PostgreSQL the periodic
    look is set far beyond the test's patience: nothing but the absence of a cache can make the
    very next call see a change."""
    recheck = RECHECK_S if backend == "sqlite" else 60.0
    with local_broker(database_url, tmp_path, clock, long_poll_recheck_s=recheck) as b:
        url = None if backend == "sqlite" else database_url
        yield b, _env(b.settings.home, url)


def _refused_soon(client: httpx.Client, words: str) -> tuple[float, int]:
    """Seconds until ``client`` is refused with a message holding ``words`` (at most 5), and
    the calls it took."""
    started = time.monotonic()
    calls = 0
    while True:
        r = client.get("/auth/me")
        calls += 1
        if r.status_code == 401:
            assert words in r.json()["detail"], r.text
            return time.monotonic() - started, calls
        assert r.status_code == 200, r.text
        assert time.monotonic() - started < 5, "still accepted 5 s after the revocation"
        time.sleep(0.05)


def test_revocation_from_the_cli_reaches_a_running_server(
    running: tuple[LocalBroker, dict[str, str]], backend: str
) -> None:
    broker, env = running
    run(
        env, "user", "add", "admin", "--role", "admin", "--password-stdin", stdin="admin-password\n"
    )
    run(
        env,
        "user",
        "add",
        "robot",
        "--role",
        "reader",
        "--password-stdin",
        stdin="robot-password\n",
    )
    first = run(env, "apikey", "create", "robot").stdout.strip()
    second = run(env, "apikey", "create", "robot").stdout.strip()
    keys = json.loads(run(env, "apikey", "list", "--user", "robot", "--json").stdout)
    assert [k["principal"] for k in keys] == ["robot", "robot"]
    assert all(k["revoked_at"] is None for k in keys)
    listing = run(env, "apikey", "list").stdout
    assert first.split("_", 2)[2] not in listing and second.split("_", 2)[2] not in listing
    first_id = first.split("_")[1]
    api = broker.url + "/api/v1"

    def client(credential: str) -> httpx.Client:
        return httpx.Client(base_url=api, headers={"Authorization": f"Bearer {credential}"})

    token = httpx.post(
        api + "/auth/token", data={"username": "robot", "password": "robot-password"}
    ).json()["access_token"]
    with client(first) as one, client(second) as two, client(token) as by_token:
        for c in (one, two, by_token):
            assert c.get("/auth/me").status_code == 200  # cached by the server now
        run(env, "apikey", "revoke", first_id)
        waited = [_refused_soon(one, "revoked")]
        assert two.get("/auth/me").status_code == 200

        run(env, "user", "logout", "robot")
        waited.append(_refused_soon(by_token, "log in again"))
        assert two.get("/auth/me").status_code == 200

        run(env, "user", "set-role", "robot", "--role", "admin")
        # SQLite: the look may not have run yet; PostgreSQL: the very next call sees it.
        assert two.get("/users").status_code in ((200, 403) if backend == "sqlite" else (200,))
        deadline = time.monotonic() + 5
        while two.get("/users").status_code != 200:
            assert time.monotonic() < deadline, "the new role did not arrive"
            time.sleep(0.05)

        run(env, "user", "disable", "robot")
        waited.append(_refused_soon(two, "disabled"))
        listed = {u["name"]: u for u in json.loads(run(env, "user", "list", "--json").stdout)}
        assert listed["robot"]["disabled_at"] is not None
        run(env, "user", "enable", "robot")
        deadline = time.monotonic() + 5
        while two.get("/auth/me").status_code != 200:
            assert time.monotonic() < deadline, "re-enabled but still refused"
            time.sleep(0.05)
    # SQLite: by the periodic look; PostgreSQL: on the very next call, the look 60 s away.
    if backend == "sqlite":
        assert max(seconds for seconds, _ in waited) < RECHECK_S * 4 + 1, waited
    else:
        assert [calls for _, calls in waited] == [1, 1, 1], waited

    run(env, "user", "set-password", "robot", "--password-stdin", stdin="another-password\n")
    old = httpx.post(api + "/auth/token", data={"username": "robot", "password": "robot-password"})
    assert old.status_code == 401
    history = json.loads(run(env, "user", "history", "robot", "--json").stdout)
    assert [e["action"] for e in history] == [
        "created",
        "api_key_created",
        "api_key_created",
        "api_key_revoked",
        "tokens_ended",
        "role_changed",
        "disabled",
        "enabled",
        "password_set",
    ]
    assert {e["actor"] for e in history} == {history[0]["actor"]}
    assert history[0]["actor"].startswith("cli:")
    text = run(env, "user", "history", "robot").stdout
    assert "another-password" not in text and "tokens_ended" in text


def test_the_cli_keeps_the_last_admin(env: dict[str, str]) -> None:
    run(env, "user", "add", "admin", "--role", "admin")
    for args in (("disable", "admin"), ("set-role", "admin", "--role", "reader")):
        refused = run(env, "user", *args, ok=False)
        assert refused.returncode == 1 and "last enabled admin" in refused.stderr
    unknown = run(env, "apikey", "revoke", "0123456789abcdef", ok=False)
    assert unknown.returncode == 1 and "0123456789abcdef" in unknown.stderr
    assert ROOT.is_dir()
