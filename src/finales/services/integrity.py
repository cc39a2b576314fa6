"""Rebuild the status projections from the events and compare them with the stored ones."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from finales.db import tables as t
from finales.domain.statuses import RequestStatus
from finales.domain.transitions import projection_after


def rebuilt_request_states(session: Connection) -> dict[int, dict[str, Any]]:
    """The projection of every request, replayed from its events by the domain's rule."""
    out: dict[int, dict[str, Any]] = {}
    for ev in session.execute(sa.select(t.request_events).order_by(t.request_events.c.seq)):
        state = out.setdefault(ev.request_seq, {"reserved_by": None})
        state["status"] = ev.to_status
        state["reserved_by"] = projection_after(
            ev.to_status, previous_reserved_by=state["reserved_by"], event_tenant=ev.tenant_id
        )
        reserved = ev.to_status == RequestStatus.RESERVED
        state["lease_expires_at"] = ev.lease_expires_at if reserved else None
    return out


def rebuilt_result_states(session: Connection) -> dict[int, str]:
    out: dict[int, str] = {}
    for ev in session.execute(sa.select(t.result_events).order_by(t.result_events.c.seq)):
        out[ev.result_seq] = ev.to_status
    return out


def projection_mismatches(session: Connection) -> list[str]:
    """Differences between the stored projections and a rebuild from the events (empty: ok)."""
    problems: list[str] = []
    rebuilt = rebuilt_request_states(session)
    stored = {r.request_seq: r for r in session.execute(sa.select(t.request_state))}
    for seq in sorted(set(rebuilt) | set(stored)):
        want, have = rebuilt.get(seq), stored.get(seq)
        if want is None or have is None:
            problems.append(f"request {seq}: projection and events disagree on existence")
            continue
        for key in ("status", "reserved_by", "lease_expires_at"):
            if key in want and want[key] != getattr(have, key):
                problems.append(f"request {seq}: {key} {getattr(have, key)!r} != {want[key]!r}")
    results = rebuilt_result_states(session)
    stored_res = {r.result_seq: r.status for r in session.execute(sa.select(t.result_state))}
    if results != stored_res:
        problems.append("result_state differs from a rebuild of result_events")
    return problems
