"""Lifecycles of requests and results (architecture.md section 3)."""

from __future__ import annotations

from enum import StrEnum

from finales.errors import InvalidTransition


class RequestStatus(StrEnum):
    PENDING = "pending"
    RESERVED = "reserved"
    RESOLVED = "resolved"
    RETRACTED = "retracted"
    UNSOLICITED = "unsolicited"


class ResultStatus(StrEnum):
    ORIGINAL = "original"
    AMENDED = "amended"
    DELETED = "deleted"


# None is the "no row yet" state: creation is a transition too, so the history starts with it.
REQUEST_TRANSITIONS: dict[RequestStatus | None, frozenset[RequestStatus]] = {
    None: frozenset({RequestStatus.PENDING, RequestStatus.UNSOLICITED}),
    RequestStatus.PENDING: frozenset({RequestStatus.RESERVED, RequestStatus.RETRACTED}),
    RequestStatus.RESERVED: frozenset(
        {
            RequestStatus.RESERVED,  # lease renewal (heartbeat)
            RequestStatus.PENDING,  # release or lease expiry
            RequestStatus.RESOLVED,
            RequestStatus.RETRACTED,
        }
    ),
    RequestStatus.RESOLVED: frozenset(),
    RequestStatus.RETRACTED: frozenset(),
    RequestStatus.UNSOLICITED: frozenset(),
}

RESULT_TRANSITIONS: dict[ResultStatus | None, frozenset[ResultStatus]] = {
    None: frozenset({ResultStatus.ORIGINAL}),
    ResultStatus.ORIGINAL: frozenset({ResultStatus.AMENDED, ResultStatus.DELETED}),
    ResultStatus.AMENDED: frozenset({ResultStatus.DELETED}),
    ResultStatus.DELETED: frozenset(),
}

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
