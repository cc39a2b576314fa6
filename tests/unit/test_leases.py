"""Lease arithmetic: time is injected, nothing sleeps."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from finales.domain.leases import clamp_lease, is_expired, lease_expiry, utcnow
from finales.errors import InvalidPayload

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_lease_expiry_adds_the_lease_to_now() -> None:
    assert lease_expiry(NOW, 90) == NOW + timedelta(seconds=90)
    assert lease_expiry(NOW, 0.5) == NOW + timedelta(milliseconds=500)


def test_none_lease_never_expires() -> None:
    expires = lease_expiry(NOW, None)
    assert expires is None
    assert not is_expired(expires, NOW + timedelta(days=365 * 100))


def test_is_expired_at_and_after_the_expiry() -> None:
    expires = lease_expiry(NOW, 60)
    assert not is_expired(expires, NOW)
    assert not is_expired(expires, NOW + timedelta(seconds=59.999))
    assert is_expired(expires, NOW + timedelta(seconds=60))
    assert is_expired(expires, NOW + timedelta(hours=1))


def test_utcnow_is_timezone_aware_utc() -> None:
    now = utcnow()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


def test_clamp_lease_applies_the_default() -> None:
    assert clamp_lease(None, default_s=300, max_s=3600) == 300


@pytest.mark.parametrize("lease", [0.001, 1, 300, 3600])
def test_clamp_lease_accepts_leases_up_to_the_maximum(lease: float) -> None:
    assert clamp_lease(lease, default_s=300, max_s=3600) == lease


@pytest.mark.parametrize("lease", [0, -1, 3600.5, 1e9, math.inf, math.nan])
def test_clamp_lease_refuses_out_of_range_leases(lease: float) -> None:
    with pytest.raises(InvalidPayload) as caught:
        clamp_lease(lease, default_s=300, max_s=3600)
    assert [e["pointer"] for e in caught.value.errors] == ["/lease_seconds"]
    assert "3600" in caught.value.detail
    assert caught.value.status_code == 422
