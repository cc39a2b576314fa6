"""Requests: submit, list, claim (compare-and-set), heartbeat, release, retract, hand-out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from finales.db import tables as t
from finales.domain.leases import lease_expiry
from finales.domain.limitations import matches
from finales.domain.principals import Principal, Role
from finales.domain.statuses import RequestStatus as RS
from finales.domain.validation import ValidatorCache
from finales.errors import Forbidden, InvalidTransition, LeaseExpired, invalid
from finales.services.capabilities import capability_for_use
from finales.services.changes import handout_offers
from finales.services.common import (
    add_request_event,
    decode_cursor,
    first_seq_since,
    get_request,
    new_id,
    page,
    request_select,
)
from finales.services.tenants import current_offers

HANDOUT_BATCH = 200
HANDOUT_SCAN_MAX = 5000


def submit_request(
    session: Connection,
    *,
    principal: Principal,
    quantity: str,
    methods: list[str],
    parameters: dict[str, dict[str, Any]],
    parent_request_id: str | None = None,
    now: datetime,
    validators: ValidatorCache,
) -> dict[str, Any]:
    """Validate a (possibly multi-method) request against each method's schema and store it."""
    principal.require(Role.ADMIN, Role.TENANT)
    if len(set(methods)) != len(methods):
        raise invalid("/methods", "each method may be listed once")
    missing = [m for m in methods if m not in parameters]
    if missing:
        raise invalid(f"/parameters/{missing[0]}", "one parameter block is needed per method")
    extra = sorted(set(parameters) - set(methods))
    if extra:
        raise invalid(f"/parameters/{extra[0]}", "this method is not listed in /methods")
    capability_ids: dict[str, str] = {}
    for i, method in enumerate(methods):
        cap = capability_for_use(session, quantity, method, f"/methods/{i}")
        validators.validate(
            cap["id"],
            cap["request_schema"],
            parameters[method],
            base=f"/parameters/{method}",
            what="parameters",
        )
        capability_ids[method] = cap["id"]
    if parent_request_id is not None:
        exists = session.execute(
            sa.select(t.requests.c.seq).where(t.requests.c.id == parent_request_id)
        ).first()
        if exists is None:
            raise invalid("/parent_request_id", f"no request with id {parent_request_id!r}")
    return _insert_request(
        session,
        principal=principal,
        quantity=quantity,
        methods=methods,
        parameters=parameters,
        capability_ids=capability_ids,
        parent_request_id=parent_request_id,
        now=now,
        status=RS.PENDING,
    )


# Statements of the hot path, built once (see services.common).
_INSERT_REQUEST = t.requests.insert().returning(t.requests.c.seq)
_INSERT_METHOD = t.request_methods.insert()
_INSERT_STATE = t.request_state.insert()


def _insert_request(
    session: Connection,
    *,
    principal: Principal,
    quantity: str,
    methods: list[str],
    parameters: dict[str, Any],
    capability_ids: dict[str, str],
    parent_request_id: str | None,
    now: datetime,
    status: RS,
    message: str = "",
) -> dict[str, Any]:
    rid = new_id()
    seq = session.execute(
        _INSERT_REQUEST,
        {
            "id": rid,
            "quantity": quantity,
            "methods": methods,
            "parameters": parameters,
            "capability_ids": capability_ids,
            "requester_principal_id": principal.id,
            "requester_tenant_id": principal.tenant_id,
            "parent_request_id": parent_request_id,
            "created_at": now,
        },
    ).scalar_one()
    session.execute(_INSERT_METHOD, [{"request_seq": seq, "method": m} for m in methods])
    session.execute(
        _INSERT_STATE,
        {"request_seq": seq, "quantity": quantity, "status": status.value, "updated_at": now},
    )
    add_request_event(
        session,
        request_seq=seq,
        now=now,
        actor=principal.name,
        tenant_id=principal.tenant_id,
        from_status=None,
        to_status=status.value,
        message=message,
    )
    return get_request(session, rid)


def list_requests(
    session: Connection,
    *,
    status: str | None = None,
    quantity: str | None = None,
    method: str | None = None,
    tenant_id: str | None = None,
    reserved_by: str | None = None,
    parent_request_id: str | None = None,
    since: datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[dict[str, Any]], str | None]:
    # With a status filter, page on request_state's seq: SQLite then reads the page in order
    # from the (status, request_seq) index instead of sorting every request of that status.
    key = t.request_state.c.request_seq if status else t.requests.c.seq
    start = decode_cursor(cursor)
    if since and not cursor:  # the first page starts at the first row since, not the oldest
        first = first_seq_since(session, t.requests, since)
        if first is None:
            return [], None
        start = first - 1
    # The bound on both sides of the join: PostgreSQL does not carry a range across it, and
    # would merge-join request_state from its first row up to the cursor.
    q = request_select().where(t.requests.c.seq > start, t.request_state.c.request_seq > start)
    if status:
        q = q.where(t.request_state.c.status == status)
    if quantity:
        q = q.where(t.request_state.c.quantity == quantity)  # the projection's copy: indexed
    if method:
        q = q.where(
            sa.exists().where(
                t.request_methods.c.request_seq == t.requests.c.seq,
                t.request_methods.c.method == method,
            )
        )
    if tenant_id:
        q = q.where(t.requests.c.requester_tenant_id == tenant_id)
    if reserved_by:
        q = q.where(t.request_state.c.reserved_by == reserved_by)
    if parent_request_id:
        q = q.where(t.requests.c.parent_request_id == parent_request_id)
    if since:
        q = q.where(t.requests.c.created_at >= since)
    rows = session.execute(q.order_by(key).limit(limit + 1)).all()
    items, next_cursor = page([dict(r._mapping) for r in rows], limit, lambda r: r["seq"])
    return items, next_cursor


def history(session: Connection, request_id: str) -> list[dict[str, Any]]:
    req = get_request(session, request_id)
    rows = session.execute(
        sa.select(t.request_events)
        .where(t.request_events.c.request_seq == req["seq"])
        .order_by(t.request_events.c.seq)
    )
    return [dict(r._mapping) for r in rows]


def _expiry_statements(one: bool) -> tuple[Any, Any]:
    rs = t.request_state
    cond = [
        rs.c.status == RS.RESERVED.value,
        rs.c.lease_expires_at.is_not(None),
        rs.c.lease_expires_at <= sa.bindparam("now", type_=rs.c.lease_expires_at.type),
    ]
    if one:
        cond.append(rs.c.request_seq == sa.bindparam("seq"))
    check = sa.select(rs.c.request_seq).where(*cond).limit(1)
    update = (
        rs.update()
        .where(*cond)
        .values(status=RS.PENDING.value, reserved_by=None, lease_expires_at=None)
        .returning(rs.c.request_seq)
    )
    return check, update


_EXPIRE_ONE = _expiry_statements(one=True)
_EXPIRE_ALL = _expiry_statements(one=False)


def expire_leases(session: Connection, *, now: datetime, request_seq: int | None = None) -> int:
    """Turn expired reservations back to pending, one event each. Returns how many.

    A single conditional UPDATE: concurrent sweepers and claimers cannot both expire the same
    lease because the WHERE clause is re-checked under the row lock.
    """
    params: dict[str, Any] = {"now": now}
    if request_seq is not None:
        params["seq"] = request_seq
    check, update = _EXPIRE_ONE if request_seq is not None else _EXPIRE_ALL
    # Find candidates first so that the write (and its lock) happens only when needed.
    if session.execute(check, params).first() is None:
        return 0
    expired = session.execute(update, {**params, "updated_at": now}).all()
    for row in expired:
        add_request_event(
            session,
            request_seq=row.request_seq,
            now=now,
            actor="system",
            from_status=RS.RESERVED.value,
            to_status=RS.PENDING.value,
            message="lease expired",
        )
    return len(expired)


def offer_covers(
    offers: list[dict[str, Any]],
    request: dict[str, Any],
    active: dict[tuple[str, str], bool] | None = None,
) -> list[str]:
    """Methods of ``request`` that one of ``offers`` serves within its limitations."""
    out = []
    for method in request["methods"]:
        for offer in offers:
            if offer["quantity"] != request["quantity"] or offer["method"] != method:
                continue
            if active is not None and not active.get((request["quantity"], method), False):
                continue
            if matches(request["parameters"].get(method, {}), offer["limitations"]):
                out.append(method)
                break
    return out


_CLAIM = (
    t.request_state.update()
    .where(
        t.request_state.c.request_seq == sa.bindparam("seq"),
        t.request_state.c.status == RS.PENDING.value,
    )
    .values(
        status=RS.RESERVED.value,
        reserved_by=sa.bindparam("tenant"),
        lease_expires_at=sa.bindparam("expires"),
    )
    .returning(t.request_state.c.request_seq)
)


def claim(
    session: Connection,
    *,
    principal: Principal,
    request_id: str,
    lease_s: float | None,
    now: datetime,
    check_offers: bool = True,
) -> dict[str, Any]:
    """Reserve a pending request for the caller's tenant: exactly one of N racers wins."""
    tenant_id = principal.acting_tenant()
    req = get_request(session, request_id)
    if check_offers:
        offers = current_offers(session, [tenant_id]).get(tenant_id, [])
        if not offer_covers(offers, req):
            raise Forbidden("this request is outside your tenant's offers and limitations")
    if req["status"] == RS.RESERVED.value:  # a pending one has no lease to expire
        expire_leases(session, now=now, request_seq=req["seq"])
    expires = lease_expiry(now, lease_s)
    won = session.execute(
        _CLAIM,
        {"seq": req["seq"], "tenant": tenant_id, "expires": expires, "updated_at": now},
    ).first()
    if won is None:
        current = get_request(session, request_id)
        raise InvalidTransition(
            f"request {request_id} is {current['status']}, not pending: it cannot be claimed"
        )
    add_request_event(
        session,
        request_seq=req["seq"],
        now=now,
        actor=principal.name,
        tenant_id=tenant_id,
        from_status=RS.PENDING.value,
        to_status=RS.RESERVED.value,
        message="claimed",
        lease_expires_at=expires,
    )
    return get_request(session, request_id)


def _reserved_by_caller(
    session: Connection, principal: Principal, request_id: str, now: datetime
) -> dict[str, Any]:
    req = get_request(session, request_id)
    if req["status"] != RS.RESERVED.value:
        raise InvalidTransition(f"request {request_id} is {req['status']}, not reserved")
    if not principal.may_act_for(req["reserved_by"]):
        raise Forbidden("this request is reserved by another tenant")
    if req["lease_expires_at"] is not None and req["lease_expires_at"] <= now:
        expire_leases(session, now=now, request_seq=req["seq"])
        raise LeaseExpired(f"the lease on request {request_id} has expired; claim it again")
    return req


def heartbeat(
    session: Connection,
    *,
    principal: Principal,
    request_id: str,
    lease_s: float | None,
    now: datetime,
) -> dict[str, Any]:
    """Extend the caller's lease; 409 when the lease is already lost."""
    req = _reserved_by_caller(session, principal, request_id, now)
    expires = lease_expiry(now, lease_s)
    rs = t.request_state
    ok = session.execute(
        rs.update()
        .where(
            rs.c.request_seq == req["seq"],
            rs.c.status == RS.RESERVED.value,
            rs.c.reserved_by == req["reserved_by"],
        )
        .values(lease_expires_at=expires, updated_at=now)
        .returning(rs.c.request_seq)
    ).first()
    if ok is None:
        raise LeaseExpired(f"the lease on request {request_id} was lost")
    add_request_event(
        session,
        request_seq=req["seq"],
        now=now,
        actor=principal.name,
        tenant_id=req["reserved_by"],
        from_status=RS.RESERVED.value,
        to_status=RS.RESERVED.value,
        message="heartbeat",
        lease_expires_at=expires,
    )
    return get_request(session, request_id)


def _transition(
    session: Connection,
    *,
    req: dict[str, Any],
    principal: Principal,
    allowed_from: tuple[RS, ...],
    to: RS,
    now: datetime,
    message: str,
) -> None:
    rs = t.request_state
    cond = [rs.c.request_seq == req["seq"], rs.c.status.in_([s.value for s in allowed_from])]
    if req["status"] == RS.RESERVED.value and req["reserved_by"] is not None:
        cond.append(rs.c.reserved_by == req["reserved_by"])
    done = session.execute(
        rs.update()
        .where(*cond)
        .values(
            status=to.value,
            reserved_by=None if to is not RS.RESOLVED else rs.c.reserved_by,
            lease_expires_at=None,
            updated_at=now,
        )
        .returning(rs.c.request_seq)
    ).first()
    if done is None:
        raise InvalidTransition(f"request {req['id']} changed status meanwhile; reload it")
    add_request_event(
        session,
        request_seq=req["seq"],
        now=now,
        actor=principal.name,
        tenant_id=principal.tenant_id,
        from_status=req["status"],
        to_status=to.value,
        message=message,
    )


def release(
    session: Connection, *, principal: Principal, request_id: str, now: datetime, message: str = ""
) -> dict[str, Any]:
    """Give a reservation back (reserver or admin): the request is pending again."""
    req = get_request(session, request_id)
    if req["status"] != RS.RESERVED.value:
        raise InvalidTransition(f"request {request_id} is {req['status']}, not reserved")
    if not principal.may_act_for(req["reserved_by"]):
        raise Forbidden("only the reserving tenant or an admin may release this request")
    _transition(
        session,
        req=req,
        principal=principal,
        allowed_from=(RS.RESERVED,),
        to=RS.PENDING,
        now=now,
        message=message or "released",
    )
    return get_request(session, request_id)


def retract(
    session: Connection, *, principal: Principal, request_id: str, now: datetime, message: str = ""
) -> dict[str, Any]:
    """Withdraw a pending or reserved request (requester or admin)."""
    req = get_request(session, request_id)
    is_requester = req["requester_principal_id"] == principal.id or (
        principal.tenant_id is not None and principal.tenant_id == req["requester_tenant_id"]
    )
    if not (principal.is_admin or is_requester):
        raise Forbidden("only the requester or an admin may retract this request")
    if req["status"] not in (RS.PENDING.value, RS.RESERVED.value):
        raise InvalidTransition(f"request {request_id} is {req['status']}; it cannot be retracted")
    _transition(
        session,
        req=req,
        principal=principal,
        allowed_from=(RS.PENDING, RS.RESERVED),
        to=RS.RETRACTED,
        now=now,
        message=message or "retracted",
    )
    return get_request(session, request_id)


def work(
    session: Connection,
    *,
    principal: Principal,
    now: datetime,
    quantity: str | None = None,
    method: str | None = None,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """Pending requests the caller's offers (and their limitations) cover, oldest first.

    Claimable includes reservations whose lease has run out (claim expires them).
    """
    offers = handout_offers(session, principal=principal, quantity=quantity, method=method)
    pairs = sorted({(o["quantity"], o["method"]) for o in offers})
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
    found: list[dict[str, Any]] = []
    after, scanned = 0, 0
    while len(found) < limit and scanned < HANDOUT_SCAN_MAX:
        seqs = session.scalars(
            candidates.where(rs.c.request_seq > after)
            .order_by(rs.c.request_seq)
            .limit(HANDOUT_BATCH)
        ).all()
        if not seqs:
            break
        scanned += len(seqs)
        after = seqs[-1]
        rows = session.execute(
            request_select().where(t.requests.c.seq.in_(seqs)).order_by(t.requests.c.seq)
        ).all()
        for row in rows:
            req = dict(row._mapping)
            methods = offer_covers(offers, req)
            if methods:
                found.append({**req, "matching_methods": methods})
                if len(found) == limit:
                    break
    return found
