"""The workflow orchestrator against a real broker (in process, both databases): an instant
worker tenant and the orchestrator run as tenant threads; an admin posts parent requests and
reads their trees. Timeouts and backoffs in the files are short (seconds)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from finales.testing import LocalBroker
from tests.workflow_stack import Stack, attempts, running, setup_stack

T = TypeVar("T")

# outer fans out 8 inner workflows; each inner fans out 8 leaves: 1 + 8 + 64 requests.
INNER = """
name: inner
serves: {quantity: inner, method: wf}
steps:
  leaves:
    quantity: leaf
    methods: [compute]
    for_each: "{{ range(8) | list }}"
    parameters: {n: "{{ parameters.base + item }}"}
result: {total: "{{ steps.leaves.results | map(attribute='v') | sum }}", failed: []}
failure: {total: -1, failed: []}
"""
OUTER = """
name: outer
serves: {quantity: outer, method: wf}
steps:
  inners:
    quantity: inner
    methods: [wf]
    for_each: "{{ range(8) | list }}"
    parameters: {base: "{{ item * 100 }}"}
    timeout: 60
result: {total: "{{ steps.inners.results | map(attribute='total') | sum }}", failed: []}
failure: {total: -1, failed: []}
"""
# A chain a -> b -> c whose modes come from the parent's parameters.
CHAIN = """
name: chain
serves: {quantity: chain, method: wf}
defaults: {timeout: {timeout}, retries: {retries}, backoff: {initial: 0.2}}
steps:
  a:
    quantity: leaf
    methods: [compute]
    parameters: {n: 1, mode: "{{ parameters.a }}"}
  b:
    needs: [a]
    quantity: leaf
    methods: [compute]
    for_each: "{{ range(3) | list }}"
    parameters:
      n: "{{ steps.a.result.v + item }}"
      mode: "{{ parameters.b if index == 1 else 'ok' }}"
    on_failure: continue
  c:
    needs: [b]
    quantity: leaf
    methods: [compute]
    parameters: {n: "{{ steps.b.results | map(attribute='v') | sum }}", mode: "{{ parameters.c }}"}
result:
  total: "{{ steps.c.result.v }}"
  failed: "{{ failures | map(attribute='summary') | list }}"
failure:
  total: -1
  failed: "{{ failures | map(attribute='summary') | list }}"
"""


def chain(timeout: float = 30, retries: int = 1) -> str:
    return CHAIN.replace("{timeout}", str(timeout)).replace("{retries}", str(retries))


def wait_for(check: Callable[[], T], what: str, timeout_s: float = 30.0) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def stack(broker: LocalBroker) -> Iterator[Stack]:
    served = [("inner", "wf"), ("outer", "wf"), ("chain", "wf")]
    with running(setup_stack(broker, served)) as s:
        yield s


def result_of(stack: Stack, request_id: str, timeout_s: float = 30) -> dict:
    results = stack.admin.wait_for_results(request_id, timeout_s=timeout_s, poll_s=5)
    assert len(results) == 1
    return results[0].data


def test_fan_out_of_8_over_three_levels(stack: Stack) -> None:
    stack.start_worker()
    stack.start_orchestrator(INNER, OUTER)
    parent = stack.submit("outer", "wf", {})
    data = result_of(stack, parent, timeout_s=60)
    # sum over i < 8, j < 8 of 100 i + j
    assert data == {"total": 8 * 100 * 28 + 8 * 28, "failed": []}
    tree = stack.admin.request_tree(parent)
    assert len(tree) == 1 + 8 + 64
    assert max(n.depth for n in tree) == 2
    assert {str(n.status) for n in tree} == {"resolved"}
    assert set(attempts(tree).values()) == {1}  # nothing posted twice
    # provenance: each inner result names the 8 leaf results it was made from
    inner = next(n for n in tree if n.depth == 1)
    assert len(stack.admin.get_result(inner.result_ids[0]).inputs) == 8


def test_a_failing_step_is_retried(stack: Stack) -> None:
    stack.start_worker()
    stack.start_orchestrator(chain(retries=1))
    parent = stack.submit("chain", "wf", {"a": "fail_first", "b": "ok", "c": "ok"})
    assert result_of(stack, parent) == {"total": 6, "failed": []}  # 1+2+3
    counts = attempts(stack.admin.request_tree(parent))
    assert counts[(parent, "a", "0", "1")] == 1 and counts[(parent, "a", "0", "2")] == 1
    assert len(counts) == 1 + 1 + 3 + 1 and set(counts.values()) == {1}


def test_a_stalled_step_is_timed_out_retracted_and_retried(stack: Stack) -> None:
    stack.start_worker()
    stack.start_orchestrator(chain(timeout=1, retries=1))
    parent = stack.submit("chain", "wf", {"a": "ok", "b": "ok", "c": "stall_first"})
    assert result_of(stack, parent) == {"total": 6, "failed": []}
    tree = stack.admin.request_tree(parent)
    first = next(
        n for n in tree if n.labels.get("workflow_step") == "c" and n.labels["attempt"] == "1"
    )
    assert str(first.status) == "retracted"
    last = stack.admin.request_history(first.id)[-1]
    assert last.to_status == "retracted" and "no result within 1 s (attempt 1 of 2)" in last.message


def test_retries_exhausted_give_a_partial_result(stack: Stack) -> None:
    stack.start_worker()
    stack.start_orchestrator(chain(retries=1))
    parent = stack.submit("chain", "wf", {"a": "ok", "b": "fail", "c": "ok"})
    data = result_of(stack, parent)
    # b[1] failed twice (continue): c sums b[0] and b[2] only
    assert data == {"total": 1 + 3, "failed": ["b[1]: came back with success: false"]}
    counts = attempts(stack.admin.request_tree(parent))
    assert counts[(parent, "b", "1", "2")] == 1 and (parent, "b", "1", "3") not in counts


def test_a_failed_step_fails_the_workflow_cleanly(stack: Stack) -> None:
    stack.start_worker()
    stack.start_orchestrator(chain(retries=1))
    parent = stack.submit("chain", "wf", {"a": "fail", "b": "ok", "c": "ok"})
    data = result_of(stack, parent)
    assert data == {
        "total": -1,
        "failed": [
            "a: came back with success: false",
            "b: skipped: it needs a, which failed",
            "c: skipped: it needs b, which failed",
        ],
    }
    assert str(stack.admin.get_request(parent).status) == "resolved"


def test_retracting_the_parent_stops_the_workflow(stack: Stack) -> None:
    stack.start_worker()
    orchestrator = stack.start_orchestrator(chain(timeout=60))
    parent = stack.submit("chain", "wf", {"a": "ok", "b": "ok", "c": "stall"})

    def c_running() -> bool:
        tree = stack.admin.request_tree(parent)
        return any(
            n.labels.get("workflow_step") == "c" and str(n.status) == "reserved" for n in tree
        )

    wait_for(c_running, "step c to be reserved")
    stack.admin.retract(parent, message="changed my mind")
    tree_after = wait_for(
        lambda: (
            (t := stack.admin.request_tree(parent))
            and all(str(n.status) in ("resolved", "retracted") for n in t)
            and t
        ),
        "the open sub-requests to be retracted",
    )
    assert str(tree_after[0].status) == "retracted"
    # the orchestrator's job ended: no workflow runs, no further sub-request was posted
    tenant = orchestrator.tenant
    assert tenant is not None
    wait_for(
        lambda: tenant._worker is not None and not tenant._worker._active_jobs(), "the run to stop"
    )
    time.sleep(1.0)
    assert len(stack.admin.request_tree(parent)) == len(tree_after)


def test_two_orchestrators_share_the_workflows_without_doing_a_step_twice(
    stack: Stack, broker: LocalBroker
) -> None:
    from finales.domain.principals import Role

    orch_tenant = next(t.id for t in stack.admin.list_tenants() if t.name == "orchestrator")
    second_key = broker.add_user("orch2", role=Role.TENANT, tenant_id=orch_tenant)
    stack.start_worker()
    stack.start_orchestrator(chain(), concurrency=4)
    stack.start_orchestrator(chain(), key=second_key, concurrency=4)
    parents = [stack.submit("chain", "wf", {"a": "ok", "b": "slow", "c": "ok"}) for _ in range(8)]
    for parent in parents:
        assert result_of(stack, parent, timeout_s=60) == {"total": 6, "failed": []}
    claimers = set()
    for parent in parents:
        tree = stack.admin.request_tree(parent)
        assert set(attempts(tree).values()) == {1} and len(tree) == 1 + 1 + 3 + 1
        claimers |= {
            e.actor for e in stack.admin.request_history(parent) if e.to_status == "reserved"
        }
    assert claimers == {"orch", "orch2"}  # both instances served parents
