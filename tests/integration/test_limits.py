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
