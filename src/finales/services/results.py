"""Results: posted by the reserving tenant (or unsolicited), amended, soft-deleted.

Status changes are load -> plan (``finales.domain.transitions``) -> apply
(``finales.services.apply``), as for requests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from finales.db import tables as t
from finales.domain import transitions as plan
from finales.domain.changes import RequestChanged
from finales.domain.principals import Principal
from finales.domain.statuses import RequestStatus, ResultStatus
from finales.domain.validation import ValidatorCache
from finales.domain.views import CapabilityVersion, EventView, ResultView
from finales.domain.workflows import check_inputs
from finales.errors import Forbidden, NotFound, invalid
from finales.services import tenants, workflows
from finales.services.apply import apply_request, apply_result, insert_request, insert_result
from finales.services.capabilities import capability_by_id, capability_for_use
from finales.services.common import new_id, page, page_start
from finales.services.rows import RESULT_SELECT, event_view, load_request, load_result, result_view
from finales.services.unit_of_work import UnitOfWork


def _validate(
    validators: ValidatorCache,
    cap: CapabilityVersion,
    parameters: dict[str, Any],
    data: dict[str, Any],
) -> None:
    validators.validate(
        cap.id, cap.request_schema, parameters, base="/parameters", what="result parameters"
    )
    validators.validate(
        cap.id + ":result", cap.result_schema, data, base="/data", what="result data"
    )


def post_result(
    uow: UnitOfWork,
    *,
    principal: Principal,
    request_id: str | None,
    quantity: str,
    method: str,
    parameters: dict[str, Any],
    data: dict[str, Any],
    validators: ValidatorCache,
    named_tenant: str | None = None,
    inputs: list[str] | None = None,
) -> ResultView:
    """Post a result for a request the caller reserved, or an unsolicited one (no request).

    ``inputs``: the results this one was made from (each must exist; provenance follows them).

    An admin may post for the reserving tenant (the result belongs to that tenant). An
    unsolicited result belongs to a tenant: the caller's, or for an admin the one the payload
    names (``named_tenant``, FINALES 2's ``tenant_uuid``, checked, never trusted).
    """
    if named_tenant is not None:
        tenants.check_named_tenant(uow.conn, principal, named_tenant)
    if not principal.is_admin:
        principal.acting_tenant()  # 403 for readers and archivers, before anything is read
    inputs = check_inputs(inputs)
    workflows.check_inputs_exist(uow.conn, inputs)
    if request_id is None:
        owner = named_tenant if principal.is_admin else principal.tenant_id
        if not owner:
            raise Forbidden("an unsolicited result must come from a tenant principal")
        return _post_unsolicited(
            uow,
            principal=principal,
            tenant_id=owner,
            quantity=quantity,
            method=method,
            parameters=parameters,
            data=data,
            validators=validators,
            inputs=inputs,
        )
    try:
        request = load_request(uow.conn, request_id)
    except NotFound:
        raise NotFound(f"no request with id {request_id!r} (field /request_id)") from None
    if quantity != request.quantity:
        raise invalid("/quantity", f"the request asks for {request.quantity!r}")
    if method not in request.methods:
        raise invalid("/method", f"the request accepts only {', '.join(request.methods)}")
    result_id = new_id()
    resolve = plan.plan_resolve(request, principal, uow.now, result_id=result_id)
    cap = capability_by_id(uow.conn, request.capability_ids[method])
    _validate(validators, cap, parameters, data)
    request = apply_request(uow.conn, request, resolve)
    result = insert_result(
        uow.conn,
        plan.plan_post(principal, uow.now),
        result_id=result_id,
        request=request,
        principal=principal,
        tenant_id=resolve.tenant_id or "",
        method=method,
        parameters=parameters,
        data=data,
        capability_id=cap.id,
        inputs=inputs,
    )
    uow.report(RequestChanged(request.id))
    return result


def _post_unsolicited(
    uow: UnitOfWork,
    *,
    principal: Principal,
    tenant_id: str,
    quantity: str,
    method: str,
    parameters: dict[str, Any],
    data: dict[str, Any],
    validators: ValidatorCache,
    inputs: list[str],
) -> ResultView:
    cap = capability_for_use(uow.conn, quantity, method, "/method")
    _validate(validators, cap, parameters, data)
    request = insert_request(
        uow.conn,
        plan.plan_submit(principal, uow.now, unsolicited=True),
        request_id=new_id(),
        principal=principal,
        quantity=quantity,
        methods=[method],
        parameters={method: parameters},
        capability_ids={method: cap.id},
        parent_request_id=None,
    )
    return insert_result(
        uow.conn,
        plan.plan_post(principal, uow.now),
        result_id=new_id(),
        request=request,
        principal=principal,
        tenant_id=tenant_id,
        method=method,
        parameters=parameters,
        data=data,
        capability_id=cap.id,
        inputs=inputs,
    )


def amend_result(
    uow: UnitOfWork,
    *,
    principal: Principal,
    result_id: str,
    data: dict[str, Any],
    parameters: dict[str, Any] | None,
    message: str,
    validators: ValidatorCache,
) -> ResultView:
    """Supersede a result by a new one (linked both ways); the old one becomes ``amended``."""
    old = load_result(uow.conn, result_id)
    new_result_id = new_id()
    amend = plan.plan_amend(old, principal, uow.now, new_result_id=new_result_id, message=message)
    params = old.parameters if parameters is None else parameters
    cap = capability_by_id(uow.conn, old.capability_id)
    _validate(validators, cap, params, data)
    request = load_request(uow.conn, old.request_id)
    new = insert_result(
        uow.conn,
        plan.plan_post(principal, uow.now, supersedes=result_id, message=message),
        result_id=new_result_id,
        request=request,
        principal=principal,
        tenant_id=old.tenant_id,
        method=old.method,
        parameters=params,
        data=data,
        capability_id=cap.id,
        supersedes=result_id,
        inputs=old.inputs,  # a correction of the data made from the same inputs
    )
    apply_result(uow.conn, old, amend)
    return new


def delete_result(
    uow: UnitOfWork, *, principal: Principal, result_id: str, message: str = ""
) -> ResultView:
    """Soft-delete: an event; the row stays and listings hide it unless asked."""
    view = load_result(uow.conn, result_id)
    tr = plan.plan_delete(view, principal, uow.now, message=message)
    return apply_result(uow.conn, view, tr)


def mark_amended(
    uow: UnitOfWork, *, principal: Principal, result_id: str, message: str = ""
) -> ResultView:
    """FINALES 2's ``update_status(amended)``: flag a result as superseded without a link."""
    view = load_result(uow.conn, result_id)
    tr = plan.plan_mark_amended(view, principal, uow.now, message=message)
    return apply_result(uow.conn, view, tr)


def set_status(
    uow: UnitOfWork, *, principal: Principal, result_id: str, new_status: str, message: str = ""
) -> ResultView:
    """Move a result to ``new_status`` (FINALES 2's ``update_status``): amended or deleted."""
    if new_status == ResultStatus.DELETED:
        return delete_result(uow, principal=principal, result_id=result_id, message=message)
    if new_status == ResultStatus.AMENDED:
        return mark_amended(uow, principal=principal, result_id=result_id, message=message)
    raise invalid("/new_status", "must be amended or deleted")


def get_result(conn: Connection, result_id: str) -> ResultView:
    """One result (404 for an unknown id)."""
    return load_result(conn, result_id)


def list_results(
    conn: Connection,
    *,
    request_id: str | None = None,
    quantity: str | None = None,
    method: str | None = None,
    tenant_id: str | None = None,
    status: str | None = None,
    include_deleted: bool = False,
    since: datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[ResultView], str | None]:
    """One page of results, oldest first, and the cursor of the next page."""
    # With a status filter, page on result_state's seq (read in order from its status index).
    key = t.result_state.c.result_seq if status else t.results.c.seq
    start = page_start(conn, t.results, cursor=cursor, since=since)
    if start is None:  # nothing was created since
        return [], None
    # The bound on both sides of the join (see services.requests.list_requests).
    q = RESULT_SELECT.where(t.results.c.seq > start, t.result_state.c.result_seq > start)
    if request_id:
        q = q.where(t.requests.c.id == request_id)
    if quantity:
        q = q.where(t.results.c.quantity == quantity)
    if method:
        q = q.where(t.results.c.method == method)
    if tenant_id:
        q = q.where(t.results.c.tenant_id == tenant_id)
    if status:
        q = q.where(t.result_state.c.status == status)
    elif not include_deleted:
        q = q.where(t.result_state.c.status != ResultStatus.DELETED.value)
    if since:
        q = q.where(t.results.c.created_at >= since)
    rows = conn.execute(q.order_by(key).limit(limit + 1)).all()
    return page([result_view(r) for r in rows], limit, lambda v: v.seq)


def result_history(conn: Connection, result_id: str) -> list[EventView]:
    res = load_result(conn, result_id)
    rows = conn.execute(
        sa.select(t.result_events)
        .where(t.result_events.c.result_seq == res.seq)
        .order_by(t.result_events.c.seq)
    )
    return [event_view(r) for r in rows]


def results_of_request(
    conn: Connection, request_id: str, include_deleted: bool = False
) -> list[ResultView]:
    """Every result of a request (404 for an unknown request)."""
    load_request(conn, request_id)
    items, _ = list_results(
        conn, request_id=request_id, include_deleted=include_deleted, limit=10_000
    )
    return items


# A request closed in these statuses gets no result: its results long-poll answers at once.
CLOSED_WITHOUT_RESULT = frozenset({RequestStatus.RETRACTED, RequestStatus.REJECTED})


def wait_state(
    conn: Connection, request_id: str, include_deleted: bool = False
) -> tuple[list[ResultView], bool]:
    """A request's results and whether waiting for more is pointless (it was retracted or
    rejected: no result will come)."""
    request = load_request(conn, request_id)
    items, _ = list_results(
        conn, request_id=request_id, include_deleted=include_deleted, limit=10_000
    )
    return items, request.status in CLOSED_WITHOUT_RESULT
