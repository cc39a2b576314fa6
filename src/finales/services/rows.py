"""Rows to views: the base queries of requests and results, and the loaders the services use.

Hot statements are built once with bind parameters: building a select and computing its
cache key cost more CPU than running it on SQLite (profiled under benchmarks/broker_load.py).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import Connection, Row

from finales.db import tables as t
from finales.domain.principals import Role
from finales.domain.statuses import RequestStatus, ResultStatus
from finales.domain.views import EventView, RequestView, ResultView, UserView, WorkItemView
from finales.errors import NotFound

REQUEST_COLUMNS = (
    t.requests.c.seq,
    t.requests.c.id,
    t.requests.c.quantity,
    t.requests.c.methods,
    t.requests.c.parameters,
    t.requests.c.capability_ids,
    t.requests.c.parent_request_id,
    t.requests.c.requester_tenant_id,
    t.principals.c.name.label("requester"),
    t.requests.c.requester_principal_id,
    t.request_state.c.status,
    t.request_state.c.reserved_by,
    t.request_state.c.lease_expires_at,
    t.requests.c.created_at,
    t.request_state.c.updated_at,
    t.requests.c.labels,
    t.requests.c.inputs,
)

REQUEST_SELECT: sa.Select[Any] = sa.select(*REQUEST_COLUMNS).select_from(
    t.requests.join(t.request_state, t.request_state.c.request_seq == t.requests.c.seq).join(
        t.principals, t.principals.c.id == t.requests.c.requester_principal_id
    )
)
_REQUEST_BY_ID = REQUEST_SELECT.where(t.requests.c.id == sa.bindparam("request_id"))


def request_view(row: Row[Any]) -> RequestView:
    # REQUEST_COLUMNS are labelled as the view's fields (labels and inputs are NULL on rows
    # older than migration 0005).
    return RequestView(
        **{
            **row._mapping,
            "status": RequestStatus(row.status),
            "labels": row.labels or {},
            "inputs": row.inputs or [],
        }
    )


_REQUEST_FIELDS = tuple(f.name for f in fields(RequestView))


def work_item_view(view: RequestView, matching_methods: list[str]) -> WorkItemView:
    """``view`` as a work item: with the methods of it the caller's offers cover."""
    return extended_request(view, WorkItemView, matching_methods=matching_methods)


R = TypeVar("R", bound=RequestView)


def extended_request(view: RequestView, kind: type[R], **extra: Any) -> R:
    """``view`` as one of the views that add fields to a request (``kind``), with ``extra``."""
    values = {name: getattr(view, name) for name in _REQUEST_FIELDS}
    return kind(**values, **extra)


def load_request(conn: Connection, request_id: str) -> RequestView:
    """The request with its current status; 404 for an unknown id."""
    row = conn.execute(_REQUEST_BY_ID, {"request_id": request_id}).first()
    if row is None:
        raise NotFound(f"no request with id {request_id!r}")
    return request_view(row)


RESULT_COLUMNS = (
    t.results.c.seq,
    t.results.c.id,
    t.requests.c.id.label("request_id"),
    t.results.c.request_seq,
    t.results.c.quantity,
    t.results.c.method,
    t.results.c.parameters,
    t.results.c.data,
    t.results.c.tenant_id,
    t.results.c.principal_id,
    t.results.c.capability_id,
    t.result_state.c.status,
    t.results.c.supersedes,
    t.result_state.c.superseded_by,
    t.results.c.created_at,
    t.results.c.inputs,
)

RESULT_SELECT: sa.Select[Any] = sa.select(*RESULT_COLUMNS).select_from(
    t.results.join(t.result_state, t.result_state.c.result_seq == t.results.c.seq).join(
        t.requests, t.requests.c.seq == t.results.c.request_seq
    )
)
_RESULT_BY_ID = RESULT_SELECT.where(t.results.c.id == sa.bindparam("result_id"))


def result_view(row: Row[Any]) -> ResultView:
    # RESULT_COLUMNS are labelled as the view's fields.
    return ResultView(
        **{**row._mapping, "status": ResultStatus(row.status), "inputs": row.inputs or []}
    )


def load_result(conn: Connection, result_id: str) -> ResultView:
    """The result with its current status; 404 for an unknown id."""
    row = conn.execute(_RESULT_BY_ID, {"result_id": result_id}).first()
    if row is None:
        raise NotFound(f"no result with id {result_id!r}")
    return result_view(row)


def event_view(row: Row[Any]) -> EventView:
    m = row._mapping
    return EventView(
        seq=m["seq"],
        at=m["at"],
        actor=m["actor"],
        from_status=m["from_status"],
        to_status=m["to_status"],
        message=m["message"],
        tenant_id=m.get("tenant_id"),
        lease_expires_at=m.get("lease_expires_at"),
    )


USER_COLUMNS = (
    t.principals.c.id,
    t.principals.c.name,
    t.principals.c.role,
    t.principals.c.tenant_id,
    t.principals.c.created_at,
    t.principals.c.disabled_at,
)


def user_view(row: Any) -> UserView:
    return UserView(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        tenant_id=row.tenant_id,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )
