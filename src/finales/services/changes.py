"""What waiting long-polls need to know: which offers a hand-out serves, and what changed in
the database since the last look (for changes that no in-process notification announced)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from finales.db import tables as t
from finales.domain.principals import Principal
from finales.domain.statuses import RequestStatus as RS
from finales.services.capabilities import _active_map
from finales.services.tenants import current_offers


def handout_offers(
    session: Connection,
    *,
    principal: Principal,
    quantity: str | None = None,
    method: str | None = None,
) -> list[dict[str, Any]]:
    """The caller's offers that ``GET /work`` serves: of active capabilities, filtered by
    ``quantity`` and ``method`` (the same ones ``services.requests.work`` matches against)."""
    tenant_id = principal.acting_tenant()
    offers = [
        o
        for o in current_offers(session, [tenant_id]).get(tenant_id, [])
        if (quantity is None or o["quantity"] == quantity)
        and (method is None or o["method"] == method)
    ]
    if not offers:
        return []
    active = _active_map(session)
    return [o for o in offers if active.get((o["quantity"], o["method"]), False)]


@dataclass(frozen=True)
class Snapshot:
    """The claimable queue and the marks of offers and capabilities at one moment."""

    pending: frozenset[int]
    offers_mark: int
    capabilities_mark: int


_PENDING = sa.select(t.request_state.c.request_seq).where(
    t.request_state.c.status == RS.PENDING.value
)
_MARKS = sa.select(
    sa.select(sa.func.max(t.offer_sets.c.seq)).scalar_subquery(),
    sa.select(sa.func.max(t.capability_events.c.seq)).scalar_subquery(),
)
_VIEWS = sa.select(
    t.requests.c.seq, t.requests.c.quantity, t.requests.c.methods, t.requests.c.parameters
).where(t.requests.c.seq.in_(sa.bindparam("seqs", expanding=True)))


def snapshot(session: Connection) -> Snapshot:
    """Read from indexes only: the cost follows the live queue, not the history."""
    pending = frozenset(session.scalars(_PENDING))
    offers_mark, capabilities_mark = session.execute(_MARKS).one()
    return Snapshot(pending, offers_mark or 0, capabilities_mark or 0)


def work_views(session: Connection, seqs: list[int]) -> list[dict[str, Any]]:
    """Quantity, methods and parameters of requests: what a waiter's offers are matched on."""
    if not seqs:
        return []
    return [dict(r._mapping) for r in session.execute(_VIEWS, {"seqs": seqs})]
