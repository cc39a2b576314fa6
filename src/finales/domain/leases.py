"""Lease arithmetic. A lease is an expiry time on a reservation; expiry is a comparison."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from finales.errors import invalid


def utcnow() -> datetime:
    return datetime.now(UTC)


def lease_expiry(now: datetime, lease_s: float | None) -> datetime | None:
    """Expiry of a lease of ``lease_s`` seconds taken at ``now``; None never expires."""
    if lease_s is None:
        return None
    return now + timedelta(seconds=lease_s)


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now


def clamp_lease(lease_s: float | None, *, default_s: float, max_s: float) -> float:
    """Validate a requested lease length (422 when out of range) or apply the default."""
    if lease_s is None:
        return default_s
    if not 0 < lease_s <= max_s:
        raise invalid("/lease_seconds", f"must be > 0 and <= {max_s:g} seconds")
    return lease_s
