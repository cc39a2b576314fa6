"""Requests: submit, list, claim (compare-and-set), heartbeat, release, retract, expire.

Every status change is load -> plan (``finales.domain.transitions``) -> apply
(``finales.services.apply``); the changes are reported to the unit of work.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from finales.db import tables as t
from finales.domain import transitions as plan
from finales.domain.changes import RequestChanged, RequestClaimable
from finales.domain.offers import CompiledOffers
from finales.domain.principals import Principal, Role
from finales.domain.statuses import RequestStatus as RS
from finales.domain.validation import ValidatorCache
from finales.domain.views import (
    EventView,
    RequestDetailView,
    RequestView,
    SubmittedRequestView,
)
from finales.domain.workflows import check_inputs, check_labels
from finales.errors import Conflict, FinalesError, invalid
from finales.services import tenants, work, workflows
from finales.services.apply import apply_request, insert_request
from finales.services.capabilities import capability_for_use
from finales.services.common import new_id, page, page_start
from finales.services.rows import (
    REQUEST_SELECT,
    event_view,
    extended_request,
    load_request,
    request_view,
)
from finales.services.unit_of_work import UnitOfWork


def submit_request(
    uow: UnitOfWork,
    *,
    principal: Principal,
    quantity: str,
    methods: list[str],
    parameters: dict[str, dict[str, Any]],
    validators: ValidatorCache,
    parent_request_id: str | None = None,
    named_tenant: str | None = None,
    labels: dict[str, str] | None = None,
    inputs: list[str] | None = None,
) -> RequestView:
    """Validate a (possibly multi-method) request against each method's schema and store it.

    ``named_tenant``: the tenant a FINALES 2 payload says it acts as (checked, not trusted).
    ``labels``: how a workflow marks its sub-requests (returned, filterable); ``inputs``: the
    results the request uses (each must exist; provenance follows them).
    """
    principal.require(Role.ADMIN, Role.TENANT)
    conn = uow.conn
    if named_tenant is not None:
        tenants.check_named_tenant(conn, principal, named_tenant)
    if len(set(methods)) != len(methods):
        raise invalid("/methods", "each method may be listed once")
    missing = [m for m in methods if m not in parameters]
    if missing:
        raise invalid(f"/parameters/{missing[0]}", "one parameter block is needed per method")
    extra = sorted(set(parameters) - set(methods))
    if extra:
        raise invalid(f"/parameters/{extra[0]}", "this method is not listed in /methods")
    capability_ids: dict[str, str] = {}
    needs_approval = False
    for i, method in enumerate(methods):
        cap = capability_for_use(conn, quantity, method, f"/methods/{i}")
        needs_approval = needs_approval or cap.requires_approval
        validators.validate(
            cap.id,
            cap.request_schema,
            parameters[method],
            base=f"/parameters/{method}",
            what="parameters",
        )
        capability_ids[method] = cap.id
    labels = check_labels(labels)
    inputs = check_inputs(inputs)
    if parent_request_id is not None:
        workflows.check_parent(conn, parent_request_id)
    workflows.check_inputs_exist(conn, inputs)
    view = insert_request(
        conn,
        plan.plan_submit(principal, uow.now, needs_approval=needs_approval),
        request_id=new_id(),
        principal=principal,
        quantity=quantity,
        methods=methods,
        parameters=parameters,
        capability_ids=capability_ids,
        parent_request_id=parent_request_id,
        labels=labels,
        inputs=inputs,
    )
    if not needs_approval:  # awaiting approval, it concerns no work poll yet
        uow.report(RequestClaimable.of(view))
    return view


def submit_request_covered(uow: UnitOfWork, /, **submit: Any) -> SubmittedRequestView:
    """``submit_request`` (same arguments), answering also how many current offers cover the
    request: the clean API's creation answer, so that a requester learns at once that
    nobody will serve it (0) instead of waiting for ever. The FINALES 2 door keeps its
    payload and calls ``submit_request``."""
    view = submit_request(uow, **submit)
    count = covering_offers(
        uow.conn, quantity=view.quantity, methods=view.methods, parameters=view.parameters
    )
    return extended_request(view, SubmittedRequestView, covering_offers=count)


_LATEST_SETS = (
    sa.select(sa.func.max(t.offer_sets.c.seq).label("seq"))
    .group_by(t.offer_sets.c.tenant_id)
    .subquery()
)
# The tenants whose current offer set has an offer of one of the request's pairs: only their
# (cached, compiled) offers are matched.
_OFFERING_TENANTS = (
    sa.select(t.offers.c.tenant_id)
    .distinct()
    .join(_LATEST_SETS, _LATEST_SETS.c.seq == t.offers.c.offer_set)
    .where(
        t.offers.c.quantity == sa.bindparam("quantity"),
        t.offers.c.method.in_(sa.bindparam("methods", expanding=True)),
    )
)


def covering_offers(
    conn: Connection, *, quantity: str, methods: list[str], parameters: dict[str, Any]
) -> int:
    """How many current offers (one per tenant and offered method) have limitations the
    request's parameter block for their method falls inside: the offers ``GET /work`` would
    hand it out to. Called on a request just accepted, whose capabilities are therefore
    active (``submit_request`` refuses a deactivated one in the same transaction)."""
    tenant_ids = conn.scalars(_OFFERING_TENANTS, {"quantity": quantity, "methods": methods})
    count = 0
    for tenant_id in tenant_ids.all():
        for c in work.compiled_offers(conn, tenant_id):
            method = c.offer.method
            if (
                c.offer.quantity == quantity
                and method in methods
                and c.matcher.matches(parameters.get(method, {}))
            ):
                count += 1
    return count


def decide(
    uow: UnitOfWork, *, principal: Principal, request_id: str, approve: bool, message: str = ""
) -> RequestView:
    """Approve (-> pending, claimable) or reject (-> rejected) a request awaiting approval
    (admin or approver); the history records who and why."""
    view = load_request(uow.conn, request_id)
    decided = apply_request(
        uow.conn,
        view,
        plan.plan_decision(view, principal, uow.now, approve=approve, message=message),
    )
    uow.report(RequestClaimable.of(decided) if approve else RequestChanged(decided.id))
    return decided


def get_request(conn: Connection, request_id: str) -> RequestView:
    """One request with its current status (404 for an unknown id)."""
    return load_request(conn, request_id)


_LAST_RELEASE = (
    sa.select(t.request_events)
    .where(
        t.request_events.c.request_seq == sa.bindparam("request_seq"),
        t.request_events.c.from_status == RS.RESERVED.value,
        t.request_events.c.to_status == RS.PENDING.value,
    )
    .order_by(t.request_events.c.seq.desc())
    .limit(1)
)


def get_request_detail(conn: Connection, request_id: str) -> RequestDetailView:
    """One request with its current status and its last release (a tenant's, with its
    reason, or a lease that ran out; None if it was never given back): what a requester
    needs to see why a pending request still waits."""
    view = load_request(conn, request_id)
    row = conn.execute(_LAST_RELEASE, {"request_seq": view.seq}).first()
    last = None if row is None else event_view(row)
    return extended_request(view, RequestDetailView, last_release=last)


def list_requests(
    conn: Connection,
    *,
    status: str | None = None,
    quantity: str | None = None,
    method: str | None = None,
    tenant_id: str | None = None,
    reserved_by: str | None = None,
    parent_request_id: str | None = None,
    root: str | None = None,
    labels: Sequence[tuple[str, str]] = (),
    since: datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[RequestView], str | None]:
    """One page of requests, oldest first, and the cursor of the next page.

    ``root``: only the requests below that one in its tree (not itself); ``labels``: only
    those with every (key, value) given.
    """
    # With a status filter, page on request_state's seq: SQLite then reads the page in order
    # from the (status, request_seq) index instead of sorting every request of that status.
    key = t.request_state.c.request_seq if status else t.requests.c.seq
    start = page_start(conn, t.requests, cursor=cursor, since=since)
    if start is None:  # nothing was created since
        return [], None
    # The bound on both sides of the join: PostgreSQL does not carry a range across it, and
    # would merge-join request_state from its first row up to the cursor.
    q = REQUEST_SELECT.where(t.requests.c.seq > start, t.request_state.c.request_seq > start)
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
    if root:
        q = q.where(t.requests.c.seq.in_(workflows.descendant_seqs(root)))
    rl = t.request_labels
    for label_key, label_value in labels:  # each an indexed lookup on (key, value)
        q = q.where(
            sa.exists().where(
                rl.c.request_seq == t.requests.c.seq,
                rl.c.key == label_key,
                rl.c.value == label_value,
            )
        )
    if since:
        q = q.where(t.requests.c.created_at >= since)
    rows = conn.execute(q.order_by(key).limit(limit + 1)).all()
    return page([request_view(r) for r in rows], limit, lambda v: v.seq)


def history(conn: Connection, request_id: str) -> list[EventView]:
    """Every status change of a request, oldest first."""
    req = load_request(conn, request_id)
    rows = conn.execute(
        sa.select(t.request_events)
        .where(t.request_events.c.request_seq == req.seq)
        .order_by(t.request_events.c.seq)
    )
    return [event_view(r) for r in rows]


def _expire_if_due(uow: UnitOfWork, view: RequestView) -> RequestView:
    """``view`` with a run-out lease recorded as expired first. If another writer (the lease
    sweeper, another claimer) changed the request since it was read, its conditional write
    finds nothing to do: read the request again and let the caller plan from what it is now
    (on PostgreSQL the re-read sees that writer's commit), instead of answering a lost race
    for a change nobody asked this call to make."""
    expiry = plan.plan_expiry(view, uow.now)
    if expiry is None:
        return view
    try:
        return apply_request(uow.conn, view, expiry)
    except Conflict:
        return load_request(uow.conn, view.id)


_DUE = REQUEST_SELECT.where(
    t.request_state.c.status == RS.RESERVED.value,
    t.request_state.c.lease_expires_at.is_not(None),
    t.request_state.c.lease_expires_at
    <= sa.bindparam("now", type_=t.request_state.c.lease_expires_at.type),
).order_by(t.request_state.c.request_seq)


def leases_due(conn: Connection, now: datetime) -> bool:
    """Whether some reservation's lease has run out (read from the lease index)."""
    row = conn.execute(_DUE.with_only_columns(t.request_state.c.request_seq).limit(1), {"now": now})
    return row.first() is not None


def expire_leases(uow: UnitOfWork) -> int:
    """Turn the reservations whose lease has run out back to pending, one event each, and
    report them claimable. Returns how many. A lease renewed meanwhile is left alone (the
    expiry's compare-and-set requires it still due)."""
    expired = 0
    for row in uow.conn.execute(_DUE, {"now": uow.now}).all():
        view = request_view(row)
        expiry = plan.plan_expiry(view, uow.now)
        if expiry is None:
            continue
        apply_request(uow.conn, view, expiry)
        uow.report(RequestClaimable.of(view))
        expired += 1
    return expired


def claim(
    uow: UnitOfWork,
    *,
    principal: Principal,
    request_id: str,
    lease_s: float | None,
    check_offers: bool = True,
) -> RequestView:
    """Reserve a pending request for the caller's tenant: exactly one of N racers wins.

    ``check_offers``: the request must be inside the caller's offers and limitations (the
    FINALES 2 door reserved without asking, and still does).
    """
    tenant_id = principal.acting_tenant()
    view = load_request(uow.conn, request_id)
    covered = True
    if check_offers:
        offers = CompiledOffers(work.compiled_offers(uow.conn, tenant_id))
        covered = bool(
            offers.covered_methods(
                quantity=view.quantity, methods=view.methods, parameters=view.parameters
            )
        )
    if covered:  # a request outside the offers is refused whatever its lease says
        view = _expire_if_due(uow, view)
    tr = plan.plan_claim(view, principal, uow.now, lease_s=lease_s, covered=covered)
    return apply_request(uow.conn, view, tr)


def heartbeat(
    uow: UnitOfWork, *, principal: Principal, request_id: str, lease_s: float | None
) -> RequestView:
    """Extend the caller's lease; 409 when the lease is already lost."""
    view = load_request(uow.conn, request_id)
    tr = plan.plan_heartbeat(view, principal, uow.now, lease_s=lease_s)
    return apply_request(uow.conn, view, tr)


def release(
    uow: UnitOfWork, *, principal: Principal, request_id: str, message: str = ""
) -> RequestView:
    """Give a reservation back (reserver or admin): the request is pending again."""
    view = load_request(uow.conn, request_id)
    after = apply_request(
        uow.conn, view, plan.plan_release(view, principal, uow.now, message=message)
    )
    uow.report(RequestClaimable.of(after))
    return after


def retract(
    uow: UnitOfWork, *, principal: Principal, request_id: str, message: str = ""
) -> RequestView:
    """Withdraw a pending or reserved request (requester or admin), whatever its lease says.

    A lease that has run out is recorded as expired first (expiry is a fact of the clock, as
    in ``claim``), so the history says the request was pending, not reserved, when withdrawn.
    """
    view = _expire_if_due(uow, load_request(uow.conn, request_id))
    after = apply_request(
        uow.conn, view, plan.plan_retract(view, principal, uow.now, message=message)
    )
    uow.report(RequestChanged(request_id))
    _retract_descendants(uow, principal=principal, ancestor_id=request_id, message=message)
    return after


def _retract_descendants(
    uow: UnitOfWork, *, principal: Principal, ancestor_id: str, message: str
) -> None:
    """The cascade: every open request below ``ancestor_id`` is retracted in the same
    transaction, one event each naming the ancestor; closed ones stay. A tenant holding a
    reserved one learns at its next heartbeat or result (409); its result waiters wake."""
    open_statuses = [s.value for s in plan.retractable_statuses()]
    rows = uow.conn.execute(
        REQUEST_SELECT.where(
            t.requests.c.seq.in_(workflows.descendant_seqs(ancestor_id)),
            t.request_state.c.status.in_(open_statuses),
        ).order_by(t.requests.c.seq)
    ).all()
    for row in rows:
        for attempt in (1, 2):
            # PostgreSQL: another transaction may change one after our read (resolve it,
            # say); its compare-and-set then fails, and a second look decides.
            view = request_view(row) if attempt == 1 else load_request(uow.conn, row.id)
            try:
                view = _expire_if_due(uow, view)
                tr = plan.plan_cascade_retract(
                    view, principal, uow.now, ancestor_id=ancestor_id, message=message
                )
                if tr is not None:
                    apply_request(uow.conn, view, tr)
                    uow.report(RequestChanged(view.id))
                break
            except FinalesError:
                if attempt == 2:
                    raise


def set_status(
    uow: UnitOfWork,
    *,
    principal: Principal,
    request_id: str,
    new_status: str,
    message: str = "",
    lease_s: float | None = None,
) -> RequestView:
    """Move a request to ``new_status`` by the action that leads there (FINALES 2's
    ``update_status``): reserved claims (without the offer check FINALES 2 never made),
    pending releases, retracted retracts. Resolved and unsolicited come from results."""
    if new_status == RS.RESERVED:
        return claim(
            uow, principal=principal, request_id=request_id, lease_s=lease_s, check_offers=False
        )
    if new_status == RS.PENDING:
        return release(uow, principal=principal, request_id=request_id, message=message)
    if new_status == RS.RETRACTED:
        return retract(uow, principal=principal, request_id=request_id, message=message)
    if new_status in (RS.RESOLVED, RS.UNSOLICITED):
        raise invalid("/new_status", f"{new_status} is set by posting a result, not here")
    raise invalid("/new_status", "must be one of pending, reserved, retracted")
