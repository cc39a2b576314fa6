"""FinalesClient against a real broker: every method's happy path, mapped errors, pagination,
token refresh, retries while the server comes up or the database is busy."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from finales import __version__, errors
from finales.client import FinalesClient, RequestRetracted, RetryPolicy, WaitTimeout
from finales.domain.principals import Role
from finales.testing import LocalBroker
from tests.conftest import LIMITS_B, REQUEST_SCHEMA, RESULT_SCHEMA, Lab, params


@pytest.fixture
def backend() -> str:
    """The SDK does not depend on the database: SQLite is enough here."""
    return "sqlite"


@pytest.fixture
def sdk(lab: Lab) -> Iterator[dict[str, FinalesClient]]:
    """One client per principal of the lab (the admin logs in with its password)."""
    clients = {
        who: lab.broker.client(api_key=key) for who, key in lab.keys.items() if who != "admin"
    }
    clients["admin"] = lab.broker.client(username="admin", password="admin-password")
    yield clients
    for c in clients.values():
        c.close()


def _submit(client: FinalesClient, **p: Any) -> str:
    return client.submit_request(
        "conductivity", ["two_electrode"], {"two_electrode": params(**p)}
    ).id


def test_revoking_credentials(lab: Lab, sdk: dict[str, FinalesClient]) -> None:
    admin = sdk["admin"]
    key = admin.create_api_key("bot-b")
    listed = {k.id: k for k in admin.list_api_keys("bot-b")}
    key_id = key.key.split("_")[1]
    assert listed[key_id].revoked_at is None and listed[key_id].principal == "bot-b"
    with lab.broker.client(api_key=key.key) as fresh:
        assert fresh.me().name == "bot-b"
        assert admin.revoke_api_key(key_id).revoked_at is not None
        with pytest.raises(errors.Unauthorized, match="revoked"):
            fresh.me()
    changed = admin.update_user("reader", role="archiver")
    assert changed.role is Role.ARCHIVER and sdk["reader"].me().role is Role.ARCHIVER
    assert admin.update_user("reader", disabled=True).disabled_at is not None
    with pytest.raises(errors.Unauthorized, match="disabled"):
        sdk["reader"].me()
    assert admin.update_user("reader", disabled=False).disabled_at is None
    with lab.broker.client(username="bot-a", password="bot-a-password") as bot:
        assert bot.end_tokens().name == "bot-a"  # itself, everywhere
    actions = [e.action for e in admin.user_history("reader")]
    assert actions[-3:] == ["role_changed", "disabled", "enabled"]
    assert [e.action for e in admin.user_history("bot-a")][-1] == "tokens_ended"


def test_auth_and_users(lab: Lab, sdk: dict[str, FinalesClient]) -> None:
    admin = sdk["admin"]
    assert admin.healthz() == {"status": "ok", "version": __version__}
    token = admin.login("admin", "admin-password")
    assert token.token_type == "bearer" and token.expires_in > 0
    me = admin.me()
    assert me.name == "admin" and me.role is Role.ADMIN
    assert sdk["a"].me().tenant_id == lab.tenant_a

    key = admin.create_api_key("bot-a")
    assert key.principal == "bot-a" and key.key.startswith("fk_")
    with lab.broker.client(api_key=key.key) as fresh:
        assert fresh.me().name == "bot-a"

    user = admin.add_user("watcher", role="reader", password="watcher-password")
    assert user.role is Role.READER and user.tenant_id is None
    assert "watcher" in [u.name for u in admin.list_users()]
    with lab.broker.client(username="watcher", password="watcher-password") as w:
        assert w.me().name == "watcher"

    with pytest.raises(errors.Unauthorized) as bad:
        admin.login("admin", "wrong-password")
    assert bad.value.detail
    with (
        lab.broker.client(api_key="fk_nonsense") as nobody,
        pytest.raises(errors.Unauthorized),
    ):
        nobody.me()
    with pytest.raises(errors.Forbidden, match="admin"):
        sdk["reader"].add_user("intruder", role="admin")
    with pytest.raises(errors.Conflict):
        admin.add_user("watcher", role="reader")


def test_capabilities(sdk: dict[str, FinalesClient]) -> None:
    admin = sdk["admin"]
    listed = admin.list_capabilities()
    assert {(c.quantity, c.method) for c in listed} == {
        ("conductivity", "two_electrode"),
        ("conductivity", "molecular_dynamics"),
    }
    assert admin.list_capabilities(method="molecular_dynamics")[0].version == 1
    changed = {**RESULT_SCHEMA, "description": "v2"}
    v2 = admin.register_capability(
        "conductivity", "two_electrode", request_schema=REQUEST_SCHEMA, result_schema=changed
    )
    assert v2.version == 2 and v2.versions == [1, 2]
    assert admin.get_capability("conductivity", "two_electrode", version=1).version == 1
    assert admin.get_capability("conductivity", "two_electrode").version == 2

    off = admin.deactivate_capability("conductivity", "two_electrode", message="maintenance")
    assert off.active is False
    with pytest.raises(errors.InvalidPayload) as info:
        _submit(admin)
    assert info.value.errors[0]["pointer"] == "/methods/0"
    assert admin.activate_capability("conductivity", "two_electrode").active is True

    with pytest.raises(errors.NotFound):
        admin.get_capability("viscosity", "rheometer")
    with pytest.raises(errors.Forbidden):
        sdk["a"].register_capability(
            "x", "y", request_schema={"type": "object"}, result_schema={"type": "object"}
        )
    with pytest.raises(errors.InvalidPayload) as bad:
        admin.register_capability("x", "y", request_schema={"type": 12}, result_schema={})
    assert bad.value.errors[0]["pointer"].startswith("/request_schema")


def test_tenants_and_offers(lab: Lab, sdk: dict[str, FinalesClient]) -> None:
    admin = sdk["admin"]
    names = {t.name for t in admin.list_tenants()}
    assert names == {"tenant-a", "tenant-b"}
    new = admin.add_tenant("tenant-c", description="a third robot", contact="c@lab")
    assert admin.get_tenant(new.id).description == "a third robot"

    mine = sdk["a"].set_offers(
        lab.tenant_a,
        [{"quantity": "conductivity", "method": "two_electrode", "limitations": LIMITS_B}],
    )
    assert mine.offers[0].limitations == LIMITS_B
    with pytest.raises(errors.InvalidPayload) as bad:
        sdk["a"].set_offers(
            lab.tenant_a,
            [{"quantity": "conductivity", "method": "two_electrode", "limitations": {"x": 1}}],
        )
    assert bad.value.errors[0]["pointer"] == "/0/limitations/x"
    with pytest.raises(errors.Forbidden):
        sdk["a"].set_offers(lab.tenant_b, [])
    with pytest.raises(errors.NotFound):
        admin.get_tenant("no-such-tenant")
    with pytest.raises(errors.Forbidden):
        sdk["a"].add_tenant("sneaky")


def test_the_request_and_result_lifecycle(lab: Lab, sdk: dict[str, FinalesClient]) -> None:
    a, b, admin = sdk["a"], sdk["b"], sdk["admin"]
    rid = _submit(a)
    assert a.get_request(rid).status == "pending"
    work = b.work(method="two_electrode")
    assert [w.id for w in work] == [rid] and work[0].matching_methods == ["two_electrode"]

    claimed = b.claim(rid, lease_seconds=30)
    assert claimed.status == "reserved" and claimed.reserved_by == lab.tenant_b
    with pytest.raises(errors.Conflict) as lost:  # a double claim is a 409
        sdk["a2"].claim(rid)
    assert isinstance(lost.value, errors.InvalidTransition) and "not pending" in lost.value.detail
    assert b.heartbeat(rid, lease_seconds=60).lease_expires_at is not None
    with pytest.raises(errors.Forbidden):
        a.heartbeat(rid)
    assert b.release(rid, message="calibrating first").status == "pending"
    assert "calibrating first" in [e.message for e in a.request_history(rid)]

    b.claim(rid)
    result = b.post_result(
        request_id=rid,
        quantity="conductivity",
        method="two_electrode",
        parameters=params(),
        data={"conductivity": 0.8},
    )
    assert result.status == "original" and a.get_request(rid).status == "resolved"
    assert [r.id for r in a.request_results(rid)] == [result.id]
    assert a.get_result(result.id).data == {"conductivity": 0.8}

    amended = b.amend_result(result.id, data={"conductivity": 0.85}, message="recalibrated")
    assert amended.supersedes == result.id
    assert a.get_result(result.id).status == "amended"
    assert [e.to_status for e in a.result_history(result.id)] == ["original", "amended"]
    with pytest.raises(errors.Forbidden):
        a.delete_result(amended.id)
    assert b.delete_result(amended.id, message="wrong cell").status == "deleted"
    visible = a.list_results(request_id=rid).items
    assert [r.id for r in visible] == [result.id]
    everything = a.list_results(request_id=rid, include_deleted=True).items
    assert {r.id for r in everything} == {result.id, amended.id}

    gone = _submit(a)
    assert a.retract(gone, message="no longer needed").status == "retracted"
    with pytest.raises(errors.InvalidTransition):
        b.claim(gone)
    with pytest.raises(errors.NotFound):
        a.get_request("no-such-request")

    unsolicited = b.post_result(
        quantity="conductivity",
        method="two_electrode",
        parameters=params(),
        data={"conductivity": 1},
    )
    assert admin.get_request(unsolicited.request_id).status == "unsolicited"


def test_errors_carry_the_server_message_and_pointer(sdk: dict[str, FinalesClient]) -> None:
    with pytest.raises(errors.InvalidPayload) as info:
        _submit(sdk["a"], temperature="hot")
    pointer = "/parameters/two_electrode/temperature"
    assert pointer in info.value.detail and "'hot' is not of type 'number'" in info.value.detail
    assert info.value.errors[0]["pointer"] == pointer
    assert info.value.http_status == 422  # type: ignore[attr-defined]
    with pytest.raises(errors.Forbidden, match="tenant principal"):
        sdk["admin"].work()


def test_idempotency_key_replays_the_first_answer(sdk: dict[str, FinalesClient]) -> None:
    a = sdk["a"]
    body = {"two_electrode": params()}
    first = a.submit_request("conductivity", ["two_electrode"], body, idempotency_key="k-1")
    again = a.submit_request("conductivity", ["two_electrode"], body, idempotency_key="k-1")
    assert first.id == again.id
    assert len(list(a.iter_requests())) == 1
    with pytest.raises(errors.Conflict, match="different request"):
        a.submit_request(
            "conductivity", ["two_electrode"], {"two_electrode": params(0.2)}, idempotency_key="k-1"
        )


def test_pagination_iterators(lab: Lab, sdk: dict[str, FinalesClient]) -> None:
    a, b = sdk["a"], sdk["b"]
    ids = [_submit(a, temperature=280.0 + i) for i in range(5)]
    page = a.list_requests(limit=2)
    assert [r.id for r in page.items] == ids[:2] and page.next_cursor
    assert [r.id for r in a.iter_requests(page_size=2)] == ids
    for rid in ids[:3]:
        b.claim(rid)
        b.post_result(
            request_id=rid,
            quantity="conductivity",
            method="two_electrode",
            parameters=a.get_request(rid).parameters["two_electrode"],
            data={"conductivity": 0.5},
        )
    assert [r.id for r in a.iter_requests(page_size=2, status="pending")] == ids[3:]
    assert [r.id for r in a.iter_requests(status="resolved", reserved_by=lab.tenant_b)] == ids[:3]
    results = list(a.iter_results(page_size=2, tenant=lab.tenant_b))
    assert [r.request_id for r in results] == ids[:3]


def test_export_snapshot(sdk: dict[str, FinalesClient]) -> None:
    bundle = sdk["archiver"].export_snapshot()
    assert isinstance(bundle, dict) and bundle
    raw = sdk["admin"].export_snapshot(format="sqlite")
    assert raw.startswith(b"SQLite format 3")
    with pytest.raises(errors.Forbidden):
        sdk["reader"].export_snapshot()


def test_the_requester_helper_waits_for_results(lab: Lab, sdk: dict[str, FinalesClient]) -> None:
    a, b = sdk["a"], sdk["b"]

    def serve() -> None:
        item = b.work(wait=10)[0]
        b.claim(item.id)
        time.sleep(0.3)
        b.post_result(
            request_id=item.id,
            quantity="conductivity",
            method="two_electrode",
            parameters=item.parameters["two_electrode"],
            data={"conductivity": 0.7},
        )

    worker = threading.Thread(target=serve)
    worker.start()
    results = a.submit_and_wait(
        "conductivity", ["two_electrode"], {"two_electrode": params()}, timeout_s=20
    )
    worker.join(timeout=10)
    assert [r.data for r in results] == [{"conductivity": 0.7}]

    # Nobody serves it: a bounded wait, then (optionally) the request is withdrawn.
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as late:
        a.submit_and_wait(
            "conductivity",
            ["molecular_dynamics"],
            {"molecular_dynamics": params(temperature=999.0)},
            timeout_s=0.5,
            retract_on_timeout=True,
        )
    assert time.monotonic() - started < 5
    waited_for = late.value.request_id  # type: ignore[attr-defined]
    assert a.get_request(waited_for).status == "retracted"

    rid = _submit(a)
    threading.Timer(0.3, lambda: a.retract(rid, message="changed my mind")).start()
    with pytest.raises(RequestRetracted, match="changed my mind"):
        a.wait_for_results(rid, timeout_s=20)


def test_a_password_token_is_refreshed_before_it_expires(tmp_path: Path) -> None:
    with LocalBroker(tmp_path / "home", token_ttl_s=2) as broker:
        broker.add_user("robot", role=Role.READER, password="robot-password")
        logins: list[float] = []

        def count(request: httpx.Request) -> None:
            if request.url.path.endswith("/auth/token"):
                logins.append(time.monotonic())

        with (
            httpx.Client(event_hooks={"request": [count]}) as http,
            FinalesClient(
                broker.url, username="robot", password="robot-password", http=http
            ) as client,
        ):
            assert client.me().name == "robot"
            first_token = client._token
            time.sleep(1.1)  # past half the 2 s lifetime: renewed before the next call
            assert client.me().name == "robot"
            assert len(logins) == 2
            time.sleep(1.0)  # the first token has now expired; the client's is still good
            stale = httpx.get(
                broker.url + "/api/v1/auth/me", headers={"Authorization": f"Bearer {first_token}"}
            )
            assert stale.status_code == 401
            assert client.me().name == "robot"


def test_retries_while_the_server_comes_up_late(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path / "home")  # built, not yet listening
    client = FinalesClient(broker.url, retry=RetryPolicy(base_s=0.1, max_backoff_s=0.5))
    threading.Timer(0.8, broker.start).start()
    started = time.monotonic()
    try:
        assert client.healthz() == {"status": "ok", "version": __version__}
        assert time.monotonic() - started >= 0.7
    finally:
        deadline = time.monotonic() + 10
        while broker._server is None or not broker._server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        broker.stop()
        client.close()


def test_a_busy_database_is_retried(tmp_path: Path) -> None:
    with LocalBroker(tmp_path / "home", sqlite_busy_timeout_ms=50) as broker:
        broker.add_capability("conductivity", "two_electrode", REQUEST_SCHEMA, RESULT_SCHEMA)
        key = broker.add_user("admin", role=Role.ADMIN)
        with FinalesClient(broker.url, api_key=key, retry=RetryPolicy(base_s=0.1)) as client:
            client.me()  # authenticated (and cached) before the lock is taken
            lock = sqlite3.connect(
                tmp_path / "home" / "finales.db", isolation_level=None, check_same_thread=False
            )
            lock.execute("BEGIN IMMEDIATE")
            try:
                busy = httpx.post(
                    broker.url + "/api/v1/requests",
                    headers={"Authorization": f"Bearer {key}"},
                    json={
                        "quantity": "conductivity",
                        "methods": ["two_electrode"],
                        "parameters": {"two_electrode": params()},
                    },
                )
                assert busy.status_code == 503 and busy.json()["code"] == "unavailable"
                threading.Timer(0.6, lock.rollback).start()
                started = time.monotonic()
                rid = _submit(client)
                assert time.monotonic() - started >= 0.5
            finally:
                time.sleep(0.1)
                lock.close()
            assert [r.id for r in client.iter_requests()] == [rid]  # once, despite the retries
