"""Lifecycles of requests and results (architecture.md section 3): the one transition table.

Every status change the broker makes is an *action* with the statuses it may start from and
the status it leads to. ``finales.domain.transitions`` plans each change through this table,
so a new action (say, a workflow's cascade) is one row here and one planner there. The
``*_TRANSITIONS`` maps (which status may follow which) are derived from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar

from finales.errors import InvalidTransition


class RequestStatus(StrEnum):
    PENDING = "pending"
    RESERVED = "reserved"
    RESOLVED = "resolved"
    RETRACTED = "retracted"
    UNSOLICITED = "unsolicited"
    AWAITING_APPROVAL = "awaiting_approval"  # its capability requires approval: not yet claimable
    REJECTED = "rejected"  # an approver said no: closed, with the reason in the history


class ResultStatus(StrEnum):
    ORIGINAL = "original"
    AMENDED = "amended"
    DELETED = "deleted"


class RequestAction(StrEnum):
    SUBMIT = "submit"
    RECORD_UNSOLICITED = "record_unsolicited"  # the request made for an unsolicited result
    CLAIM = "claim"
    HEARTBEAT = "heartbeat"
    RELEASE = "release"
    EXPIRE = "expire"  # the lease ran out
    RETRACT = "retract"
    RESOLVE = "resolve"  # its result was posted
    SUBMIT_FOR_APPROVAL = "submit_for_approval"  # a request for a capability that needs approval
    APPROVE = "approve"
    REJECT = "reject"


class ResultAction(StrEnum):
    POST = "post"
    AMEND = "amend"  # superseded by a new result, linked both ways
    MARK_AMENDED = "mark_amended"  # FINALES 2's update_status(amended): no link
    DELETE = "delete"


R = RequestStatus
S = ResultStatus

# action -> (the statuses it may start from, the status it leads to); None is "no row yet":
# creation is a transition too, so every history starts with it.
REQUEST_ACTIONS: dict[RequestAction, tuple[frozenset[RequestStatus | None], RequestStatus]] = {
    RequestAction.SUBMIT: (frozenset({None}), R.PENDING),
    RequestAction.RECORD_UNSOLICITED: (frozenset({None}), R.UNSOLICITED),
    RequestAction.CLAIM: (frozenset({R.PENDING}), R.RESERVED),
    RequestAction.HEARTBEAT: (frozenset({R.RESERVED}), R.RESERVED),
    RequestAction.RELEASE: (frozenset({R.RESERVED}), R.PENDING),
    RequestAction.EXPIRE: (frozenset({R.RESERVED}), R.PENDING),
    RequestAction.RETRACT: (frozenset({R.PENDING, R.RESERVED, R.AWAITING_APPROVAL}), R.RETRACTED),
    RequestAction.RESOLVE: (frozenset({R.RESERVED}), R.RESOLVED),
    RequestAction.SUBMIT_FOR_APPROVAL: (frozenset({None}), R.AWAITING_APPROVAL),
    RequestAction.APPROVE: (frozenset({R.AWAITING_APPROVAL}), R.PENDING),
    RequestAction.REJECT: (frozenset({R.AWAITING_APPROVAL}), R.REJECTED),
}
# The actions that act on a reservation: the reserver's (or an admin's for it) heartbeat,
# release and result. Each needs the lease live at the time of the change, whether or not the
# sweeper has recorded its expiry yet (``finales.domain.leases``). Expire needs the opposite.
# Retract is not one: the requester withdraws its request whatever the lease says. No result
# action is either: a result exists once its request is resolved (or recorded unsolicited),
# and the lease ends there.
LIVE_LEASE_ACTIONS = frozenset(
    {RequestAction.HEARTBEAT, RequestAction.RELEASE, RequestAction.RESOLVE}
)
RESULT_ACTIONS: dict[ResultAction, tuple[frozenset[ResultStatus | None], ResultStatus]] = {
    ResultAction.POST: (frozenset({None}), S.ORIGINAL),
    ResultAction.AMEND: (frozenset({S.ORIGINAL}), S.AMENDED),
    ResultAction.MARK_AMENDED: (frozenset({S.ORIGINAL}), S.AMENDED),
    ResultAction.DELETE: (frozenset({S.ORIGINAL, S.AMENDED}), S.DELETED),
}


St = TypeVar("St", bound=StrEnum)


def _derive(
    statuses: type[St], actions: Iterable[tuple[frozenset[St | None], St]]
) -> dict[St | None, frozenset[St]]:
    table: dict[St | None, set[St]] = {s: set() for s in [None, *statuses]}
    for sources, target in actions:
        for source in sources:
            table[source].add(target)
    return {s: frozenset(targets) for s, targets in table.items()}


REQUEST_TRANSITIONS: dict[RequestStatus | None, frozenset[RequestStatus]] = _derive(
    RequestStatus, REQUEST_ACTIONS.values()
)
RESULT_TRANSITIONS: dict[ResultStatus | None, frozenset[ResultStatus]] = _derive(
    ResultStatus, RESULT_ACTIONS.values()
)

TERMINAL_REQUEST_STATUSES = frozenset(
    s for s, targets in REQUEST_TRANSITIONS.items() if s is not None and not targets
)


def check_request_transition(current: RequestStatus | None, new: RequestStatus) -> None:
    """Raise InvalidTransition (409) unless ``current -> new`` is allowed."""
    if new not in REQUEST_TRANSITIONS[current]:
        raise InvalidTransition(f"a request cannot go from {current} to {new}")


def check_result_transition(current: ResultStatus | None, new: ResultStatus) -> None:
    if new not in RESULT_TRANSITIONS[current]:
        raise InvalidTransition(f"a result cannot go from {current} to {new}")


def request_action_allowed(action: RequestAction, current: RequestStatus | None) -> bool:
    return current in REQUEST_ACTIONS[action][0]


def result_action_allowed(action: ResultAction, current: ResultStatus | None) -> bool:
    return current in RESULT_ACTIONS[action][0]
