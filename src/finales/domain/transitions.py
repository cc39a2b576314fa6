"""Planning every status change of requests and results.

A planner takes the current view, the principal and the time, consults the transition table
(``finales.domain.statuses``) and the authorization policy, and returns a frozen
``*Transition`` - or raises the domain error (403, 409, ...). It decides; it does not write.
The services apply a transition with one conditional write plus one appended event
(``finales.services.apply``); the write re-checks the transition's ``from_status`` (and the
reservation it was planned against) under the row lock, so a change planned from a view that
another writer has meanwhile made stale fails instead of overwriting it (``lost_race``).

Leases. Expiry is a fact of the clock, not of the sweeper. The reserver's actions on its
reservation - heartbeat, release, the result that resolves it (``LIVE_LEASE_ACTIONS``, through
either door) - need the lease live at the time of the change, and ``_request`` checks that one
rule for all of them (``require_live_lease``): a lease that has run out is refused with
``LeaseExpired`` (409, "the lease on request ... expired at ...; claim the request again")
before and whether or not the sweeper has recorded its expiry. The conditional write repeats
the check against the row (``LeaseGuard.LIVE``), so a plan made from a stale view cannot slip a
change past an expiry either. Claim and retract plan the expiry first (``plan_expiry``), so
their history shows the request pending again before it is claimed or withdrawn.

A refusal does not record the expiry (no ``system / lease expired`` event in the refused
call's transaction), for three reasons. A refused call changes nothing: its transaction rolls
back, and an idempotency-keyed POST stores no answer for an error, so its retry must find the
store as the first call found it - an event written by an error answer would be a change the
client cannot see in what it was told. Nothing waits for the event: every transition already
reads the expiry from the clock, and the next claim records it before claiming. And the lease
sweeper records it, with the same event, within ``lease_sweep_s``; it is also what wakes the
work long-polls of the tenants who may claim the request now.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from finales.domain import policy
from finales.domain.leases import LeaseGuard, is_expired, is_live, lease_expiry
from finales.domain.principals import Principal
from finales.domain.statuses import (
    LIVE_LEASE_ACTIONS,
    REQUEST_ACTIONS,
    RESULT_ACTIONS,
    RequestAction,
    RequestStatus,
    ResultAction,
    ResultStatus,
)
from finales.domain.views import RequestView, ResultView
from finales.errors import FinalesError, Forbidden, InvalidTransition, LeaseExpired

R = RequestStatus
SYSTEM_ACTOR = "system"


@dataclass(frozen=True, slots=True)
class RequestTransition:
    """One planned status change of a request: the event to append and the projection
    (``reserved_by``, ``lease_expires_at``) it leaves behind."""

    action: RequestAction
    from_status: RequestStatus | None
    to_status: RequestStatus
    at: datetime
    actor: str
    tenant_id: str | None  # the tenant the event names
    reserved_by: str | None
    lease_expires_at: datetime | None
    message: str
    # Compare-and-set: the reservation the plan was made against must still hold...
    expect_reserved_by: str | None = None
    # ... and its lease must still be live at ``at`` (the reserver's actions) or still have
    # run out at ``at`` (an expiry).
    lease: LeaseGuard = LeaseGuard.NONE

    def applied_to(self, view: RequestView) -> RequestView:
        """The view after this transition (what the conditional write leaves in the row)."""
        return replace(
            view,
            status=self.to_status,
            reserved_by=self.reserved_by,
            lease_expires_at=self.lease_expires_at,
            updated_at=self.at,
        )


@dataclass(frozen=True, slots=True)
class ResultTransition:
    action: ResultAction
    from_status: ResultStatus | None
    to_status: ResultStatus
    at: datetime
    actor: str
    message: str
    superseded_by: str | None = None


def projection_after(
    to_status: str, *, previous_reserved_by: str | None, event_tenant: str | None
) -> str | None:
    """Who holds the reservation after an event: the event's tenant while reserved, the
    resolver stays on record once resolved, nobody otherwise. The same rule writes the
    projection and rebuilds it from the history (``services.integrity``)."""
    if to_status == R.RESERVED:
        return event_tenant
    if to_status == R.RESOLVED:
        return previous_reserved_by
    return None


def _request(
    view: RequestView | None,
    action: RequestAction,
    *,
    at: datetime,
    actor: str,
    tenant_id: str | None,
    message: str,
    lease_expires_at: datetime | None = None,
) -> RequestTransition:
    sources, target = REQUEST_ACTIONS[action]
    current = view.status if view is not None else None
    if current not in sources:  # the planners check first, with their own words
        raise InvalidTransition(f"a request cannot {action} from {current}")
    reserved = view.reserved_by if view is not None else None
    lease = LeaseGuard.NONE
    if action in LIVE_LEASE_ACTIONS and view is not None:  # (they all start from reserved)
        require_live_lease(view, at)
        lease = LeaseGuard.LIVE
    elif action is RequestAction.EXPIRE:
        lease = LeaseGuard.DUE
    return RequestTransition(
        action=action,
        from_status=current,
        to_status=target,
        at=at,
        actor=actor,
        tenant_id=tenant_id,
        reserved_by=projection_after(target, previous_reserved_by=reserved, event_tenant=tenant_id),
        lease_expires_at=lease_expires_at if target is R.RESERVED else None,
        message=message,
        expect_reserved_by=reserved if current is R.RESERVED else None,
        lease=lease,
    )


def require_live_lease(view: RequestView, now: datetime) -> None:
    """The one lease rule of the reserver's actions: its lease must be live at ``now``.

    Raises ``LeaseExpired`` (409) naming when it ran out, recorded by the sweeper or not.
    """
    if not is_live(view.lease_expires_at, now):
        raise lease_expired(view.id, view.lease_expires_at)


def lease_expired(request_id: str, expired_at: datetime | None) -> LeaseExpired:
    when = f" at {expired_at.isoformat()}" if expired_at is not None else ""
    return LeaseExpired(f"the lease on request {request_id} expired{when}; claim the request again")


def _allowed(action: RequestAction, view: RequestView) -> bool:
    return view.status in REQUEST_ACTIONS[action][0]


# ------------------------------------------------------------------------------ requests


def plan_submit(
    principal: Principal,
    now: datetime,
    *,
    unsolicited: bool = False,
    needs_approval: bool = False,
) -> RequestTransition:
    """A new request (or the record made for an unsolicited result) enters its lifecycle; a
    request for a capability that requires approval enters it awaiting approval."""
    if unsolicited:
        action, message = RequestAction.RECORD_UNSOLICITED, "unsolicited result"
    elif needs_approval:
        action, message = RequestAction.SUBMIT_FOR_APPROVAL, "awaiting approval"
    else:
        action, message = RequestAction.SUBMIT, ""
    return _request(
        None, action, at=now, actor=principal.name, tenant_id=principal.tenant_id, message=message
    )


def plan_expiry(view: RequestView, now: datetime) -> RequestTransition | None:
    """A reservation whose lease has run out goes back to pending; None while it has not.

    Expiry is a fact of the clock: callers plan it before any change that needs to know
    whether a request is claimable.
    """
    if view.status is not R.RESERVED or not is_expired(view.lease_expires_at, now):
        return None
    return _request(
        view,
        RequestAction.EXPIRE,
        at=now,
        actor=SYSTEM_ACTOR,
        tenant_id=None,
        message="lease expired",
    )


def plan_claim(
    view: RequestView,
    principal: Principal,
    now: datetime,
    *,
    lease_s: float | None,
    covered: bool,
) -> RequestTransition:
    """Reserve a pending request for the caller's tenant (``covered``: its offers and
    limitations cover the request; the FINALES 2 door does not ask)."""
    tenant_id = principal.acting_tenant()
    if not covered:
        raise Forbidden("this request is outside your tenant's offers and limitations")
    if not _allowed(RequestAction.CLAIM, view):
        raise not_claimable(view.id, view.status)
    return _request(
        view,
        RequestAction.CLAIM,
        at=now,
        actor=principal.name,
        tenant_id=tenant_id,
        message="claimed",
        lease_expires_at=lease_expiry(now, lease_s),
    )


def plan_decision(
    view: RequestView, principal: Principal, now: datetime, *, approve: bool, message: str = ""
) -> RequestTransition:
    """An admin or approver approves (-> pending: claimable from now on) or rejects (->
    rejected, closed) a request awaiting approval; the message records why."""
    policy.require_approver(principal)
    action = RequestAction.APPROVE if approve else RequestAction.REJECT
    if not _allowed(action, view):
        raise InvalidTransition(
            f"request {view.id} is {view.status}, not awaiting approval: "
            f"it cannot be {'approved' if approve else 'rejected'}"
        )
    verb = "approved" if approve else "rejected"
    return _request(
        view,
        action,
        at=now,
        actor=principal.name,
        tenant_id=principal.tenant_id,
        message=f"{verb}: {message}" if message else verb,
    )


def not_claimable(request_id: str, status: RequestStatus | None) -> InvalidTransition:
    return InvalidTransition(f"request {request_id} is {status}, not pending: it cannot be claimed")


def plan_heartbeat(
    view: RequestView, principal: Principal, now: datetime, *, lease_s: float | None
) -> RequestTransition:
    """Extend the reserver's lease; a lease that has run out cannot be extended (409, the
    lease rule of ``_request``)."""
    if not _allowed(RequestAction.HEARTBEAT, view):
        raise InvalidTransition(f"request {view.id} is {view.status}, not reserved")
    if not principal.may_act_for(view.reserved_by):
        raise Forbidden("this request is reserved by another tenant")
    return _request(
        view,
        RequestAction.HEARTBEAT,
        at=now,
        actor=principal.name,
        tenant_id=view.reserved_by,
        message="heartbeat",
        lease_expires_at=lease_expiry(now, lease_s),
    )


def plan_release(
    view: RequestView, principal: Principal, now: datetime, *, message: str = ""
) -> RequestTransition:
    """Give a reservation back (reserver or admin): the request is pending again.

    A reservation whose lease has run out is no longer there to give back: 409, as for the
    heartbeat and the result (the request is claimable already; the sweeper records it).
    """
    if not _allowed(RequestAction.RELEASE, view):
        raise InvalidTransition(f"request {view.id} is {view.status}, not reserved")
    if not principal.may_act_for(view.reserved_by):
        raise Forbidden("only the reserving tenant or an admin may release this request")
    return _request(
        view,
        RequestAction.RELEASE,
        at=now,
        actor=principal.name,
        tenant_id=principal.tenant_id,
        message=message or "released",
    )


def plan_retract(
    view: RequestView, principal: Principal, now: datetime, *, message: str = ""
) -> RequestTransition:
    """Withdraw a pending or reserved request (requester or admin), whatever its lease says:
    the requester's decision does not depend on the reserver's lease. (The service plans a
    due expiry first, so the history says the request was pending when it was withdrawn.)"""
    if not policy.may_retract(principal, view):
        raise Forbidden("only the requester or an admin may retract this request")
    if not _allowed(RequestAction.RETRACT, view):
        raise InvalidTransition(f"request {view.id} is {view.status}; it cannot be retracted")
    return _request(
        view,
        RequestAction.RETRACT,
        at=now,
        actor=principal.name,
        tenant_id=principal.tenant_id,
        message=message or "retracted",
    )


def retractable_statuses() -> frozenset[RequestStatus]:
    """The statuses ``retract`` acts on, read from the transition table (so a status added
    there - awaiting approval, say - is open to a cascade too)."""
    return frozenset(s for s in REQUEST_ACTIONS[RequestAction.RETRACT][0] if s is not None)


def plan_cascade_retract(
    view: RequestView, principal: Principal, now: datetime, *, ancestor_id: str, message: str = ""
) -> RequestTransition | None:
    """Withdraw a request because its ancestor ``ancestor_id`` was withdrawn; None when it is
    no longer open (resolved, retracted, ...: it stays as it is).

    No permission of its own is asked: whoever may retract the ancestor withdraws the work
    done for it, whoever posted the sub-requests (an orchestrator's, typically). The actor is
    the retracting principal; the message names the ancestor.
    """
    if not _allowed(RequestAction.RETRACT, view):
        return None
    why = f"retracted with its ancestor {ancestor_id}"
    return _request(
        view,
        RequestAction.RETRACT,
        at=now,
        actor=principal.name,
        tenant_id=principal.tenant_id,
        message=f"{why}: {message}" if message else why,
    )


_NOT_RESOLVABLE = {
    R.PENDING: "not reserved: claim it first",
    R.RESOLVED: "already resolved",
    R.RETRACTED: "retracted",
    R.UNSOLICITED: "an unsolicited record",
    R.AWAITING_APPROVAL: "awaiting approval: it cannot be claimed yet",
    R.REJECTED: "rejected",
}


def plan_resolve(
    view: RequestView, principal: Principal, now: datetime, *, result_id: str
) -> RequestTransition:
    """The reserver (or an admin, for it) posts the result: the request is resolved. The
    transition's ``tenant_id`` is the tenant the result belongs to.

    The lease must be live at ``now`` (``require_live_lease``): a result that comes after its
    lease ran out is refused with 409 even before the sweeper has recorded the expiry - the
    request may be claimed by another tenant from that instant, and two resolutions of one
    request must not both be accepted. The poster claims again and re-posts (the tenant
    runtime does so on ``LeaseExpired``).
    """
    if not _allowed(RequestAction.RESOLVE, view):
        raise InvalidTransition(f"request {view.id} is {_NOT_RESOLVABLE[view.status]}")
    if principal.is_admin:
        tenant_id = view.reserved_by
    elif view.reserved_by != principal.acting_tenant():
        raise Forbidden("this request is reserved by another tenant")
    else:
        tenant_id = view.reserved_by
    return _request(
        view,
        RequestAction.RESOLVE,
        at=now,
        actor=principal.name,
        tenant_id=tenant_id,
        message=f"result {result_id}",
    )


def lost_race(
    tr: RequestTransition,
    request_id: str,
    current: RequestStatus | None,
    lease_expires_at: datetime | None = None,
) -> FinalesError:
    """The error for a transition whose conditional write found the row changed
    (``current``, ``lease_expires_at``: the row as the write found it)."""
    if tr.action is RequestAction.CLAIM:
        return not_claimable(request_id, current)
    if tr.lease is LeaseGuard.LIVE:
        if current is R.RESERVED and is_expired(lease_expires_at, tr.at):
            return lease_expired(request_id, lease_expires_at)
        if current in (R.PENDING, R.RESERVED):  # expired and swept (then perhaps reclaimed)
            return LeaseExpired(f"the lease on request {request_id} was lost meanwhile")
    return InvalidTransition(f"request {request_id} changed status meanwhile; reload it")


# ------------------------------------------------------------------------------ results


def _result(
    view: ResultView | None,
    action: ResultAction,
    *,
    at: datetime,
    actor: str,
    message: str,
    superseded_by: str | None = None,
) -> ResultTransition:
    sources, target = RESULT_ACTIONS[action]
    current = view.status if view is not None else None
    if current not in sources:
        hint = ""
        if action is ResultAction.AMEND and view is not None and view.superseded_by:
            hint = f"; amend {view.superseded_by} instead"
        elif action is not ResultAction.AMEND:
            hint = f"; it cannot become {target}"
        raise InvalidTransition(f"result {view.id if view else '?'} is {current}{hint}")
    return ResultTransition(
        action=action,
        from_status=current,
        to_status=target,
        at=at,
        actor=actor,
        message=message,
        superseded_by=superseded_by,
    )


def plan_post(
    principal: Principal, now: datetime, *, supersedes: str | None = None, message: str = ""
) -> ResultTransition:
    """A new result (``supersedes``: the one it amends) enters its lifecycle."""
    default = f"amends {supersedes}" if supersedes else "posted"
    return _result(
        None, ResultAction.POST, at=now, actor=principal.name, message=message or default
    )


def _owned(view: ResultView, principal: Principal) -> None:
    if not principal.may_act_for(view.tenant_id):
        raise Forbidden("only the tenant that posted this result or an admin may change it")


def plan_amend(
    view: ResultView, principal: Principal, now: datetime, *, new_result_id: str, message: str
) -> ResultTransition:
    """Supersede a result by a new one (poster or admin); the old one becomes amended."""
    _owned(view, principal)
    return _result(
        view,
        ResultAction.AMEND,
        at=now,
        actor=principal.name,
        message=message or f"amended by {new_result_id}",
        superseded_by=new_result_id,
    )


def plan_mark_amended(
    view: ResultView, principal: Principal, now: datetime, *, message: str
) -> ResultTransition:
    _owned(view, principal)
    return _result(
        view, ResultAction.MARK_AMENDED, at=now, actor=principal.name, message=message or "amended"
    )


def plan_delete(
    view: ResultView, principal: Principal, now: datetime, *, message: str
) -> ResultTransition:
    """Soft-delete (poster or admin): an event; the row stays."""
    _owned(view, principal)
    return _result(
        view, ResultAction.DELETE, at=now, actor=principal.name, message=message or "deleted"
    )
