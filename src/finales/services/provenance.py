"""The provenance of a workflow tree: everything the PROV-O export needs, read in one
transaction (the tree, its events, its results, the inputs from outside it, the tenants'
names), and the document built from it by ``finales.domain.provenance``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from finales.db import tables as t
from finales.domain.provenance import ProvenanceRecord, provenance_document
from finales.domain.views import EventView
from finales.errors import invalid
from finales.services.rows import (
    REQUEST_SELECT,
    RESULT_SELECT,
    event_view,
    load_request,
    request_view,
    result_view,
)
from finales.services.workflows import subtree

# One export reads the whole tree at once: past this many requests, export a subtree.
MAX_PROVENANCE_REQUESTS = 10_000


def provenance_record(conn: Connection, request_id: str) -> ProvenanceRecord:
    """What the export of the tree under ``request_id`` says (404 for an unknown one)."""
    load_request(conn, request_id)
    tree = subtree(request_id)
    seqs = sa.select(tree.c.seq)
    rows = conn.execute(
        REQUEST_SELECT.join(tree, tree.c.seq == t.requests.c.seq)
        .order_by(tree.c.depth, t.requests.c.seq)
        .limit(MAX_PROVENANCE_REQUESTS + 1)
    ).all()
    if len(rows) > MAX_PROVENANCE_REQUESTS:
        raise invalid(
            "/request_id",
            f"the tree has more than {MAX_PROVENANCE_REQUESTS} requests: export a subtree",
        )
    requests = [request_view(r) for r in rows]
    events: dict[int, list[EventView]] = {}
    for row in conn.execute(
        sa.select(t.request_events)
        .where(t.request_events.c.request_seq.in_(seqs))
        .order_by(t.request_events.c.seq)
    ):
        events.setdefault(row.request_seq, []).append(event_view(row))
    results = [
        result_view(r)
        for r in conn.execute(
            RESULT_SELECT.where(t.results.c.request_seq.in_(seqs)).order_by(t.results.c.seq)
        )
    ]
    inside = {r.id for r in results}
    named = {i for v in requests for i in v.inputs} | {i for v in results for i in v.inputs}
    named -= inside
    outside = (
        [
            result_view(r)
            for r in conn.execute(
                RESULT_SELECT.where(t.results.c.id.in_(sorted(named))).order_by(t.results.c.seq)
            )
        ]
        if named
        else []
    )
    tenant_names = {
        row.id: row.name for row in conn.execute(sa.select(t.tenants.c.id, t.tenants.c.name))
    }
    return ProvenanceRecord(
        root_id=request_id,
        requests=requests,
        events=events,
        results=results,
        outside_inputs=outside,
        tenant_names=tenant_names,
    )


def provenance(conn: Connection, request_id: str) -> dict[str, Any]:
    """The tree under ``request_id`` as PROV-O in JSON-LD."""
    return provenance_document(provenance_record(conn, request_id))
