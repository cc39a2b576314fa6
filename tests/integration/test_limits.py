"""Oversized bodies are refused with 413 before they are parsed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx

from finales.domain.principals import Role
from finales.testing import LocalBroker


def test_oversized_bodies_get_413(tmp_path: Path) -> None:
    with LocalBroker(tmp_path, max_body_bytes=2000) as broker:
        key = broker.add_user("admin", role=Role.ADMIN)
        headers = {"Authorization": f"Bearer {key}"}
        big = {"quantity": "q", "methods": ["m"], "parameters": {"m": {"x": "y" * 5000}}}
        r = httpx.post(f"{broker.url}/api/v1/requests", json=big, headers=headers)
        assert r.status_code == 413
        assert r.json()["code"] == "payload_too_large"

        def chunks() -> Iterator[bytes]:
            yield b'{"quantity": "q", "methods": ["m"], "parameters": {"m": {"x": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}}}'

        r = httpx.post(
            f"{broker.url}/api/v1/requests",
            content=chunks(),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 413, r.text
        small = httpx.post(
            f"{broker.url}/api/v1/requests",
            headers=headers,
            json={"quantity": "q", "methods": ["m"], "parameters": {"m": {}}},
        )
        assert small.status_code == 422  # parsed normally: no capability q/m


# Every door that takes a body, clean API and FINALES 2 routes, with and without credentials.
BODY_ROUTES = [
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/users"),
    ("POST", "/api/v1/capabilities"),
    ("POST", "/api/v1/tenants"),
    ("PUT", "/api/v1/tenants/some-id/offers"),
    ("POST", "/api/v1/requests"),
    ("POST", "/api/v1/requests/some-id/claim"),
    ("POST", "/api/v1/results"),
    ("POST", "/api/v1/results/some-id/amend"),
    ("GET", "/api/v1/requests"),
    ("POST", "/user_management/authenticate"),
    ("POST", "/requests/"),
    ("POST", "/requests"),
    ("POST", "/requests/some-id/update_status/"),
    ("POST", "/results/"),
    ("POST", "/results/post_unsolicited_result"),
    ("POST", "/results/some-id/update_status/"),
]


def test_oversized_bodies_get_413_on_every_door(tmp_path: Path) -> None:
    limit = 2000
    with LocalBroker(tmp_path, max_body_bytes=limit) as broker:
        key = broker.add_user("admin", role=Role.ADMIN)
        big = b'{"x": "' + b"y" * (2 * limit) + b'"}'

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(big), 400):
                yield big[start : start + 400]

        with httpx.Client(base_url=broker.url, timeout=30) as c:
            for auth in ({}, {"Authorization": f"Bearer {key}"}):
                headers = {**auth, "Content-Type": "application/json"}
                for method, path in BODY_ROUTES:
                    sized = c.request(method, path, content=big, headers=headers)
                    chunked = c.request(method, path, content=chunks(), headers=headers)
                    assert "content-length" not in chunked.request.headers
                    for how, r in (("Content-Length", sized), ("chunked", chunked)):
                        assert r.status_code == 413, (how, method, path, auth, r.text)
                        assert r.json()["code"] == "payload_too_large", r.text
            # The server is fine afterwards, and a body just under the limit gets parsed.
            small = b'{"x": "' + b"y" * (limit - 20) + b'"}'
            r = c.post("/requests/", content=small, headers={"Content-Type": "application/json"})
            assert r.status_code == 401
            r = c.post(
                "/api/v1/requests",
                content=small,
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            assert r.status_code == 422, r.text
