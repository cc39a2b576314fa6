"""Results: posted by the reserving tenant (or unsolicited), amended, soft-deleted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from finales.db import tables as t
from finales.domain.principals import Principal
from finales.domain.statuses import RequestStatus as RS
from finales.domain.statuses import ResultStatus
from finales.domain.validation import ValidatorCache
from finales.errors import Forbidden, InvalidTransition, NotFound, invalid
from finales.services.capabilities import capability_by_id, capability_for_use
from finales.services.common import (
    add_request_event,
    add_result_event,
    decode_cursor,
    first_seq_since,
    get_request,
    get_result,
    new_id,
    page,
    result_select,
)
from finales.services.requests import _insert_request


def _validate(
    validators: ValidatorCache,
    cap: dict[str, Any],
    parameters: dict[str, Any],
    data: dict[str, Any],
) -> None:
    validators.validate(
        cap["id"], cap["request_schema"], parameters, base="/parameters", what="result parameters"
    )
    validators.validate(
        cap["id"] + ":result", cap["result_schema"], data, base="/data", what="result data"
    )


_INSERT_RESULT = t.results.insert().returning(t.results.c.seq)
_INSERT_RESULT_STATE = t.result_state.insert()


def _insert_result(
    session: Connection,
    *,
    principal: Principal,
    tenant_id: str,
    request_seq: int,
    quantity: str,
    method: str,
    parameters: dict[str, Any],
    data: dict[str, Any],
    capability_id: str,
    now: datetime,
    supersedes: str | None = None,
    message: str = "",
) -> str:
    rid = new_id()
    seq = session.execute(
        _INSERT_RESULT,
        {
            "id": rid,
            "request_seq": request_seq,
            "quantity": quantity,
            "method": method,
            "parameters": parameters,
            "data": data,
            "capability_id": capability_id,
            "tenant_id": tenant_id,
            "principal_id": principal.id,
            "supersedes": supersedes,
            "created_at": now,
        },
    ).scalar_one()
    session.execute(
        _INSERT_RESULT_STATE,
        {"result_seq": seq, "status": ResultStatus.ORIGINAL.value, "updated_at": now},
    )
    add_result_event(
        session,
        result_seq=seq,
        now=now,
        actor=principal.name,
        from_status=None,
        to_status=ResultStatus.ORIGINAL.value,
        message=message or ("amends " + supersedes if supersedes else "posted"),
    )
    return rid


def post_result(
    session: Connection,
    *,
    principal: Principal,
    request_id: str | None,
    quantity: str,
    method: str,
    parameters: dict[str, Any],
    data: dict[str, Any],
    now: datetime,
    validators: ValidatorCache,
    on_behalf_of: str | None = None,
) -> dict[str, Any]:
    """Post a result for a request the caller reserved, or an unsolicited one (no request).

    An admin may post for the reserving tenant (the result belongs to that tenant); an
    unsolicited result needs a tenant, so an admin names it with ``on_behalf_of``.
    """
    if principal.is_admin:
        tenant_id = on_behalf_of or ""
    else:
        tenant_id = principal.acting_tenant()
    if request_id is None:
        if not tenant_id:
            raise Forbidden("an unsolicited result must come from a tenant principal")
        return _post_unsolicited(
            session,
            principal=principal,
            tenant_id=tenant_id,
            quantity=quantity,
            method=method,
            parameters=parameters,
            data=data,
            now=now,
            validators=validators,
        )
    try:
        req = get_request(session, request_id)
    except NotFound:
        raise NotFound(f"no request with id {request_id!r} (field /request_id)") from None
    if quantity != req["quantity"]:
        raise invalid("/quantity", f"the request asks for {req['quantity']!r}")
    if method not in req["methods"]:
        raise invalid("/method", f"the request accepts only {', '.join(req['methods'])}")
    status = req["status"]
    if status != RS.RESERVED.value:
        verb = {
            "pending": "not reserved: claim it first",
            "resolved": "already resolved",
            "retracted": "retracted",
            "unsolicited": "an unsolicited record",
        }
        raise InvalidTransition(f"request {request_id} is {verb.get(status, status)}")
    if principal.is_admin:
        tenant_id = req["reserved_by"]
    elif req["reserved_by"] != tenant_id:
        raise Forbidden("this request is reserved by another tenant")
    cap = capability_by_id(session, req["capability_ids"][method])
    _validate(validators, cap, parameters, data)
    rs = t.request_state
    won = session.execute(
        rs.update()
        .where(
            rs.c.request_seq == req["seq"],
            rs.c.status == RS.RESERVED.value,
            rs.c.reserved_by == req["reserved_by"],
        )
        .values(status=RS.RESOLVED.value, lease_expires_at=None, updated_at=now)
        .returning(rs.c.request_seq)
    ).first()
    if won is None:
        raise InvalidTransition(f"request {request_id} changed status meanwhile; reload it")
    result_id = _insert_result(
        session,
        principal=principal,
        tenant_id=tenant_id,
        request_seq=req["seq"],
        quantity=quantity,
        method=method,
        parameters=parameters,
        data=data,
        capability_id=cap["id"],
        now=now,
    )
    add_request_event(
        session,
        request_seq=req["seq"],
        now=now,
        actor=principal.name,
        tenant_id=tenant_id,
        from_status=RS.RESERVED.value,
        to_status=RS.RESOLVED.value,
        message=f"result {result_id}",
    )
    return get_result(session, result_id)


def _post_unsolicited(
    session: Connection,
    *,
    principal: Principal,
    tenant_id: str,
    quantity: str,
    method: str,
    parameters: dict[str, Any],
    data: dict[str, Any],
    now: datetime,
    validators: ValidatorCache,
) -> dict[str, Any]:
    cap = capability_for_use(session, quantity, method, "/method")
    _validate(validators, cap, parameters, data)
    req = _insert_request(
        session,
        principal=principal,
        quantity=quantity,
        methods=[method],
        parameters={method: parameters},
        capability_ids={method: cap["id"]},
        parent_request_id=None,
        now=now,
        status=RS.UNSOLICITED,
        message="unsolicited result",
    )
    result_id = _insert_result(
        session,
        principal=principal,
        tenant_id=tenant_id,
        request_seq=req["seq"],
        quantity=quantity,
        method=method,
        parameters=parameters,
        data=data,
        capability_id=cap["id"],
        now=now,
    )
    return get_result(session, result_id)


def _owned_result(session: Connection, principal: Principal, result_id: str) -> dict[str, Any]:
    res = get_result(session, result_id)
    if not principal.may_act_for(res["tenant_id"]):
        raise Forbidden("only the tenant that posted this result or an admin may change it")
    return res


def _set_result_status(
    session: Connection,
    *,
    res: dict[str, Any],
    principal: Principal,
    to: ResultStatus,
    now: datetime,
    message: str,
    superseded_by: str | None = None,
) -> None:
    st = t.result_state
    values: dict[str, Any] = {"status": to.value, "updated_at": now}
    if superseded_by:
        values["superseded_by"] = superseded_by
    done = session.execute(
        st.update()
        .where(st.c.result_seq == res["seq"], st.c.status == res["status"])
        .values(**values)
        .returning(st.c.result_seq)
    ).first()
    if done is None:
        raise InvalidTransition(f"result {res['id']} changed status meanwhile; reload it")
    add_result_event(
        session,
        result_seq=res["seq"],
        now=now,
        actor=principal.name,
        from_status=res["status"],
        to_status=to.value,
        message=message,
    )


def amend_result(
    session: Connection,
    *,
    principal: Principal,
    result_id: str,
    data: dict[str, Any],
    parameters: dict[str, Any] | None,
    message: str,
    now: datetime,
    validators: ValidatorCache,
) -> dict[str, Any]:
    """Supersede a result by a new one (linked both ways); the old one becomes ``amended``."""
    old = _owned_result(session, principal, result_id)
    if old["status"] != ResultStatus.ORIGINAL.value:
        hint = f"; amend {old['superseded_by']} instead" if old["superseded_by"] else ""
        raise InvalidTransition(f"result {result_id} is {old['status']}{hint}")
    params = old["parameters"] if parameters is None else parameters
    cap = capability_by_id(session, old["capability_id"])
    _validate(validators, cap, params, data)
    new_id_ = _insert_result(
        session,
        principal=principal,
        tenant_id=old["tenant_id"],
        request_seq=old["request_seq"],
        quantity=old["quantity"],
        method=old["method"],
        parameters=params,
        data=data,
        capability_id=cap["id"],
        now=now,
        supersedes=result_id,
        message=message,
    )
    _set_result_status(
        session,
        res=old,
        principal=principal,
        to=ResultStatus.AMENDED,
        now=now,
        message=message or f"amended by {new_id_}",
        superseded_by=new_id_,
    )
    return get_result(session, new_id_)


def delete_result(
    session: Connection, *, principal: Principal, result_id: str, message: str, now: datetime
) -> dict[str, Any]:
    """Soft-delete: an event; the row stays and listings hide it unless asked."""
    return _change_status(
        session,
        principal=principal,
        result_id=result_id,
        now=now,
        to=ResultStatus.DELETED,
        message=message,
        allowed_from=(ResultStatus.ORIGINAL, ResultStatus.AMENDED),
    )


def mark_amended(
    session: Connection, *, principal: Principal, result_id: str, message: str, now: datetime
) -> dict[str, Any]:
    """FINALES 2's ``update_status(amended)``: flag a result as superseded without a link."""
    return _change_status(
        session,
        principal=principal,
        result_id=result_id,
        now=now,
        to=ResultStatus.AMENDED,
        message=message,
        allowed_from=(ResultStatus.ORIGINAL,),
    )


def _change_status(
    session: Connection,
    *,
    principal: Principal,
    result_id: str,
    now: datetime,
    to: ResultStatus,
    message: str,
    allowed_from: tuple[ResultStatus, ...],
) -> dict[str, Any]:
    res = _owned_result(session, principal, result_id)
    if res["status"] not in {s.value for s in allowed_from}:
        raise InvalidTransition(f"result {result_id} is {res['status']}; it cannot become {to}")
    _set_result_status(
        session, res=res, principal=principal, to=to, now=now, message=message or to.value
    )
    return get_result(session, result_id)


def list_results(
    session: Connection,
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
) -> tuple[list[dict[str, Any]], str | None]:
    # With a status filter, page on result_state's seq (read in order from its status index).
    key = t.result_state.c.result_seq if status else t.results.c.seq
    start = decode_cursor(cursor)
    if since and not cursor:  # the first page starts at the first result since
        first = first_seq_since(session, t.results, since)
        if first is None:
            return [], None
        start = first - 1
    # The bound on both sides of the join (see services.requests.list_requests).
    q = result_select().where(t.results.c.seq > start, t.result_state.c.result_seq > start)
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
    rows = session.execute(q.order_by(key).limit(limit + 1)).all()
    return page([dict(r._mapping) for r in rows], limit, lambda r: r["seq"])


def result_history(session: Connection, result_id: str) -> list[dict[str, Any]]:
    res = get_result(session, result_id)
    rows = session.execute(
        sa.select(t.result_events)
        .where(t.result_events.c.result_seq == res["seq"])
        .order_by(t.result_events.c.seq)
    )
    return [dict(r._mapping) for r in rows]


def results_of_request(
    session: Connection, request_id: str, include_deleted: bool = False
) -> list[dict[str, Any]]:
    get_request(session, request_id)
    items, _ = list_results(
        session, request_id=request_id, include_deleted=include_deleted, limit=10_000
    )
    return items
