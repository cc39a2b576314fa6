"""The orchestrator's decisions, as a pure function of what the broker holds.

``plan(...)`` takes the workflow, the parent's parameters, the sub-requests found in the
parent's tree (``Attempt``: step, index and attempt from their labels, status and times), the
data of their results, the submissions the broker refused (kept in memory: a refused
submission leaves nothing in the tree) and the time, and says what to do now: which
sub-requests to post, which to retract (timed out, superseded, or the workflow failed), when
to look again, or the final result. Nothing here does I/O, so that a restarted orchestrator,
or a second instance taking a parent over, reaches the same decisions from the same tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from finales.workflows.check import CompiledStep, CompiledWorkflow
from finales.workflows.expressions import ExpressionError, render
from finales.workflows.model import Policy

OPEN = frozenset({"pending", "reserved", "awaiting_approval"})
FAILED = frozenset({"retracted", "rejected"})
MAX_INPUTS = 100  # the broker's bound on a request's or result's inputs


@dataclass(frozen=True)
class Attempt:
    """One sub-request of the workflow, as the tree shows it."""

    request_id: str
    step: str
    index: int
    attempt: int
    status: str
    created_at: datetime
    updated_at: datetime
    reserved_by: str | None = None


@dataclass(frozen=True)
class Refusal:
    """A submission the broker refused (e.g. parameters failing the request schema)."""

    attempt: int
    reason: str
    at: datetime


@dataclass(frozen=True)
class Submission:
    step: str
    index: int
    attempt: int
    quantity: str
    methods: tuple[str, ...]
    parameters: dict[str, Any]
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class Failure:
    """A step (or one item of a fan-out) that failed for good, and why."""

    step: str
    index: int | None
    attempts: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        where = self.step if self.index is None else f"{self.step}[{self.index}]"
        return {
            "step": self.step,
            "index": self.index,
            "attempts": self.attempts,
            "reason": self.reason,
            "summary": f"{where}: {self.reason}",
        }


@dataclass(frozen=True)
class Outcome:
    kind: Literal["done", "failed"]
    data: dict[str, Any] | None  # None: the result template could not be rendered
    error: str | None
    inputs: tuple[str, ...]
    failures: tuple[Failure, ...]


@dataclass
class Plan:
    submit: list[Submission] = field(default_factory=list)
    retract: list[tuple[str, str]] = field(default_factory=list)
    open: list[Attempt] = field(default_factory=list)  # oldest first
    wake_at: datetime | None = None
    outcome: Outcome | None = None
    statuses: dict[str, str] = field(default_factory=dict)  # step -> its status

    def wake(self, at: datetime) -> None:
        if self.wake_at is None or at < self.wake_at:
            self.wake_at = at


StepStatus = Literal["waiting", "running", "done", "partial", "failed", "skipped"]


@dataclass
class _StepState:
    status: StepStatus
    fan_out: bool
    results: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    items: list[Any] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """What expressions see as ``steps.NAME``."""
        by_index = {i: (rid, data) for i, rid, data in self.results}
        reasons = {f.index: f.reason for f in self.failed}
        out: dict[str, Any] = {
            "status": self.status,
            "results": [data for _, _, data in self.results],
            "result_ids": [rid for _, rid, _ in self.results],
            "failed": [f.as_dict() for f in self.failed],
            "items": [
                {
                    "index": i,
                    "item": item,
                    "result": by_index.get(i, (None, None))[1],
                    "error": reasons.get(i),
                }
                for i, item in enumerate(self.items)
            ],
        }
        if not self.fan_out:
            out["result"] = self.results[0][2] if self.results else None
        return out


@dataclass(frozen=True)
class Snapshot:
    """What the broker holds about one workflow run, plus the refusals kept in memory."""

    parent_id: str
    parameters: Mapping[str, Any]
    attempts: Mapping[tuple[str, int], list[Attempt]]
    results: Mapping[str, tuple[str, dict[str, Any]]]  # request id -> (result id, data)
    refusals: Mapping[tuple[str, int], list[Refusal]]
    reasons: Mapping[str, str]  # request id -> why it was retracted (when known)
    now: datetime


def plan(compiled: CompiledWorkflow, snap: Snapshot) -> Plan:
    """What to do now for one workflow run (see the module docstring)."""
    out = Plan()
    states: dict[str, _StepState] = {}
    failures: list[Failure] = []
    fatal = False
    for name in compiled.order:
        state = _step(compiled, compiled.steps[name], snap, states, out)
        states[name] = state
        out.statuses[name] = state.status
        failures.extend(state.failed)
        policy = compiled.workflow.policy(name)
        if state.failed and policy.on_failure == "fail":
            fatal = True
    done = all(s.status in ("done", "partial", "failed", "skipped") for s in states.values())
    if fatal or done:
        out.submit.clear()
        for attempt in out.open:
            out.retract.append((attempt.request_id, "the workflow is over: not needed"))
        out.open.clear()
        out.outcome = _outcome(compiled, snap, states, failures, failed=fatal)
    return out


def _context(
    compiled: CompiledWorkflow, snap: Snapshot, states: Mapping[str, _StepState]
) -> dict[str, Any]:
    return {
        "workflow": compiled.name,
        "vars": compiled.workflow.vars,
        "parameters": dict(snap.parameters),
        "request_id": snap.parent_id,
        "steps": {n: s.view() for n, s in states.items()},
    }


def _step(
    compiled: CompiledWorkflow,
    step: CompiledStep,
    snap: Snapshot,
    states: Mapping[str, _StepState],
    out: Plan,
) -> _StepState:
    fan_out = step.for_each is not None
    needs = [states[n] for n in step.needs]
    if any(s.status in ("waiting", "running") for s in needs):
        return _StepState("waiting", fan_out)
    broken = [n for n in step.needs if states[n].status in ("failed", "skipped")]
    if broken:
        reason = f"skipped: it needs {', '.join(broken)}, which failed"
        return _StepState("skipped", fan_out, failed=[Failure(step.name, None, 0, reason)])
    context = _context(compiled, snap, {n: states[n] for n in step.upstream})
    items: list[Any] = [None]
    if step.for_each is not None:
        try:
            value = render(step.for_each, context, "for_each")
        except ExpressionError as exc:
            return _StepState("failed", fan_out, failed=[Failure(step.name, None, 0, str(exc))])
        if not isinstance(value, list):
            reason = f"for_each: gave a {type(value).__name__}, not a list"
            return _StepState("failed", fan_out, failed=[Failure(step.name, None, 0, reason)])
        items = value
    state = _StepState("running", fan_out, items=items if fan_out else [])
    inputs = tuple(rid for n in step.upstream for _, rid, _ in states[n].results)[:MAX_INPUTS]
    policy = compiled.workflow.policy(step.name)
    running = False
    for index, item in enumerate(items):
        item_context = {**context, "item": item, "index": index} if fan_out else context
        item_running = _item(compiled, step, policy, index, item_context, inputs, snap, state, out)
        running = running or item_running
    if running:
        state.status = "running"
    elif not state.failed:
        state.status = "done"
    else:
        state.status = "failed" if not state.results and items else "partial"
    return state


def _item(
    compiled: CompiledWorkflow,
    step: CompiledStep,
    policy: Policy,
    index: int,
    context: dict[str, Any],
    inputs: tuple[str, ...],
    snap: Snapshot,
    state: _StepState,
    out: Plan,
) -> bool:
    """Plan one (step, index); True while it is not finished."""
    name = step.name
    attempts = sorted(snap.attempts.get((name, index), []), key=lambda a: a.attempt)
    refusals = {r.attempt: r for r in snap.refusals.get((name, index), [])}
    latest = max([a.attempt for a in attempts] + list(refusals) + [0])
    for stale in attempts:
        if stale.attempt < latest and stale.status in OPEN:
            out.retract.append((stale.request_id, f"superseded by attempt {latest}"))
    current = next((a for a in attempts if a.attempt == latest), None)
    if latest == 0:
        return _submit(compiled, step, index, 1, context, inputs, state, out)
    failed_at: datetime
    if current is None:  # the latest attempt was refused by the broker
        reason, failed_at = refusals[latest].reason, refusals[latest].at
    elif current.status in OPEN:
        timeout_s = policy.timeout_s
        if timeout_s is None:
            out.open.append(current)
            return True
        deadline = current.created_at + timedelta(seconds=timeout_s)
        if snap.now < deadline:
            out.open.append(current)
            out.wake(deadline)
            return True
        reason = f"no result within {_duration(timeout_s)} (attempt {latest} of {policy.attempts})"
        out.retract.append((current.request_id, reason))
        failed_at = snap.now
    elif current.status == "resolved":
        found = snap.results.get(current.request_id)
        if found is None:
            reason, failed_at = "resolved, but its result was deleted", current.updated_at
        else:
            ok, reason = _succeeded(step, found[1], context)
            if ok:
                state.results.append((index, found[0], found[1]))
                return False
            failed_at = current.updated_at
    else:
        reason = snap.reasons.get(current.request_id) or current.status
        failed_at = current.updated_at
    if latest < policy.attempts:
        retry_at = failed_at + timedelta(seconds=policy.backoff.pause_s(latest))
        if snap.now >= retry_at:
            return _submit(compiled, step, index, latest + 1, context, inputs, state, out)
        out.wake(retry_at)
        return True
    state.failed.append(Failure(name, index if step.for_each is not None else None, latest, reason))
    return False


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def _succeeded(
    step: CompiledStep, data: dict[str, Any], context: dict[str, Any]
) -> tuple[bool, str]:
    if step.success is None:
        if data.get("success") is False:
            return False, "came back with success: false"
        return True, ""
    try:
        ok = render(step.success, {**context, "result": data}, "success")
    except ExpressionError as exc:
        return False, str(exc)
    return (True, "") if ok else (False, f"success test {step.success.source!r} is false")


def _submit(
    compiled: CompiledWorkflow,
    step: CompiledStep,
    index: int,
    attempt: int,
    context: dict[str, Any],
    inputs: tuple[str, ...],
    state: _StepState,
    out: Plan,
) -> bool:
    spec = compiled.workflow.steps[step.name]
    try:
        parameters = render(step.parameters, context, "parameters")
    except ExpressionError as exc:
        # The same inputs give the same error: no retry.
        index_ = index if step.for_each is not None else None
        state.failed.append(Failure(step.name, index_, attempt - 1, str(exc)))
        return False
    if not isinstance(parameters, dict):
        reason = f"parameters: gave a {type(parameters).__name__}, not an object"
        state.failed.append(Failure(step.name, index, attempt - 1, reason))
        return False
    out.submit.append(
        Submission(
            step=step.name,
            index=index,
            attempt=attempt,
            quantity=spec.quantity,
            methods=tuple(spec.methods),
            parameters=parameters,
            inputs=inputs,
        )
    )
    return True


def _outcome(
    compiled: CompiledWorkflow,
    snap: Snapshot,
    states: Mapping[str, _StepState],
    failures: list[Failure],
    *,
    failed: bool,
) -> Outcome:
    context = _context(compiled, snap, states)
    context["failures"] = [f.as_dict() for f in failures]
    context["partial"] = bool(failures)
    inputs = tuple(rid for s in states.values() for _, rid, _ in s.results)[:MAX_INPUTS]
    where = "failure" if failed else "result"
    tree = compiled.failure if failed else compiled.result
    try:
        data = render(tree, context, where)
    except ExpressionError as exc:
        return Outcome("failed" if failed else "done", None, str(exc), inputs, tuple(failures))
    if not isinstance(data, dict):
        error = f"{where}: gave a {type(data).__name__}, not an object"
        return Outcome("failed" if failed else "done", None, error, inputs, tuple(failures))
    return Outcome("failed" if failed else "done", data, None, inputs, tuple(failures))
