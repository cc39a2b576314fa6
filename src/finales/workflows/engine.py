"""The orchestrator: a tenant that serves a workflow's capability by posting sub-requests.

It is a ``finales.tenant.Tenant`` like any other: the runtime publishes the offer, claims a
parent request, keeps its lease alive (the lease keeper) while the handler runs, and posts
the handler's data as the parent's result, or releases the parent when the handler gives it
back. The handler (``WorkflowRun``) keeps no state of its own worth keeping: each round it
reads the parent's tree from the broker, lets ``plan`` decide, and acts:

* sub-requests carry ``parent_request_id``, labels ``{workflow, workflow_step, index,
  attempt}`` and an ``Idempotency-Key`` derived from (parent, step, index, attempt), so an
  orchestrator restarted after ``kill -9``, or a second instance that took the parent over,
  finds them in the tree and never posts one twice (the key makes even a repeated post
  return the first request, for the same credentials);
* the parent's lease is renewed before each batch of posts: an instance whose parent was
  taken over stops before it posts (a duplicate found in the tree all the same is retracted);
* it waits with the broker's long-poll on the oldest open sub-request's results
  (``GET /requests/{id}/results?wait=``), waking for the next deadline or retry as well;
* the parent retracted (the lease keeper hears it as a lost lease, the long-poll wakes when
  the broker's cascade retracts the children) stops the run; open sub-requests the cascade
  left are retracted here too. Shutdown releases the parent; the next claim continues it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from finales import schemas
from finales.client import FinalesClient
from finales.errors import Conflict, FinalesError, Forbidden, InvalidPayload, NotFound
from finales.tenant import JobContext, RunStats, Tenant
from finales.tenant.backoff import TRANSIENT, Backoff
from finales.tenant.job import Release
from finales.tenant.lease import Cadence
from finales.workflows.check import CompiledWorkflow
from finales.workflows.plan import FAILED, OPEN, Attempt, Outcome, Refusal, Snapshot, plan

DEFAULT_CONCURRENCY = 64  # workflows at once (one thread each, mostly waiting)
DEFAULT_LEASE_S = 30.0
DEFAULT_POLL_S = 10.0  # the longest single wait: bounds how late a sibling's failure is seen
DEFAULT_GRACE_S = 5.0  # a workflow needs no grace: released, it continues where it was
LABELS = ("workflow", "workflow_step", "index", "attempt")
SUBMIT_REFUSED = (InvalidPayload, NotFound, Conflict, Forbidden)

log = logging.getLogger("finales.workflows")
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class WorkflowError(FinalesError):
    """The workflow cannot produce the parent's result (its result template failed)."""

    code = "workflow_error"


def idempotency_key(parent_id: str, step: str, index: int, attempt: int) -> str:
    """The key of one sub-request: the same on every instance and every restart."""
    return f"wf:{parent_id}:{step}:{index}:{attempt}"


def labels_of(workflow: str, step: str, index: int, attempt: int) -> dict[str, str]:
    return {
        "workflow": workflow,
        "workflow_step": step,
        "index": str(index),
        "attempt": str(attempt),
    }


def attempt_of(node: schemas.TreeNode) -> Attempt | None:
    """The workflow attempt a tree node stands for (None: not one of ours)."""
    labels = node.labels
    try:
        index, attempt = int(labels["index"]), int(labels["attempt"])
        step = labels["workflow_step"]
    except (KeyError, ValueError):
        return None
    return Attempt(
        request_id=node.id,
        step=step,
        index=index,
        attempt=attempt,
        status=str(node.status),
        created_at=node.created_at,
        updated_at=node.updated_at,
        reserved_by=node.reserved_by,
    )


class WorkflowRun:
    """One parent request being orchestrated (runs in the tenant runtime's job thread)."""

    def __init__(
        self,
        compiled: CompiledWorkflow,
        client: FinalesClient,
        request: schemas.WorkItem,
        ctx: JobContext,
        *,
        poll_s: float,
        clock: Clock,
    ) -> None:
        self.compiled = compiled
        self.client = client
        self.parent_id = request.id
        self.parameters = dict(ctx.parameters)
        self.ctx = ctx
        self.poll_s = poll_s
        self.clock = clock
        self.log = ctx.log
        self.results: dict[str, tuple[str, dict[str, Any]]] = {}
        self.refusals: dict[tuple[str, int], list[Refusal]] = {}
        self.reasons: dict[str, str] = {}
        self.rounds = 0

    # ------------------------------------------------------------------ the loop

    def run(self) -> dict[str, Any]:
        """Orchestrate until the parent can be answered: its result data."""
        backoff = Backoff()
        while True:
            self._check_stop()
            try:
                outcome = self._round()
            except TRANSIENT as exc:
                pause = backoff.next()
                self.log.warning(
                    "broker unreachable; retrying", extra={"kv": {"error": exc.detail}}
                )
                self.ctx.stopping.wait(pause)
                continue
            backoff.reset()
            if outcome is not None:
                return self._finish(outcome)

    def _round(self) -> Outcome | None:
        self.rounds += 1
        tree = self.client.request_tree(self.parent_id)
        root = tree[0]
        if root.status == "retracted":
            self._stop_retracted(tree)
        attempts = self._attempts(tree)
        self._fetch(tree, attempts)
        snap = Snapshot(
            parent_id=self.parent_id,
            parameters=self.parameters,
            attempts=attempts,
            results=self.results,
            refusals=self.refusals,
            reasons=self.reasons,
            now=self.clock(),
        )
        decided = plan(self.compiled, snap)
        for request_id, reason in decided.retract:
            self._retract(request_id, reason)
        if decided.outcome is not None:
            return decided.outcome
        opened = self._submit_all(decided.submit) if decided.submit else []
        self._wait([a.request_id for a in decided.open] + opened, decided.wake_at)
        return None

    def _attempts(self, tree: list[schemas.TreeNode]) -> dict[tuple[str, int], list[Attempt]]:
        """The workflow's sub-requests by (step, index); a duplicate of an attempt (two
        instances that both posted it) is retracted, the oldest kept."""
        found: dict[tuple[str, int], list[Attempt]] = {}
        seen: set[tuple[str, int, int]] = set()
        for node in tree[1:]:  # parents come before children, and by creation
            if node.parent_request_id != self.parent_id:
                continue
            attempt = attempt_of(node)
            if attempt is None:
                continue
            key = (attempt.step, attempt.index, attempt.attempt)
            if key in seen:
                if attempt.status in OPEN:
                    self._retract(attempt.request_id, "a duplicate of an earlier sub-request")
                continue
            seen.add(key)
            found.setdefault((attempt.step, attempt.index), []).append(attempt)
        return found

    def _fetch(
        self, tree: list[schemas.TreeNode], attempts: dict[tuple[str, int], list[Attempt]]
    ) -> None:
        """The data of resolved sub-requests not read yet, and why the latest attempts that
        were retracted by someone else were (for the failure report)."""
        nodes = {n.id: n for n in tree}
        for versions in attempts.values():
            latest = max(versions, key=lambda a: a.attempt)
            for a in versions:
                if a.status == "resolved" and a.request_id not in self.results:
                    ids = nodes[a.request_id].result_ids
                    if ids:
                        result = self.client.get_result(ids[-1])
                        self.results[a.request_id] = (result.id, result.data)
            if latest.status in FAILED and latest.request_id not in self.reasons:
                events = self.client.request_history(latest.request_id)
                last = events[-1] if events else None
                why = f"{latest.status}: {last.message}" if last and last.message else latest.status
                self.reasons[latest.request_id] = why

    # ------------------------------------------------------------------ acting

    def _submit_all(self, submissions: list[Any]) -> list[str]:
        # Renew the parent's lease first: if another instance took the parent over, stop
        # here instead of posting next to it.
        if not self.ctx.heartbeat():
            self._check_stop()
        opened = []
        for s in submissions:
            try:
                request = self.client.submit_request(
                    s.quantity,
                    list(s.methods),
                    dict.fromkeys(s.methods, s.parameters),
                    parent_request_id=self.parent_id,
                    labels=labels_of(self.compiled.name, s.step, s.index, s.attempt),
                    inputs=list(s.inputs) or None,
                    idempotency_key=idempotency_key(self.parent_id, s.step, s.index, s.attempt),
                )
            except SUBMIT_REFUSED as exc:
                reason = f"the broker refused the sub-request: {exc.detail}"
                refusal = Refusal(s.attempt, reason, self.clock())
                self.refusals.setdefault((s.step, s.index), []).append(refusal)
                self.log.warning(
                    "sub-request refused",
                    extra={"kv": {"step": s.step, "index": s.index, "error": exc.detail}},
                )
                continue
            opened.append(request.id)
            self.log.debug(
                "sub-request posted",
                extra={"kv": {"step": s.step, "index": s.index, "attempt": s.attempt}},
            )
        return opened

    def _retract(self, request_id: str, reason: str) -> None:
        self.reasons[request_id] = f"retracted: {reason}"
        try:
            self.client.retract(request_id, message=reason)
        except (Conflict, NotFound, Forbidden):
            return  # already closed (resolved meanwhile, or the cascade was first)
        self.log.info("sub-request retracted", extra={"kv": {"sub": request_id, "why": reason}})

    def _wait(self, open_ids: list[str], wake_at: datetime | None) -> None:
        """Until the oldest open sub-request has a result, the next deadline or retry is
        due, or ``poll_s`` passed (then the tree is read again)."""
        wait_s = self.poll_s
        if wake_at is not None:
            wait_s = min(wait_s, (wake_at - self.clock()).total_seconds())
        wait_s = max(0.05, wait_s)
        if not open_ids:
            self.ctx.stopping.wait(wait_s)
            return
        target = open_ids[0]
        results = self.client.request_results(target, wait=wait_s)
        if results:
            self.results[target] = (results[-1].id, results[-1].data)

    # ------------------------------------------------------------------ ending

    def _finish(self, outcome: Outcome) -> dict[str, Any]:
        fields = {
            "workflow": self.compiled.name,
            "failures": len(outcome.failures),
            "rounds": self.rounds,
        }
        if outcome.data is None:
            self.log.error(
                "workflow cannot build its result", extra={"kv": {**fields, "error": outcome.error}}
            )
            raise WorkflowError(f"workflow {self.compiled.name}: {outcome.error}")
        if outcome.kind == "failed":
            summary = "; ".join(f.as_dict()["summary"] for f in outcome.failures)
            self.log.warning("workflow failed", extra={"kv": {**fields, "why": summary}})
        else:
            self.log.info("workflow finished", extra={"kv": fields})
        self.ctx.result_inputs = list(outcome.inputs)
        return outcome.data

    def _check_stop(self) -> None:
        """Give the parent back when the runtime stops, the lease is lost or the parent was
        retracted (raises ``Release``; the runtime releases it if it is still ours)."""
        if not self.ctx.stopping.is_set():
            return
        if self.ctx.lease_lost:
            try:
                status = self.client.get_request(self.parent_id).status
            except FinalesError:
                status = None
            if status == "retracted":
                self._stop_retracted(self.client.request_tree(self.parent_id))
            raise Release(f"lease lost ({self.ctx.lease.reason}): another claim continues it")
        raise Release("the orchestrator is stopping; the workflow continues at the next claim")

    def _stop_retracted(self, tree: list[schemas.TreeNode]) -> None:
        for node in tree[1:]:
            if node.parent_request_id == self.parent_id and str(node.status) in OPEN:
                self._retract(node.id, "the parent request was retracted")
        self.log.info("parent retracted: workflow stopped", extra={"kv": {"rounds": self.rounds}})
        raise Release("the parent request was retracted")


class Orchestrator:
    """Serves one or more compiled workflows as one tenant (``finales workflow run``).

    The credentials are those of a tenant principal; the tenant's offers become the served
    capabilities (give the orchestrator a tenant of its own). ``concurrency`` workflows run
    at once, each holding its parent's lease (``lease_s``, renewed every third).
    """

    def __init__(
        self,
        workflows: list[CompiledWorkflow],
        *,
        client: FinalesClient | None = None,
        server: str | None = None,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = DEFAULT_POLL_S,
        grace_s: float = DEFAULT_GRACE_S,
        clock: Clock = utcnow,
    ) -> None:
        served = [(w.workflow.serves.quantity, w.workflow.serves.method) for w in workflows]
        if len(set(served)) != len(served):
            raise ValueError("two workflows serve the same capability")
        self.workflows = workflows
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.clock = clock
        self.client = client or FinalesClient(
            server or "",
            api_key=api_key,
            username=None if api_key else username,
            password=None if api_key else password,
            retry=Cadence(lease_s).client_retry(),
        )
        self._owns_client = client is None
        self.concurrency = concurrency
        self.grace_s = grace_s
        self.tenant: Tenant | None = None

    def build_tenant(self) -> Tenant:
        """The tenant serving the workflows, named after the credentials' tenant."""
        me = self.client.me()
        name = me.name  # the runtime checks it is a tenant principal, bound to a tenant
        if me.tenant_id:
            name = self.client.get_tenant(me.tenant_id).name
        tenant = Tenant(
            name,
            client=self.client,
            concurrency=self.concurrency,
            lease_s=self.lease_s,
            poll_s=max(self.poll_s, 1.0),  # the work long-poll, too
            grace_s=self.grace_s,
            retry_failed_after_s=max(10.0, self.lease_s),
        )
        for compiled in self.workflows:
            serves = compiled.workflow.serves
            tenant.serves(serves.quantity, serves.method, limitations=serves.limitations)(
                self._handler(compiled)
            )
        return tenant

    def _handler(self, compiled: CompiledWorkflow) -> Callable[..., dict[str, Any]]:
        def orchestrate(request: schemas.WorkItem, ctx: JobContext) -> dict[str, Any]:
            run = WorkflowRun(
                compiled, self.client, request, ctx, poll_s=self.poll_s, clock=self.clock
            )
            return run.run()

        orchestrate.__qualname__ = f"workflow {compiled.name}"
        return orchestrate

    def run(
        self,
        *,
        until_idle: bool = False,
        handle_signals: bool = True,
        configure_logging: bool = True,
    ) -> RunStats:
        """Serve until stopped (SIGINT/SIGTERM or ``stop()``); see ``Tenant.run``."""
        tenant = self.tenant = self.build_tenant()
        try:
            return tenant.run(
                until_idle=until_idle,
                handle_signals=handle_signals,
                configure_logging=configure_logging,
            )
        finally:
            if self._owns_client:
                self.client.close()

    def stop(self) -> None:
        """Stop (thread-safe): running workflows release their parents at once."""
        if self.tenant is not None:
            self.tenant.stop()
