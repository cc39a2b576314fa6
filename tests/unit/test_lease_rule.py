"""The one lease rule of the planners: the reserver's actions need the lease live at ``now``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from finales.domain import transitions as plan
from finales.domain.leases import LeaseGuard, is_expired, is_live
from finales.domain.principals import Principal, Role
from finales.domain.statuses import LIVE_LEASE_ACTIONS, RequestAction, RequestStatus
from finales.domain.views import RequestView
from finales.errors import Forbidden, LeaseExpired

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TENANT = Principal(id="p-a", name="bot-a", role=Role.TENANT, tenant_id="tenant-a")
ADMIN = Principal(id="p-admin", name="admin", role=Role.ADMIN)
EXPIRES = NOW + timedelta(seconds=30)


def reserved(lease_expires_at: datetime | None = EXPIRES) -> RequestView:
    return RequestView(
        seq=1,
        id="r1",
        quantity="conductivity",
        methods=["two_electrode"],
        parameters={"two_electrode": {}},
        capability_ids={"two_electrode": "c1"},
        parent_request_id=None,
        requester_tenant_id="tenant-b",
        requester="bot-b",
        requester_principal_id="p-b",
        status=RequestStatus.RESERVED,
        reserved_by="tenant-a",
        lease_expires_at=lease_expires_at,
        created_at=NOW,
        updated_at=NOW,
    )


Planner = Callable[[RequestView, Principal, datetime], plan.RequestTransition]
PLANNERS: dict[RequestAction, Planner] = {
    RequestAction.HEARTBEAT: lambda v, p, now: plan.plan_heartbeat(v, p, now, lease_s=60),
    RequestAction.RELEASE: lambda v, p, now: plan.plan_release(v, p, now),
    RequestAction.RESOLVE: lambda v, p, now: plan.plan_resolve(v, p, now, result_id="x"),
}


def test_is_live_is_the_complement_of_is_expired() -> None:
    for at in (NOW, EXPIRES - timedelta(microseconds=1), EXPIRES, EXPIRES + timedelta(hours=1)):
        assert is_live(EXPIRES, at) is not is_expired(EXPIRES, at)
    assert is_live(EXPIRES, EXPIRES - timedelta(microseconds=1))
    assert not is_live(EXPIRES, EXPIRES)  # a lease has run out at its expiry instant
    assert is_live(None, NOW + timedelta(days=365 * 100))  # a lease without expiry


def test_the_planned_actions_are_the_ones_that_need_a_live_lease() -> None:
    assert set(PLANNERS) == LIVE_LEASE_ACTIONS


@pytest.mark.parametrize("action", sorted(LIVE_LEASE_ACTIONS))
@pytest.mark.parametrize("principal", [TENANT, ADMIN], ids=["reserver", "admin"])
def test_every_action_on_a_reservation_needs_the_lease_live_at_now(
    action: RequestAction, principal: Principal
) -> None:
    planner = PLANNERS[action]
    just_before = planner(reserved(), principal, EXPIRES - timedelta(microseconds=1))
    assert just_before.lease is LeaseGuard.LIVE  # and the write checks it again
    assert just_before.expect_reserved_by == "tenant-a"
    for late in (EXPIRES, EXPIRES + timedelta(seconds=0.3)):
        with pytest.raises(LeaseExpired, match=r"expired at 2024-05-01T12:00:30\+00:00"):
            planner(reserved(), principal, late)
    # A reservation without expiry (a FINALES 2 one by default) never runs out.
    assert planner(reserved(None), principal, NOW + timedelta(days=3650)).lease is LeaseGuard.LIVE


def test_another_tenant_is_refused_before_the_lease_is_looked_at() -> None:
    other = Principal(id="p-c", name="bot-c", role=Role.TENANT, tenant_id="tenant-c")
    for planner in PLANNERS.values():
        with pytest.raises(Forbidden):
            planner(reserved(), other, EXPIRES + timedelta(hours=1))


def test_retract_and_expiry_do_not_need_a_live_lease() -> None:
    late = EXPIRES + timedelta(seconds=1)
    requester = Principal(id="p-b", name="bot-b", role=Role.TENANT, tenant_id="tenant-b")
    assert plan.plan_retract(reserved(), requester, late).lease is LeaseGuard.NONE
    expiry = plan.plan_expiry(reserved(), late)
    assert expiry is not None and expiry.lease is LeaseGuard.DUE
    assert plan.plan_expiry(reserved(), EXPIRES - timedelta(seconds=1)) is None
