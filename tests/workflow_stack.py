"""A small lab for workflow tests: a leaf capability served by an instant tenant whose
behaviour each request's parameters choose, an orchestrator tenant, and helpers to read a
workflow's tree. Shared by the integration tests, the acceptance tests and the benchmark."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from finales import schemas
from finales.client import FinalesClient
from finales.domain.principals import Role
from finales.tenant import Tenant
from finales.tenant.job import Release
from finales.testing import LocalBroker
from finales.workflows import CompiledWorkflow, Orchestrator, compile_workflow, parse, read_yaml

LEAF = ("leaf", "compute")
LEAF_REQUEST = {
    "type": "object",
    "properties": {
        "n": {"type": "number"},
        "mode": {"enum": ["ok", "fail", "fail_first", "stall", "stall_first", "slow"]},
    },
    "required": ["n"],
    "additionalProperties": False,
}
LEAF_RESULT = {
    "type": "object",
    "properties": {"v": {"type": "number"}, "success": {"type": "boolean"}},
    "required": ["v"],
    "additionalProperties": False,
}
OPEN_REQUEST = {"type": "object"}
TOTAL_RESULT = {
    "type": "object",
    "properties": {
        "total": {"type": "number"},
        "failed": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["total", "failed"],
    "additionalProperties": False,
}


def leaf(request: schemas.WorkItem, ctx: Any) -> dict[str, Any]:
    """The instant tenant: ``mode`` in the parameters says what to do; ``attempt`` (the
    label) lets a mode act on the first attempt only."""
    p = ctx.parameters
    first = request.labels.get("attempt", "1") == "1"
    mode = p.get("mode", "ok")
    if mode == "fail" or (mode == "fail_first" and first):
        return {"v": 0, "success": False}
    if mode == "stall" or (mode == "stall_first" and first):
        ctx.stopping.wait(60)  # until the request is retracted (the lease is lost) or stop
        raise Release("stalled on purpose")
    if mode == "slow":
        ctx.stopping.wait(0.3)
    return {"v": p["n"]}


# The instant tenant as a module object, for `finales tenant run tests.workflow_stack:worker`
# (tenants in their own processes; the credentials come from the command line).
worker = Tenant("worker", concurrency=32, lease_s=1.5, poll_s=1)
worker.serves(*LEAF)(leaf)


@dataclass
class Stack:
    broker: LocalBroker
    admin: FinalesClient
    orch_key: str
    worker_key: str
    threads: list[tuple[Any, threading.Thread]] = field(default_factory=list)

    def client(self, key: str) -> FinalesClient:
        return self.broker.client(api_key=key)

    def start_worker(self, *, concurrency: int = 32) -> Tenant:
        tenant = Tenant(
            "worker",
            client=self.client(self.worker_key),
            concurrency=concurrency,
            lease_s=1.5,
            poll_s=1,
        )
        tenant.serves(*LEAF)(leaf)
        self._start(tenant, tenant.run)
        return tenant

    def start_orchestrator(
        self, *texts: str, key: str | None = None, concurrency: int = 32, poll_s: float = 0.5
    ) -> Orchestrator:
        orchestrator = Orchestrator(
            [compiled(t) for t in texts],
            client=self.client(key or self.orch_key),
            concurrency=concurrency,
            lease_s=2.0,
            poll_s=poll_s,
            grace_s=1.0,
        )
        self._start(orchestrator, orchestrator.run)
        return orchestrator

    def _start(self, obj: Any, run: Any) -> None:
        thread = threading.Thread(
            target=run, kwargs={"handle_signals": False, "configure_logging": False}, daemon=True
        )
        thread.start()
        self.threads.append((obj, thread))

    def stop(self) -> None:
        for obj, _ in self.threads:
            obj.stop()
        for _, thread in self.threads:
            thread.join(timeout=15)
        # The runtimes' pollers and jobs end after run() returns (a long-poll in flight):
        # let them finish before the broker goes, so no call is cut off mid-transaction.
        for thread in threading.enumerate():
            if thread.name.startswith(("worker-", "orchestrator-", "job-")):
                thread.join(timeout=10)

    def submit(self, quantity: str, method: str, parameters: dict[str, Any]) -> str:
        return self.admin.submit_request(quantity, [method], {method: parameters}).id


def compiled(text: str) -> CompiledWorkflow:
    return compile_workflow(parse(read_yaml(text)))


def setup_stack(broker: LocalBroker, served: list[tuple[str, str]]) -> Stack:
    """Capabilities (the leaf and each served pair), a worker tenant and an orchestrator
    tenant (two principals for it, ``orch`` and ``orch2``), an admin requester."""
    broker.add_capability(*LEAF, LEAF_REQUEST, LEAF_RESULT)
    for quantity, method in served:
        broker.add_capability(quantity, method, OPEN_REQUEST, TOTAL_RESULT)
    worker = broker.add_tenant("worker")
    orch = broker.add_tenant("orchestrator")
    admin_key = broker.add_user("admin", role=Role.ADMIN)
    return Stack(
        broker=broker,
        admin=broker.client(api_key=admin_key),
        orch_key=broker.add_user("orch", role=Role.TENANT, tenant_id=orch),
        worker_key=broker.add_user("bot", role=Role.TENANT, tenant_id=worker),
    )


@contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    try:
        yield stack
    finally:
        stack.stop()


def attempts(tree: list[schemas.TreeNode]) -> Counter[tuple[str | None, str, str, str]]:
    """How many sub-requests carry each (parent, step, index, attempt): 1 each, or a
    duplicate was made."""
    return Counter(
        (
            n.parent_request_id,
            n.labels["workflow_step"],
            n.labels["index"],
            n.labels["attempt"],
        )
        for n in tree[1:]
        if "workflow_step" in n.labels
    )
