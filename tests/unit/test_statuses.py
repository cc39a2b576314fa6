"""The lifecycles of requests and results (architecture.md section 3)."""

from __future__ import annotations

import itertools

import pytest

from finales.domain.statuses import (
    REQUEST_TRANSITIONS,
    RESULT_TRANSITIONS,
    TERMINAL_REQUEST_STATUSES,
    RequestStatus,
    ResultStatus,
    check_request_transition,
    check_result_transition,
)
from finales.errors import Conflict, InvalidTransition

R = RequestStatus
S = ResultStatus

ALLOWED_REQUEST = {
    (None, R.PENDING),
    (None, R.UNSOLICITED),
    (R.PENDING, R.RESERVED),
    (R.PENDING, R.RETRACTED),
    (R.RESERVED, R.RESERVED),  # heartbeat
    (R.RESERVED, R.PENDING),  # release, lease expiry
    (R.RESERVED, R.RESOLVED),
    (R.RESERVED, R.RETRACTED),
    (None, R.AWAITING_APPROVAL),  # a capability that requires approval
    (R.AWAITING_APPROVAL, R.PENDING),  # approved
    (R.AWAITING_APPROVAL, R.REJECTED),
    (R.AWAITING_APPROVAL, R.RETRACTED),
}
ALLOWED_RESULT = {
    (None, S.ORIGINAL),
    (S.ORIGINAL, S.AMENDED),
    (S.ORIGINAL, S.DELETED),
    (S.AMENDED, S.DELETED),
}
REQUEST_PAIRS = list(itertools.product([None, *R], R))
RESULT_PAIRS = list(itertools.product([None, *S], S))


def test_statuses_are_lowercase_strings() -> None:
    assert [s.value for s in R] == [
        "pending",
        "reserved",
        "resolved",
        "retracted",
        "unsolicited",
        "awaiting_approval",
        "rejected",
    ]
    assert [s.value for s in S] == ["original", "amended", "deleted"]
    assert R("reserved") is R.RESERVED
    assert R.PENDING == "pending"


def test_every_state_has_a_row_in_the_tables() -> None:
    assert set(REQUEST_TRANSITIONS) == {None, *R}
    assert set(RESULT_TRANSITIONS) == {None, *S}


@pytest.mark.parametrize(("current", "new"), REQUEST_PAIRS, ids=str)
def test_request_transition_table(current: R | None, new: R) -> None:
    if (current, new) in ALLOWED_REQUEST:
        check_request_transition(current, new)
    else:
        with pytest.raises(InvalidTransition) as caught:
            check_request_transition(current, new)
        assert str(new) in caught.value.detail


@pytest.mark.parametrize(("current", "new"), RESULT_PAIRS, ids=str)
def test_result_transition_table(current: S | None, new: S) -> None:
    if (current, new) in ALLOWED_RESULT:
        check_result_transition(current, new)
    else:
        with pytest.raises(InvalidTransition):
            check_result_transition(current, new)


def test_terminal_request_states_have_no_exits() -> None:
    assert {R.RESOLVED, R.RETRACTED, R.UNSOLICITED, R.REJECTED} == TERMINAL_REQUEST_STATUSES
    for terminal in TERMINAL_REQUEST_STATUSES:
        for new in R:
            with pytest.raises(InvalidTransition):
                check_request_transition(terminal, new)


@pytest.mark.parametrize("new", [R.PENDING, R.RESERVED])
def test_resolved_request_never_goes_back(new: R) -> None:
    with pytest.raises(InvalidTransition):
        check_request_transition(R.RESOLVED, new)


def test_a_request_is_resolved_only_through_a_reservation() -> None:
    with pytest.raises(InvalidTransition):
        check_request_transition(R.PENDING, R.RESOLVED)
    with pytest.raises(InvalidTransition):
        check_request_transition(None, R.RESOLVED)


def test_deleted_result_is_final() -> None:
    for new in S:
        with pytest.raises(InvalidTransition):
            check_result_transition(S.DELETED, new)


def test_invalid_transition_is_a_409_conflict() -> None:
    with pytest.raises(Conflict) as caught:
        check_request_transition(R.RETRACTED, R.PENDING)
    assert caught.value.status_code == 409
    assert caught.value.code == "invalid_transition"
    assert caught.value.to_body()["code"] == "invalid_transition"
