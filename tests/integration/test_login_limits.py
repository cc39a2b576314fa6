"""Failed logins are rate-limited per user and per client address (429 with Retry-After,
without hashing), and password checks run in a bounded pool of their own (503 beyond its
queue), on both doors and both databases. The latency under a flood is measured by
``benchmarks/login_flood.py``, not asserted here."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from finales.domain.principals import Role
from finales.errors import ConfigurationError
from finales.settings import load_settings
from finales.testing import LocalBroker
from tests.conftest import Clock, ErrorCheck, local_broker

DOORS = {
    "clean": "/api/v1/auth/token",
    "finales2": "/user_management/authenticate",
}


@pytest.fixture
def limited(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[LocalBroker]:
    broker = local_broker(
        database_url,
        tmp_path,
        clock,
        login_rate_per_user="3/minute",
        login_rate_per_address="8/minute",
    )
    with broker.start_in_process() as b:
        for name in ("alice", "bob", "carol", "dave"):
            b.add_user(name, role=Role.READER, password=f"{name}-password")
        yield b


def _login(c: httpx.Client, door: str, name: str, password: str) -> httpx.Response:
    return c.post(DOORS[door], data={"username": name, "password": password})


@pytest.mark.parametrize("door", DOORS)
def test_failed_logins_are_limited_per_user(
    limited: LocalBroker, door: str, expect_error: ErrorCheck
) -> None:
    with limited.http(prefix="") as c:
        for _ in range(3):
            expect_error(_login(c, door, "alice", "wrong-password"), 401, code="unauthorized")
        refused = _login(c, door, "alice", "alice-password")  # even the right one, for now
        expect_error(refused, 429, code="too_many_requests")
        retry = int(refused.headers["Retry-After"])
        assert 1 <= retry <= 60, refused.headers
        assert f"retry in {retry} s" in refused.json()["detail"]
        # Another user from the same address is not held back by alice's failures.
        assert _login(c, door, "bob", "bob-password").status_code == 200


@pytest.mark.parametrize("door", DOORS)
def test_a_success_clears_the_users_count(limited: LocalBroker, door: str) -> None:
    with limited.http(prefix="") as c:
        for _round in range(3):
            for _ in range(2):
                assert _login(c, door, "carol", "wrong-password").status_code == 401
            assert _login(c, door, "carol", "carol-password").status_code == 200


def test_failed_logins_are_limited_per_address(
    limited: LocalBroker, expect_error: ErrorCheck
) -> None:
    names = ["alice", "bob", "carol", "dave", "nobody-1", "nobody-2", "alice", "bob"]
    with limited.http(prefix="") as c:
        for i, name in enumerate(names):  # 8 failures over 6 names: none over the user limit
            r = _login(c, "clean" if i % 2 else "finales2", name, "wrong-password")
            expect_error(r, 401, code="unauthorized")
        for door in DOORS:
            r = _login(c, door, "dave", "dave-password")
            expect_error(r, 429, code="too_many_requests")
            assert int(r.headers["Retry-After"]) >= 1


def test_logins_beyond_the_pool_queue_get_503(
    database_url: str, tmp_path: Path, clock: Clock, expect_error: ErrorCheck
) -> None:
    """One verifying thread and a queue of one: of 12 concurrent logins most wait no turn;
    none is a 500, and no answer takes a hashing turn it was not given."""
    broker = local_broker(
        database_url,
        tmp_path,
        clock,
        login_rate_per_user="",
        login_rate_per_address="",
        password_hash_workers=1,
        login_queue_max=1,
    )
    statuses: list[int] = []
    lock = threading.Lock()
    with broker as b:
        b.add_user("erin", role=Role.READER, password="erin-password")
        start = threading.Barrier(12)

        def one() -> None:
            with httpx.Client(base_url=b.url, timeout=60) as c:
                start.wait()
                r = c.post(DOORS["clean"], data={"username": "erin", "password": "wrong-pass"})
                if r.status_code == 503:
                    assert r.headers["Retry-After"] == "1"
                    assert r.json()["code"] == "unavailable"
                with lock:
                    statuses.append(r.status_code)

        threads = [threading.Thread(target=one) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(statuses) <= {401, 503}, statuses
        assert statuses.count(401) >= 1 and statuses.count(503) >= 1, statuses
        with httpx.Client(base_url=b.url) as c:
            assert _login(c, "clean", "erin", "erin-password").status_code == 200


def test_disabled_rate_limits_and_bad_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINALES_LOGIN_RATE_PER_USER", "five per minute")
    with pytest.raises(ConfigurationError, match="login_rate_per_user"):
        load_settings()
    monkeypatch.setenv("FINALES_LOGIN_RATE_PER_USER", "")
    assert load_settings().login_rate_per_user == ""
