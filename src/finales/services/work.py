"""The work hand-out, and what waiting long-polls need to know: which offers a hand-out
serves, and what changed in the database since the last look (for changes that no
in-process notification announced)."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from finales.db import tables as t
from finales.domain.changes import RequestClaimable
from finales.domain.offers import CompiledOffer, CompiledOfferCache, CompiledOffers
from finales.domain.principals import Principal
from finales.domain.statuses import RequestStatus as RS
from finales.domain.views import WorkItemView
from finales.services import capabilities, tenants
from finales.services.rows import REQUEST_SELECT, request_view, work_item_view

HANDOUT_BATCH = 200
HANDOUT_SCAN_MAX = 5000


# Compiled offer sets, one cache per database (an engine): offer set numbers are unique and
# immutable within one database only. Weak keys: a disposed engine takes its cache with it.
_COMPILED: weakref.WeakKeyDictionary[Engine, CompiledOfferCache] = weakref.WeakKeyDictionary()
_COMPILED_LOCK = threading.Lock()


def compiled_offers(conn: Connection, tenant_id: str) -> tuple[CompiledOffer, ...]:
    """The tenant's current offers, compiled once per offer set: a ``GET /work`` reads one
    index entry, not the limitations, and matches with the compiled matchers (a claim too)."""
    offer_set = tenants.latest_offer_set(conn, tenant_id)
    if offer_set is None:
        return ()
    with _COMPILED_LOCK:
        cache = _COMPILED.get(conn.engine)
        if cache is None:
            cache = _COMPILED[conn.engine] = CompiledOfferCache()
    key = (tenant_id, offer_set)
    found = cache.get(key)
    if found is None:
        found = cache.put(key, tenants.offers_in_set(conn, offer_set))
    return found


def handout_offers(
    conn: Connection,
    *,
    principal: Principal,
    quantity: str | None = None,
    method: str | None = None,
) -> CompiledOffers:
    """The caller's offers that ``GET /work`` serves: of active capabilities, filtered by
    ``quantity`` and ``method``; compiled, so the long-poll's notifier matches new requests
    without compiling (or matching) anything on the event loop."""
    tenant_id = principal.acting_tenant()
    offers = [
        c
        for c in compiled_offers(conn, tenant_id)
        if (quantity is None or c.offer.quantity == quantity)
        and (method is None or c.offer.method == method)
    ]
    if not offers:
        return CompiledOffers()
    active = capabilities.active_pairs(conn)
    return CompiledOffers(c for c in offers if (c.offer.quantity, c.offer.method) in active)


def work(
    conn: Connection,
    *,
    principal: Principal,
    now: datetime,
    quantity: str | None = None,
    method: str | None = None,
    limit: int = 10,
) -> list[WorkItemView]:
    """Pending requests the caller's offers (and their limitations) cover, oldest first.

    Claimable includes reservations whose lease has run out (claim expires them).
    """
    offers = handout_offers(conn, principal=principal, quantity=quantity, method=method)
    pairs = sorted(offers.pairs)
    if not pairs:
        return []
    rs, rm = t.request_state, t.request_methods
    claimable = sa.or_(
        rs.c.status == RS.PENDING.value,
        sa.and_(
            rs.c.status == RS.RESERVED.value,
            rs.c.lease_expires_at.is_not(None),
            rs.c.lease_expires_at <= now,
        ),
    )
    # Driven by request_state's status indexes: the scan follows the live queue of the
    # offered quantities, never the history (joining request_methods first would walk every
    # request ever made with the method).
    pair_match = sa.exists().where(
        rm.c.request_seq == rs.c.request_seq,
        sa.or_(*[sa.and_(rs.c.quantity == q, rm.c.method == m) for q, m in pairs]),
    )
    candidates = sa.select(rs.c.request_seq).where(
        claimable, rs.c.quantity.in_(sorted({q for q, _ in pairs})), pair_match
    )
    found: list[WorkItemView] = []
    after, scanned = 0, 0
    while len(found) < limit and scanned < HANDOUT_SCAN_MAX:
        seqs = conn.scalars(
            candidates.where(rs.c.request_seq > after)
            .order_by(rs.c.request_seq)
            .limit(HANDOUT_BATCH)
        ).all()
        if not seqs:
            break
        scanned += len(seqs)
        after = seqs[-1]
        rows = conn.execute(
            REQUEST_SELECT.where(t.requests.c.seq.in_(seqs)).order_by(t.requests.c.seq)
        ).all()
        for row in rows:
            view = request_view(row)
            methods = offers.covered_methods(
                quantity=view.quantity, methods=view.methods, parameters=view.parameters
            )
            if methods:
                found.append(work_item_view(view, methods))
                if len(found) == limit:
                    break
    return found


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
_CLAIMABLE = sa.select(
    t.requests.c.id, t.requests.c.quantity, t.requests.c.methods, t.requests.c.parameters
).where(t.requests.c.seq.in_(sa.bindparam("seqs", expanding=True)))


def snapshot(conn: Connection) -> Snapshot:
    """Read from indexes only: the cost follows the live queue, not the history."""
    pending = frozenset(conn.scalars(_PENDING))
    offers_mark, capabilities_mark = conn.execute(_MARKS).one()
    return Snapshot(pending, offers_mark or 0, capabilities_mark or 0)


def claimable_changes(conn: Connection, seqs: list[int]) -> list[RequestClaimable]:
    """The requests ``seqs`` as claimable changes: what a waiter's offers are matched on."""
    if not seqs:
        return []
    rows: Any = conn.execute(_CLAIMABLE, {"seqs": seqs})
    return [RequestClaimable(r.id, r.quantity, r.methods, r.parameters) for r in rows]
