"""Lease arithmetic. A lease is an expiry time on a reservation; expiry is a comparison.

Expiry is a fact of the clock, not of the lease sweeper: a lease is live at ``now`` when it
has no expiry or its expiry is later than ``now`` (``is_live``), and run out otherwise
(``is_expired``). Every change that needs the reservation - the result, the heartbeat, the
release - asks ``is_live`` at the time of the change, and its conditional write asks the same
of the row (``LeaseGuard``, ``finales.services.apply``); whether the sweeper has recorded the
expiry yet changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

from finales.errors import invalid


def utcnow() -> datetime:
    return datetime.now(UTC)


def lease_expiry(now: datetime, lease_s: float | None) -> datetime | None:
    """Expiry of a lease of ``lease_s`` seconds taken at ``now``; None never expires."""
    if lease_s is None:
        return None
    return now + timedelta(seconds=lease_s)


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    """The lease has run out at ``now`` (an expiry equal to ``now`` has run out)."""
    return expires_at is not None and expires_at <= now


def is_live(expires_at: datetime | None, now: datetime) -> bool:
    """The lease still holds at ``now``: the exact complement of ``is_expired``."""
    return not is_expired(expires_at, now)


class LeaseGuard(StrEnum):
    """What a transition's conditional write requires of the row's lease at its time."""

    NONE = "none"  # nothing: the change does not act on a lease (claim, retract, ...)
    LIVE = "live"  # still live: the reserver acts on its reservation (is_live)
    DUE = "due"  # run out: the expiry itself (is_expired)


def clamp_lease(lease_s: float | None, *, default_s: float, max_s: float) -> float:
    """Validate a requested lease length (422 when out of range) or apply the default."""
    if lease_s is None:
        return default_s
    if not 0 < lease_s <= max_s:
        raise invalid("/lease_seconds", f"must be > 0 and <= {max_s:g} seconds")
    return lease_s
