"""Acceptance fixtures: a fresh data directory (and database) for CLI runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from finales.testing import LocalBroker
from tests.acceptance.cli import _env


@pytest.fixture
def env(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    """A fresh data directory; on PostgreSQL a fresh migrated database as well."""
    if backend == "sqlite":
        return _env(tmp_path / "home")
    url = request.getfixturevalue("database_url")
    return _env(tmp_path / "home", url)


@pytest.fixture
def broker(served_broker: LocalBroker) -> LocalBroker:
    """Acceptance tests talk to a real server: tenants and the CLI reach it by its URL."""
    return served_broker
