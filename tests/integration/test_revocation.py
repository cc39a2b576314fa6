"""Credentials that can be taken back: API keys revoked, users disabled and re-enabled, roles
and passwords changed, tokens ended ("log out everywhere"), each in the user's audit history,
each effective on the very next call although the server caches authenticated principals.

On both databases, through the clean API (the CLI: ``tests/acceptance/test_revocation_cli.py``;
across server processes: ``test_cross_process_wakeup.py``)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import ErrorCheck, Lab

Headers = dict[str, str]


def _bearer(credential: str) -> Headers:
    return {"Authorization": f"Bearer {credential}"}


def _login(lab: Lab, name: str, password: str) -> str:
    r = lab.anon.post("/auth/token", data={"username": name, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _me(lab: Lab, credential: str) -> httpx.Response:
    with lab.broker.http(_bearer(credential)) as c:
        return c.get("/auth/me")


def _new_key(lab: Lab, principal: str) -> dict[str, Any]:
    r = lab.admin.post("/auth/api-keys", json={"principal": principal})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _refused(r: httpx.Response, expect_error: ErrorCheck, words: str) -> None:
    expect_error(r, 401, code="unauthorized")
    assert words in r.json()["detail"], r.json()


def _history(lab: Lab, name: str) -> list[dict[str, Any]]:
    r = lab.admin.get(f"/users/{name}/events")
    assert r.status_code == 200, r.text
    return list(r.json())


# ------------------------------------------------------------------------------ API keys


def test_a_revoked_key_is_refused_on_the_next_call(lab: Lab, expect_error: ErrorCheck) -> None:
    made = _new_key(lab, "bot-a")
    assert _me(lab, made["key"]).status_code == 200  # now cached by the server
    r = lab.admin.delete(f"/auth/api-keys/{made['id']}")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == made["id"] and r.json()["revoked_at"] is not None
    _refused(_me(lab, made["key"]), expect_error, "revoked")
    # The principal's other key is untouched.
    assert lab.a.get("/auth/me").status_code == 200
    listed = {k["id"]: k for k in lab.admin.get("/auth/api-keys?principal=bot-a").json()}
    assert listed[made["id"]]["revoked_at"] is not None
    assert all(k["principal"] == "bot-a" for k in listed.values())
    assert sum(k["revoked_at"] is None for k in listed.values()) == 1
    # Revoking again changes nothing and records nothing.
    again = lab.admin.delete(f"/auth/api-keys/{made['id']}")
    assert again.status_code == 200 and again.json()["revoked_at"] == r.json()["revoked_at"]
    revoked = [e for e in _history(lab, "bot-a") if e["action"] == "api_key_revoked"]
    assert [e["message"] for e in revoked] == [f"key {made['id']}"]
    assert revoked[0]["actor"] == "admin"


def test_a_principal_revokes_its_own_key_but_no_other(lab: Lab, expect_error: ErrorCheck) -> None:
    own = _new_key(lab, "bot-a")
    other = _new_key(lab, "bot-b")
    with lab.broker.http(_bearer(own["key"])) as c:
        expect_error(c.delete(f"/auth/api-keys/{other['id']}"), 403, code="forbidden")
        assert c.delete(f"/auth/api-keys/{own['id']}").status_code == 200
        _refused(c.get("/auth/me"), expect_error, "revoked")
    assert _me(lab, other["key"]).status_code == 200
    expect_error(lab.admin.delete("/auth/api-keys/0123456789abcdef"), 404, code="not_found")


def test_key_listings_need_an_admin_and_show_no_secret(lab: Lab, expect_error: ErrorCheck) -> None:
    made = _new_key(lab, "bot-b")
    for who in ("reader", "a", "archiver"):
        expect_error(lab.client(who).get("/auth/api-keys"), 403, code="forbidden")
    r = lab.admin.get("/auth/api-keys")
    assert r.status_code == 200
    assert {k["principal"] for k in r.json()} >= {"admin", "bot-a", "bot-b", "reader"}
    text = r.text
    secret = made["key"].split("_", 2)[2]
    assert secret not in text and "hash" not in text
    expect_error(lab.admin.get("/auth/api-keys?principal=nobody"), 404, code="not_found")


# ------------------------------------------------------------------------------ users


def test_a_disabled_user_is_refused_everywhere_until_enabled(
    lab: Lab, expect_error: ErrorCheck
) -> None:
    token = _login(lab, "bot-a", "bot-a-password")
    assert _me(lab, token).status_code == 200
    assert lab.a.get("/auth/me").status_code == 200  # its key, cached
    r = lab.admin.patch("/users/bot-a", json={"disabled": True})
    assert r.status_code == 200, r.text
    assert r.json()["disabled_at"] is not None
    _refused(_me(lab, token), expect_error, "disabled")
    _refused(lab.a.get("/auth/me"), expect_error, "disabled")
    # The FINALES 2 door too (same credentials, same check).
    _refused(lab.root("a").get("/capabilities/"), expect_error, "disabled")
    login = lab.anon.post("/auth/token", data={"username": "bot-a", "password": "bot-a-password"})
    _refused(login, expect_error, "disabled")
    wrong = lab.anon.post("/auth/token", data={"username": "bot-a", "password": "not-it-at-all"})
    _refused(wrong, expect_error, "wrong name or password")  # says nothing more to a guesser
    listed = {u["name"]: u for u in lab.admin.get("/users").json()}
    assert listed["bot-a"]["disabled_at"] is not None

    r = lab.admin.patch("/users/bot-a", json={"disabled": False})
    assert r.status_code == 200 and r.json()["disabled_at"] is None
    assert lab.a.get("/auth/me").status_code == 200  # keys work again
    _refused(_me(lab, token), expect_error, "log in again")  # tokens stay ended
    assert _me(lab, _login(lab, "bot-a", "bot-a-password")).status_code == 200
    actions = [e["action"] for e in _history(lab, "bot-a")]
    assert actions[-2:] == ["disabled", "enabled"]


def test_a_new_role_applies_on_the_next_call(lab: Lab, expect_error: ErrorCheck) -> None:
    assert lab.reader.get("/users").status_code == 403  # cached as a reader
    r = lab.admin.patch("/users/reader", json={"role": "admin"})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    assert lab.reader.get("/users").status_code == 200
    r = lab.admin.patch("/users/reader", json={"role": "tenant", "tenant_id": lab.tenant_b})
    assert r.status_code == 200 and r.json()["tenant_id"] == lab.tenant_b
    expect_error(lab.reader.get("/users"), 403, code="forbidden")
    assert lab.reader.get("/auth/me").json()["tenant_id"] == lab.tenant_b
    # A tenant binding without the tenant role, or the tenant role without a tenant: 422.
    expect_error(
        lab.admin.patch("/users/reader", json={"role": "reader", "tenant_id": lab.tenant_a}),
        422,
        pointer="/tenant_id",
    )
    expect_error(
        lab.admin.patch("/users/reader", json={"role": "tenant"}), 422, pointer="/tenant_id"
    )
    expect_error(
        lab.admin.patch("/users/reader", json={"tenant_id": lab.tenant_a}),
        422,
        pointer="/tenant_id",
    )
    notes = [e["message"] for e in _history(lab, "reader") if e["action"] == "role_changed"]
    assert notes == ["role reader -> admin", f"role admin -> tenant bound to tenant {lab.tenant_b}"]


def test_the_last_enabled_admin_cannot_be_removed(lab: Lab, expect_error: ErrorCheck) -> None:
    for change in ({"disabled": True}, {"role": "reader"}):
        expect_error(lab.admin.patch("/users/admin", json=change), 409, code="conflict")
    assert lab.admin.get("/users").status_code == 200
    assert lab.admin.patch("/users/reader", json={"role": "admin"}).status_code == 200
    assert lab.reader.patch("/users/admin", json={"disabled": True}).status_code == 200
    expect_error(lab.admin.get("/users"), 401, code="unauthorized")


def test_a_new_password_ends_the_old_one_and_its_tokens(lab: Lab, expect_error: ErrorCheck) -> None:
    token = _login(lab, "bot-a", "bot-a-password")
    r = lab.admin.patch("/users/bot-a", json={"password": "a-brand-new-password"})
    assert r.status_code == 200, r.text
    _refused(_me(lab, token), expect_error, "log in again")
    old = lab.anon.post("/auth/token", data={"username": "bot-a", "password": "bot-a-password"})
    _refused(old, expect_error, "wrong name or password")
    assert _me(lab, _login(lab, "bot-a", "a-brand-new-password")).status_code == 200
    expect_error(
        lab.admin.patch("/users/bot-a", json={"password": "short"}), 422, pointer="/password"
    )
    history = _history(lab, "bot-a")
    assert [e["action"] for e in history][-1] == "password_set"
    text = json.dumps(history)
    assert "a-brand-new-password" not in text and "argon2" not in text


def test_logout_everywhere_ends_every_token_and_no_key(lab: Lab, expect_error: ErrorCheck) -> None:
    first = _login(lab, "bot-a", "bot-a-password")
    second = _login(lab, "bot-a", "bot-a-password")
    with lab.broker.http(_bearer(first)) as c:
        r = c.post("/auth/logout")
        assert r.status_code == 200, r.text
    for token in (first, second):
        _refused(_me(lab, token), expect_error, "log in again")
    assert lab.a.get("/auth/me").status_code == 200  # API keys are revoked one by one
    third = _login(lab, "bot-a", "bot-a-password")
    assert _me(lab, third).status_code == 200
    # An admin ends another user's tokens; a non-admin may not.
    expect_error(lab.b.post("/users/bot-a/logout"), 403, code="forbidden")
    assert lab.admin.post("/users/bot-a/logout").status_code == 200
    _refused(_me(lab, third), expect_error, "log in again")
    ended = [e for e in _history(lab, "bot-a") if e["action"] == "tokens_ended"]
    assert [e["actor"] for e in ended] == ["bot-a", "admin"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/users/bot-b", {"disabled": True}),
        ("GET", "/users/bot-b/events", None),
        ("GET", "/auth/api-keys", None),
    ],
)
def test_user_administration_needs_an_admin(
    lab: Lab, expect_error: ErrorCheck, method: str, path: str, body: Any
) -> None:
    for who in ("reader", "a", "archiver"):
        r = lab.client(who).request(method, path, json=body)
        expect_error(r, 403, code="forbidden")
    expect_error(lab.anon.request(method, path, json=body), 401, code="unauthorized")
    assert lab.b.get("/auth/me").status_code == 200  # nothing changed


def test_unknown_users_and_bad_changes_are_named(lab: Lab, expect_error: ErrorCheck) -> None:
    expect_error(lab.admin.patch("/users/nobody", json={"disabled": True}), 404, code="not_found")
    expect_error(lab.admin.post("/users/nobody/logout"), 404, code="not_found")
    expect_error(lab.admin.get("/users/nobody/events"), 404, code="not_found")
    expect_error(lab.admin.patch("/users/bot-a", json={"role": "king"}), 422, pointer="/role")
    expect_error(lab.admin.patch("/users/bot-a", json={"colour": "red"}), 422, pointer="/colour")


def test_the_audit_history_records_creation_and_keys(lab: Lab) -> None:
    r = lab.admin.post("/users", json={"name": "newcomer", "role": "reader"})
    assert r.status_code == 201, r.text
    made = _new_key(lab, "newcomer")
    history = _history(lab, "newcomer")
    assert [(e["action"], e["actor"]) for e in history] == [
        ("created", "admin"),
        ("api_key_created", "admin"),
    ]
    assert history[0]["message"] == "role reader"
    assert history[1]["message"] == f"key {made['id']}"
    assert history[0]["seq"] < history[1]["seq"]
    assert made["key"] not in json.dumps(history)
