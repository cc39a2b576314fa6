"""Workflow trees: the requests below a request (one recursive query on both databases), how
deep a new request would sit, a page of a tree, and the inputs a request or result names.

A tree is followed through ``requests.parent_request_id`` (indexed). Every walk stops at
``MAX_TREE_DEPTH`` levels: submissions below that depth are refused, so the bound loses no
request, and it would stop a cycle (which server-made ids cannot form) from running away.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from finales.db import tables as t
from finales.domain.statuses import RequestStatus, ResultStatus
from finales.domain.views import TreeNodeView
from finales.domain.workflows import MAX_TREE_DEPTH, check_depth
from finales.errors import invalid
from finales.services.common import MAX_SEQ
from finales.services.rows import load_request


def subtree(root_id: str, *, name: str = "tree") -> sa.CTE:
    """(seq, id, depth) of ``root_id`` (depth 0) and every request below it, down to
    ``MAX_TREE_DEPTH`` levels: a recursive CTE that SQLite and PostgreSQL both run."""
    r = t.requests
    top = (
        sa.select(r.c.seq, r.c.id, sa.literal(0, sa.Integer).label("depth"))
        .where(r.c.id == root_id)
        .cte(name, recursive=True)
    )
    child = r.alias(f"{name}_child")
    return top.union_all(
        sa.select(child.c.seq, child.c.id, (top.c.depth + 1).label("depth")).where(
            child.c.parent_request_id == top.c.id, top.c.depth < MAX_TREE_DEPTH
        )
    )


def descendant_seqs(root_id: str) -> sa.Select[Any]:
    """The seqs of the requests below ``root_id`` (not itself), for ``seq IN (...)``."""
    tree = subtree(root_id)
    return sa.select(tree.c.seq).where(tree.c.depth > 0)


def check_parent(conn: Connection, parent_request_id: str) -> None:
    """The parent must exist, and a child of it must not sit deeper than MAX_TREE_DEPTH
    (422 naming ``/parent_request_id``). One query walks the parent's ancestors."""
    r = t.requests
    up = (
        sa.select(r.c.parent_request_id, sa.literal(0, sa.Integer).label("depth"))
        .where(r.c.id == parent_request_id)
        .cte("ancestors", recursive=True)
    )
    above = r.alias("ancestor")
    up = up.union_all(
        sa.select(above.c.parent_request_id, (up.c.depth + 1).label("depth")).where(
            above.c.id == up.c.parent_request_id, up.c.depth <= MAX_TREE_DEPTH
        )
    )
    depth = conn.scalar(sa.select(sa.func.max(up.c.depth)))
    if depth is None:
        raise invalid("/parent_request_id", f"no request with id {parent_request_id!r}")
    check_depth(int(depth))


def check_inputs_exist(conn: Connection, inputs: Sequence[str], at: str = "/inputs") -> None:
    """Each input names a stored result (422 naming the first that does not, ``/inputs/3``)."""
    if not inputs:
        return
    found = set(conn.scalars(sa.select(t.results.c.id).where(t.results.c.id.in_(inputs))))
    for i, result_id in enumerate(inputs):
        if result_id not in found:
            raise invalid(f"{at}/{i}", f"no result with id {result_id!r}")


# ------------------------------------------------------------------------------ tree pages


def _encode(depth: int, seq: int) -> str:
    return base64.urlsafe_b64encode(f"t{depth}.{seq}".encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return -1, 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        depth_s, seq_s = raw[1:].split(".") if raw.startswith("t") else ("", "")
        depth, seq = int(depth_s), int(seq_s)
        if not (0 <= depth <= MAX_TREE_DEPTH and 0 <= seq <= MAX_SEQ):
            raise ValueError
        return depth, seq
    except (ValueError, UnicodeDecodeError):
        raise invalid("/cursor", "not a cursor returned by this server") from None


def tree_page(
    conn: Connection, request_id: str, *, cursor: str | None = None, limit: int = 100
) -> tuple[list[TreeNodeView], str | None]:
    """One page of the tree under ``request_id`` (itself first, at depth 0), ordered by
    depth, then by creation (seq) within a depth - every parent before its children - and
    the cursor of the next page. 404 for an unknown request."""
    load_request(conn, request_id)
    after_depth, after_seq = _decode(cursor)
    tree = subtree(request_id)
    r, rs = t.requests, t.request_state
    q = (
        sa.select(
            r.c.seq,
            r.c.id,
            r.c.parent_request_id,
            tree.c.depth,
            r.c.quantity,
            r.c.methods,
            rs.c.status,
            rs.c.reserved_by,
            r.c.labels,
            r.c.created_at,
            rs.c.updated_at,
        )
        .select_from(tree.join(r, r.c.seq == tree.c.seq).join(rs, rs.c.request_seq == tree.c.seq))
        .where(
            sa.or_(
                tree.c.depth > after_depth,
                sa.and_(tree.c.depth == after_depth, tree.c.seq > after_seq),
            )
        )
        .order_by(tree.c.depth, tree.c.seq)
        .limit(limit + 1)
    )
    rows = conn.execute(q).all()
    more = len(rows) > limit
    rows = rows[:limit]
    results = _result_ids(conn, [row.seq for row in rows])
    nodes = [
        TreeNodeView(
            seq=row.seq,
            id=row.id,
            parent_request_id=row.parent_request_id,
            depth=row.depth,
            quantity=row.quantity,
            methods=row.methods,
            status=RequestStatus(row.status),
            reserved_by=row.reserved_by,
            labels=row.labels or {},
            created_at=row.created_at,
            updated_at=row.updated_at,
            result_ids=results.get(row.seq, []),
        )
        for row in rows
    ]
    nxt = _encode(nodes[-1].depth, nodes[-1].seq) if more and nodes else None
    return nodes, nxt


def _result_ids(conn: Connection, request_seqs: list[int]) -> dict[int, list[str]]:
    """The ids of the (not deleted) results of these requests, oldest first."""
    if not request_seqs:
        return {}
    res, st = t.results, t.result_state
    rows = conn.execute(
        sa.select(res.c.request_seq, res.c.id)
        .join(st, st.c.result_seq == res.c.seq)
        .where(res.c.request_seq.in_(request_seqs), st.c.status != ResultStatus.DELETED.value)
        .order_by(res.c.seq)
    )
    out: dict[int, list[str]] = {}
    for row in rows:
        out.setdefault(row.request_seq, []).append(row.id)
    return out
