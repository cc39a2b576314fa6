"""Workflow rules without a database: labels, inputs, the depth bound, the cascade planner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from finales.domain.principals import Principal, Role
from finales.domain.statuses import RequestAction, RequestStatus
from finales.domain.transitions import plan_cascade_retract, retractable_statuses
from finales.domain.views import RequestView
from finales.domain.workflows import (
    MAX_TREE_DEPTH,
    check_depth,
    check_inputs,
    check_labels,
    parse_label_filters,
)
from finales.errors import InvalidPayload

R = RequestStatus
NOW = datetime(2026, 12, 8, tzinfo=UTC)
ADMIN = Principal(id="p", name="alice", role=Role.ADMIN)


def view(status: RequestStatus, lease_s: float | None = None) -> RequestView:
    lease = NOW + timedelta(seconds=lease_s) if lease_s is not None else None
    return RequestView(
        seq=1,
        id="child",
        quantity="q",
        methods=["m"],
        parameters={"m": {}},
        capability_ids={"m": "c"},
        parent_request_id="root",
        requester_tenant_id="t",
        requester="orchestrator",
        requester_principal_id="o",
        status=status,
        reserved_by="t2" if status is R.RESERVED else None,
        lease_expires_at=lease,
        created_at=NOW,
        updated_at=NOW,
    )


def test_cascade_acts_on_what_retract_acts_on() -> None:
    # Read from the table, not a list of its own: every status retract accepts is open.
    assert retractable_statuses() >= {R.PENDING, R.RESERVED}
    for status in R:
        tr = plan_cascade_retract(view(status, 60), ADMIN, NOW, ancestor_id="root", message="x")
        if status in retractable_statuses():
            assert tr is not None and tr.action is RequestAction.RETRACT
            assert tr.to_status is R.RETRACTED
            assert tr.message == "retracted with its ancestor root: x"
            assert tr.actor == "alice"
            assert tr.reserved_by is None
        else:
            assert tr is None, status


def test_cascade_message_without_a_reason() -> None:
    tr = plan_cascade_retract(view(R.PENDING), ADMIN, NOW, ancestor_id="root")
    assert tr is not None and tr.message == "retracted with its ancestor root"


def test_labels_rule() -> None:
    assert check_labels(None) == {}
    assert check_labels({"workflow_step": "mix", "index": "0"}) == {
        "workflow_step": "mix",
        "index": "0",
    }
    for bad, pointer in (
        ({"": "x"}, "/labels/"),
        ({"a:b": "x"}, "/labels/a:b"),
        ({"a/b~": "x"}, "/labels/a~1b~0"),
        ({"k": "v" * 201}, "/labels/k"),
        ({str(i): "v" for i in range(17)}, "/labels"),
    ):
        with pytest.raises(InvalidPayload) as caught:
            check_labels(bad)
        assert caught.value.errors[0]["pointer"] == pointer
    assert parse_label_filters(["a:b:c", "k:"]) == [("a", "b:c"), ("k", "")]
    with pytest.raises(InvalidPayload):
        parse_label_filters([":v"])


def test_inputs_rule() -> None:
    assert check_inputs(None) == []
    with pytest.raises(InvalidPayload) as caught:
        check_inputs(["a", "b", "a"])
    assert caught.value.errors[0]["pointer"] == "/inputs/2"
    with pytest.raises(InvalidPayload):
        check_inputs([str(i) for i in range(101)])


def test_depth_rule() -> None:
    check_depth(MAX_TREE_DEPTH - 1)
    with pytest.raises(InvalidPayload):
        check_depth(MAX_TREE_DEPTH)
