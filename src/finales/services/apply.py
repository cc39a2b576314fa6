"""Applying planned transitions: the one conditional write and the one appended event.

Every status change of a request or a result goes through ``apply_request`` /
``apply_result`` (creations through ``insert_request`` / ``insert_result``, which write the
record, its projection row and the first event). The projection changes only in the
transaction that appends the event driving it (architecture.md, principle 1).

Concurrency: the UPDATE's WHERE clause is the compare-and-set. It re-checks the status the
plan started from - and the reservation it was planned against, and the lease (still live at
the transition's time for the reserver's actions, still run out for an expiry; the rule of
``finales.domain.leases``, in SQL) - under the row lock (SQLite: the write lock taken by
BEGIN IMMEDIATE; PostgreSQL: the row lock, with the WHERE re-evaluated on the latest row
version). A plan made from a view that another writer made stale - or from a lease the clock
has run out meanwhile - therefore changes nothing and raises.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from finales.db import tables as t
from finales.domain.leases import LeaseGuard
from finales.domain.principals import Principal
from finales.domain.statuses import RequestStatus
from finales.domain.transitions import RequestTransition, ResultTransition, lost_race
from finales.domain.views import RequestView, ResultView
from finales.errors import InvalidTransition

rs, st = t.request_state, t.result_state


def _request_update(*, guard_reservation: bool, lease: LeaseGuard) -> Any:
    cond = [rs.c.request_seq == sa.bindparam("seq"), rs.c.status == sa.bindparam("from_status")]
    if guard_reservation:
        cond.append(rs.c.reserved_by == sa.bindparam("expect_reserved_by"))
    at = sa.bindparam("at", type_=rs.c.lease_expires_at.type)
    expiry = rs.c.lease_expires_at
    if lease is LeaseGuard.DUE:  # leases.is_expired
        cond += [expiry.is_not(None), expiry <= at]
    elif lease is LeaseGuard.LIVE:  # leases.is_live
        cond.append(sa.or_(expiry.is_(None), expiry > at))
    return (
        rs.update()
        .where(*cond)
        .values(
            status=sa.bindparam("to_status"),
            reserved_by=sa.bindparam("reserved_by"),
            lease_expires_at=sa.bindparam("lease_expires_at"),
            updated_at=sa.bindparam("at"),
        )
        .returning(rs.c.request_seq)
    )


# The shapes of the compare-and-set, built once (hot path).
_REQUEST_UPDATES = {
    (reservation, lease): _request_update(guard_reservation=reservation, lease=lease)
    for reservation in (False, True)
    for lease in LeaseGuard
}
_INSERT_REQUEST_EVENT = t.request_events.insert()
_INSERT_REQUEST = t.requests.insert().returning(t.requests.c.seq)
_INSERT_METHODS = t.request_methods.insert()
_INSERT_LABELS = t.request_labels.insert()
_INSERT_REQUEST_STATE = rs.insert()
_REQUEST_STATUS = sa.select(rs.c.status, rs.c.lease_expires_at).where(
    rs.c.request_seq == sa.bindparam("seq")
)


def _append_request_event(conn: Connection, seq: int, tr: RequestTransition) -> None:
    conn.execute(
        _INSERT_REQUEST_EVENT,
        {
            "request_seq": seq,
            "at": tr.at,
            "actor": tr.actor,
            "tenant_id": tr.tenant_id,
            "from_status": tr.from_status.value if tr.from_status else None,
            "to_status": tr.to_status.value,
            "message": tr.message,
            "lease_expires_at": tr.lease_expires_at,
        },
    )


def apply_request(conn: Connection, view: RequestView, tr: RequestTransition) -> RequestView:
    """Write ``tr`` if the row still is as it was planned from; return the view after it.

    Raises the transition's lost-race error (409) when another writer changed it meanwhile.
    """
    if tr.from_status is None:
        raise ValueError("a creation is written with insert_request")
    guard = (tr.expect_reserved_by is not None, tr.lease)
    done = conn.execute(
        _REQUEST_UPDATES[guard],
        {
            "seq": view.seq,
            "from_status": tr.from_status.value,
            "expect_reserved_by": tr.expect_reserved_by,
            "to_status": tr.to_status.value,
            "reserved_by": tr.reserved_by,
            "lease_expires_at": tr.lease_expires_at,
            "at": tr.at,
        },
    ).first()
    if done is None:
        row = conn.execute(_REQUEST_STATUS, {"seq": view.seq}).first()
        if row is None:
            raise lost_race(tr, view.id, None)
        raise lost_race(tr, view.id, RequestStatus(row.status), row.lease_expires_at)
    _append_request_event(conn, view.seq, tr)
    return tr.applied_to(view)


def insert_request(
    conn: Connection,
    tr: RequestTransition,
    *,
    request_id: str,
    principal: Principal,
    quantity: str,
    methods: list[str],
    parameters: dict[str, dict[str, Any]],
    capability_ids: dict[str, str],
    parent_request_id: str | None,
    labels: dict[str, str] | None = None,
    inputs: list[str] | None = None,
) -> RequestView:
    """Store a new request, its labels, its projection row and its first event (``tr``: a
    creation)."""
    seq = conn.execute(
        _INSERT_REQUEST,
        {
            "id": request_id,
            "quantity": quantity,
            "methods": methods,
            "parameters": parameters,
            "capability_ids": capability_ids,
            "requester_principal_id": principal.id,
            "requester_tenant_id": principal.tenant_id,
            "parent_request_id": parent_request_id,
            "created_at": tr.at,
            "labels": labels or None,
            "inputs": inputs or None,
        },
    ).scalar_one()
    conn.execute(_INSERT_METHODS, [{"request_seq": seq, "method": m} for m in methods])
    if labels:
        conn.execute(
            _INSERT_LABELS, [{"request_seq": seq, "key": k, "value": v} for k, v in labels.items()]
        )
    conn.execute(
        _INSERT_REQUEST_STATE,
        {
            "request_seq": seq,
            "quantity": quantity,
            "status": tr.to_status.value,
            "updated_at": tr.at,
        },
    )
    _append_request_event(conn, seq, tr)
    return RequestView(
        seq=seq,
        id=request_id,
        quantity=quantity,
        methods=methods,
        parameters=parameters,
        capability_ids=capability_ids,
        parent_request_id=parent_request_id,
        requester_tenant_id=principal.tenant_id,
        requester=principal.name,
        requester_principal_id=principal.id,
        status=tr.to_status,
        reserved_by=tr.reserved_by,
        lease_expires_at=None,
        created_at=tr.at,
        updated_at=tr.at,
        labels=dict(labels or {}),
        inputs=list(inputs or []),
    )


# ------------------------------------------------------------------------------ results

_INSERT_RESULT = t.results.insert().returning(t.results.c.seq)
_INSERT_RESULT_STATE = st.insert()
_INSERT_RESULT_EVENT = t.result_events.insert()
_RESULT_UPDATE = (
    st.update()
    .where(st.c.result_seq == sa.bindparam("seq"), st.c.status == sa.bindparam("from_status"))
    .values(
        status=sa.bindparam("to_status"),
        superseded_by=sa.func.coalesce(sa.bindparam("superseded_by"), st.c.superseded_by),
        updated_at=sa.bindparam("at"),
    )
    .returning(st.c.result_seq)
)


def _append_result_event(conn: Connection, seq: int, tr: ResultTransition) -> None:
    conn.execute(
        _INSERT_RESULT_EVENT,
        {
            "result_seq": seq,
            "at": tr.at,
            "actor": tr.actor,
            "from_status": tr.from_status.value if tr.from_status else None,
            "to_status": tr.to_status.value,
            "message": tr.message,
        },
    )


def apply_result(conn: Connection, view: ResultView, tr: ResultTransition) -> ResultView:
    """Write ``tr`` if the result still has the status it was planned from."""
    if tr.from_status is None:
        raise ValueError("a creation is written with insert_result")
    done = conn.execute(
        _RESULT_UPDATE,
        {
            "seq": view.seq,
            "from_status": tr.from_status.value,
            "to_status": tr.to_status.value,
            "superseded_by": tr.superseded_by,
            "at": tr.at,
        },
    ).first()
    if done is None:
        raise InvalidTransition(f"result {view.id} changed status meanwhile; reload it")
    _append_result_event(conn, view.seq, tr)
    return replace(view, status=tr.to_status, superseded_by=tr.superseded_by or view.superseded_by)


def insert_result(
    conn: Connection,
    tr: ResultTransition,
    *,
    result_id: str,
    request: RequestView,
    principal: Principal,
    tenant_id: str,
    method: str,
    parameters: dict[str, Any],
    data: dict[str, Any],
    capability_id: str,
    supersedes: str | None = None,
    inputs: list[str] | None = None,
) -> ResultView:
    """Store a new result, its projection row and its first event (``tr``: a creation)."""
    seq = conn.execute(
        _INSERT_RESULT,
        {
            "id": result_id,
            "request_seq": request.seq,
            "quantity": request.quantity,
            "method": method,
            "parameters": parameters,
            "data": data,
            "capability_id": capability_id,
            "tenant_id": tenant_id,
            "principal_id": principal.id,
            "supersedes": supersedes,
            "created_at": tr.at,
            "inputs": inputs or None,
        },
    ).scalar_one()
    conn.execute(
        _INSERT_RESULT_STATE,
        {"result_seq": seq, "status": tr.to_status.value, "updated_at": tr.at},
    )
    _append_result_event(conn, seq, tr)
    return ResultView(
        id=result_id,
        seq=seq,
        request_id=request.id,
        request_seq=request.seq,
        quantity=request.quantity,
        method=method,
        parameters=parameters,
        data=data,
        tenant_id=tenant_id,
        principal_id=principal.id,
        capability_id=capability_id,
        status=tr.to_status,
        supersedes=supersedes,
        superseded_by=None,
        created_at=tr.at,
        inputs=list(inputs or []),
    )
