"""The tenant runtime without sockets: the lease keeper (cadence, lost leases, re-claim,
release), the job context's view of its lease, and a worker run against a recording broker.

``Broker`` below is a fake of the few broker calls the runtime makes: it records each call
and raises the errors a test queues for it; everything else (the keeper, the context, the
worker, the executor, the schema check) is the real code.
"""

from __future__ import annotations

import ast
import logging
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from finales import schemas
from finales.errors import Conflict, LeaseExpired, Unavailable
from finales.tenant import JobContext, Lease
from finales.tenant.job import Service, TenantSpec, request_logger
from finales.tenant.lease import PROGRESS_BEAT_MIN_S, Cadence, LeaseKeeper
from finales.tenant.worker import Worker

NOW = datetime(2026, 1, 1, tzinfo=UTC)
RESULT_SCHEMA = {
    "type": "object",
    "properties": {"conductivity": {"type": "number"}},
    "required": ["conductivity"],
    "additionalProperties": False,
}


def _request(request_id: str, *, status: str = "reserved") -> dict[str, Any]:
    return {
        "id": request_id,
        "quantity": "conductivity",
        "methods": ["two_electrode"],
        "parameters": {"two_electrode": {"temperature": 300.0}},
        "parent_request_id": None,
        "requester": "admin",
        "requester_tenant_id": None,
        "status": status,
        "reserved_by": "t1" if status == "reserved" else None,
        "lease_expires_at": None,
        "created_at": NOW,
        "updated_at": NOW,
    }


class Broker:
    """Records the runtime's calls. ``fail[name]`` is a queue for that call: an error is
    raised, None lets the call through. A claim takes the request out of ``pending`` and a
    release puts it back, as on the broker."""

    def __init__(self, pending: tuple[str, ...] = ()) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail: dict[str, list[Exception | None]] = {}
        self.pending = list(pending)
        self.lock = threading.Lock()

    def _call(self, name: str, *args: Any) -> None:
        with self.lock:
            self.calls.append((name, *args))
            queued = self.fail.get(name)
            error = queued.pop(0) if queued else None
        if error is not None:
            raise error

    def named(self, name: str) -> list[tuple[Any, ...]]:
        with self.lock:
            return [c for c in self.calls if c[0] == name]

    # -- the lease calls
    def claim(self, request_id: str, *, lease_seconds: float | None = None) -> schemas.Request:
        self._call("claim", request_id, lease_seconds)
        with self.lock:
            if request_id in self.pending:
                self.pending.remove(request_id)
        return schemas.Request.model_validate(_request(request_id))

    def heartbeat(self, request_id: str, *, lease_seconds: float | None = None) -> schemas.Request:
        self._call("heartbeat", request_id, lease_seconds)
        return schemas.Request.model_validate(_request(request_id))

    def release(self, request_id: str, *, message: str = "") -> schemas.Request:
        self._call("release", request_id, message)
        with self.lock:
            self.pending.append(request_id)
        return schemas.Request.model_validate(_request(request_id, status="pending"))

    # -- set-up, hand-out and results (for the worker)
    def me(self) -> schemas.User:
        self._call("me")
        user = {"id": "u1", "name": "bot", "role": "tenant", "tenant_id": "t1", "created_at": NOW}
        return schemas.User.model_validate(user)

    def get_tenant(self, tenant_id: str) -> schemas.Tenant:
        self._call("get_tenant", tenant_id)
        tenant = {"id": tenant_id, "name": "robot", "description": "", "contact": ""}
        return schemas.Tenant.model_validate(tenant | {"offers": [], "created_at": NOW})

    def set_offers(
        self, tenant_id: str, offers: list[schemas.OfferIn | Mapping[str, Any]]
    ) -> schemas.Tenant:
        self._call("set_offers", tenant_id, offers)
        return self.get_tenant(tenant_id)

    def get_capability(
        self, quantity: str, method: str, *, version: int | None = None
    ) -> schemas.Capability:
        self._call("get_capability", quantity, method, version)
        cap = {"id": "c1", "quantity": quantity, "method": method, "version": 1, "versions": [1]}
        cap |= {"active": True, "request_schema": {}, "result_schema": RESULT_SCHEMA}
        return schemas.Capability.model_validate(cap | {"description": "", "created_at": NOW})

    def work(
        self,
        *,
        quantity: str | None = None,
        method: str | None = None,
        limit: int = 10,
        wait: float = 0.0,
    ) -> list[schemas.WorkItem]:
        self._call("work", quantity, method, limit, wait)
        with self.lock:
            ids = self.pending[:limit]
        served = {"matching_methods": ["two_electrode"]}
        return [
            schemas.WorkItem.model_validate(_request(i, status="pending") | served) for i in ids
        ]

    def post_result(
        self,
        *,
        quantity: str,
        method: str,
        parameters: Mapping[str, Any],
        data: Mapping[str, Any],
        request_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> schemas.Result:
        self._call("post_result", request_id, dict(data), idempotency_key)
        result: dict[str, Any] = {"id": "res1", "request_id": request_id}
        result |= {"quantity": quantity, "method": method}
        result |= {"parameters": dict(parameters), "data": dict(data), "tenant_id": "t1"}
        result |= {"capability_id": "c1", "status": "original", "supersedes": None}
        return schemas.Result.model_validate(result | {"superseded_by": None, "created_at": NOW})


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


LOG = logging.getLogger("tests.tenant")


def _keeper(lease_s: float = 30.0) -> tuple[LeaseKeeper, Broker, Clock]:
    broker, clock = Broker(), Clock()
    return LeaseKeeper(broker, lease_s=lease_s, clock=clock), broker, clock


def _context(keeper: LeaseKeeper, request_id: str = "r1") -> JobContext:
    log = request_logger(LOG, tenant="robot", request_id=request_id, method="two_electrode")
    request, lease = keeper.claim(request_id, log=log)
    item = schemas.WorkItem.model_validate(
        request.model_dump() | {"matching_methods": ["two_electrode"]}
    )
    return JobContext(request=item, method="two_electrode", log=log, lease=lease)


# ------------------------------------------------------------------------------ cadence


def test_the_cadence_is_a_third_of_the_lease_with_short_retries() -> None:
    assert Cadence(60).beat_every_s == 20
    assert Cadence(60).retry_s == 1.0 and Cadence(0.6).retry_s == pytest.approx(0.1)
    assert Cadence(60).tick_s == 1.0 and Cadence(0.1).tick_s == 0.05
    for lease_s in (0.6, 3.0, 60.0, 600.0):
        retry = Cadence(lease_s).client_retry()
        # A heartbeat retried through a restart must land before the lease runs out.
        assert retry.max_backoff_s < max(lease_s / 3, 0.5) + 1e-9
        assert retry.total_s >= lease_s


def test_a_claimed_lease_is_renewed_every_third_of_the_lease() -> None:
    keeper, broker, clock = _keeper(lease_s=30)
    _, lease = keeper.claim("r1", log=LOG)
    assert broker.named("claim") == [("claim", "r1", 30)]
    clock.now += 9.9
    keeper.beat_due()
    assert broker.named("heartbeat") == []
    clock.now += 0.1
    keeper.beat_due()
    keeper.beat_due()  # renewed: not due again before another 10 s
    assert broker.named("heartbeat") == [("heartbeat", "r1", 30)]
    clock.now += 10
    keeper.beat_due()
    assert len(broker.named("heartbeat")) == 2
    assert keeper.held() == [lease] and not lease.lost


def test_a_heartbeat_the_broker_did_not_answer_is_retried_soon() -> None:
    keeper, broker, clock = _keeper(lease_s=30)
    _, lease = keeper.claim("r1", log=LOG)
    broker.fail["heartbeat"] = [Unavailable("database busy")]
    clock.now += 10
    keeper.beat_due()
    assert not lease.lost
    clock.now += 0.9
    keeper.beat_due()
    assert len(broker.named("heartbeat")) == 1
    clock.now += 0.1  # retry_s = min(1, 30 / 6)
    keeper.beat_due()
    assert len(broker.named("heartbeat")) == 2 and not lease.lost


# ------------------------------------------------------------------------------ lost leases


def test_a_lost_lease_tells_the_context_and_is_no_longer_renewed() -> None:
    keeper, broker, clock = _keeper()
    ctx = _context(keeper)
    seen: list[Lease] = []
    ctx.lease.on_lost(seen.append)
    broker.fail["heartbeat"] = [LeaseExpired("the lease expired at 12:00")]
    clock.now += 10
    keeper.beat_due()
    assert ctx.stopping.is_set() and ctx.lease_lost and ctx.lease.lost
    assert ctx.lease.reason == "the lease expired at 12:00"
    assert seen == [ctx.lease]
    clock.now += 100
    keeper.beat_due()
    assert ctx.heartbeat() is False and ctx.progress("still here") is False
    assert len(broker.named("heartbeat")) == 1  # no call once the broker said it is gone
    seen_late: list[Lease] = []
    ctx.lease.on_lost(seen_late.append)  # registered after the loss: runs at once
    assert seen_late == [ctx.lease] and seen == [ctx.lease]


def test_a_failing_lost_callback_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    keeper, broker, clock = _keeper()
    ctx = _context(keeper)

    def broken(_lease: Lease) -> None:
        raise RuntimeError("callback bug")

    ctx.lease.on_lost(broken)
    after: list[str] = []
    ctx.lease.on_lost(lambda lease: after.append(lease.request_id))
    broker.fail["heartbeat"] = [Conflict("retracted")]
    clock.now += 10
    with caplog.at_level(logging.ERROR):
        keeper.beat_due()
    assert after == ["r1"] and ctx.stopping.is_set()
    assert "lease-lost callback failed" in caplog.messages


def test_a_lost_lease_is_reclaimed_when_nobody_took_it() -> None:
    keeper, broker, clock = _keeper()
    ctx = _context(keeper)
    broker.fail["heartbeat"] = [LeaseExpired("expired")]
    clock.now += 10
    keeper.beat_due()
    assert ctx.lease_lost
    assert keeper.reclaim(ctx.lease) is True
    assert not ctx.lease_lost and ctx.lease.reason is None
    assert [c[1] for c in broker.named("claim")] == ["r1", "r1"]
    clock.now += 10
    keeper.beat_due()  # renewed again on the cadence
    assert len(broker.named("heartbeat")) == 2 and ctx.heartbeat() is True


def test_a_lease_someone_else_took_is_not_reclaimed() -> None:
    keeper, broker, clock = _keeper()
    ctx = _context(keeper)
    broker.fail["heartbeat"] = [LeaseExpired("expired")]
    clock.now += 10
    keeper.beat_due()
    broker.fail["claim"] = [Conflict("reserved by another tenant")]
    assert keeper.reclaim(ctx.lease) is False
    assert ctx.lease_lost


# ------------------------------------------------------------------------------ renewing by hand


def test_progress_renews_at_most_a_few_times_a_second_and_heartbeat_always() -> None:
    keeper, broker, clock = _keeper()
    ctx = _context(keeper)
    assert ctx.progress("step", n=1) is True  # the claim was a beat a moment ago
    assert broker.named("heartbeat") == []
    clock.now += PROGRESS_BEAT_MIN_S
    assert ctx.progress("step", n=2) is True
    clock.now += PROGRESS_BEAT_MIN_S / 2
    assert ctx.progress("step", n=3) is True
    assert len(broker.named("heartbeat")) == 1
    assert ctx.heartbeat() is True
    assert len(broker.named("heartbeat")) == 2


# ------------------------------------------------------------------------------ release


def test_release_gives_a_held_lease_back_and_stops_renewing_it() -> None:
    keeper, broker, clock = _keeper()
    ctx = _context(keeper)
    keeper.release(ctx.lease, "the instrument jammed")
    assert broker.named("release") == [("release", "r1", "the instrument jammed")]
    assert keeper.held() == []
    clock.now += 100
    keeper.beat_due()
    assert broker.named("heartbeat") == [] and ctx.heartbeat() is False


def test_a_lost_lease_is_not_released() -> None:
    keeper, broker, clock = _keeper()
    ctx = _context(keeper)
    broker.fail["heartbeat"] = [LeaseExpired("expired")]
    clock.now += 10
    keeper.beat_due()
    keeper.release(ctx.lease, "shutdown")
    assert broker.named("release") == [] and keeper.held() == []


def test_the_keeper_thread_renews_on_its_own() -> None:
    broker = Broker()
    keeper = LeaseKeeper(broker, lease_s=0.3)  # beats every 0.1 s, looks every 0.05 s
    keeper.claim("r1", log=LOG)
    keeper.start(name="test-beat")
    try:
        deadline = time.monotonic() + 5
        while len(broker.named("heartbeat")) < 2:
            assert time.monotonic() < deadline, "no heartbeats from the keeper's thread"
            time.sleep(0.02)
    finally:
        keeper.stop()
    assert {c[1:] for c in broker.named("heartbeat")} == {("r1", 0.3)}


# ------------------------------------------------------------------------------ the worker


def _spec(handler: Any, **kw: Any) -> TenantSpec:
    service = Service("conductivity", "two_electrode", {}, handler)
    options: dict[str, Any] = {"concurrency": 1, "lease_s": 30.0, "poll_s": 1.0, "grace_s": 5.0}
    options |= {"retry_failed_after_s": 60.0, "publish_offers": True} | kw
    return TenantSpec(name="robot", services=(service,), **options)


def _measure(request: Any, ctx: JobContext) -> dict[str, Any]:
    return {"conductivity": ctx.parameters["temperature"] / 1000}


def test_a_worker_run_sets_up_serves_and_reports_the_tenant_id() -> None:
    broker = Broker(pending=("r1", "r2"))
    worker = Worker(_spec(_measure), broker, until_idle=True)
    worker.run()
    assert worker.tenant_id == "t1" and worker.stats.handled == 2
    posted = broker.named("post_result")
    assert [(c[1], c[2]) for c in posted] == [(rid, {"conductivity": 0.3}) for rid in ("r1", "r2")]
    assert [c[1] for c in broker.named("claim")] == ["r1", "r2"]
    assert broker.named("set_offers")[0][2] == [
        {"quantity": "conductivity", "method": "two_electrode", "limitations": {}}
    ]


def test_result_retries_reuse_one_idempotency_key() -> None:
    broker = Broker(pending=("r1",))
    broker.fail["post_result"] = [Unavailable("database busy")]
    worker = Worker(_spec(_measure), broker, until_idle=True)
    worker.run()
    keys = [c[3] for c in broker.named("post_result")]
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0]
    assert worker.stats.handled == 1


def test_a_result_after_a_lost_lease_is_posted_after_a_reclaim() -> None:
    broker = Broker(pending=("r1",))
    broker.fail["post_result"] = [LeaseExpired("the lease expired")]
    worker = Worker(_spec(_measure), broker, until_idle=True)
    worker.run()
    assert [c[1] for c in broker.named("claim")] == ["r1", "r1"]
    assert len(broker.named("post_result")) == 2
    assert worker.stats.handled == 1 and worker.stats.leases_lost == 0


def test_a_result_whose_request_went_to_another_tenant_is_dropped() -> None:
    broker = Broker(pending=("r1",))
    broker.fail["post_result"] = [LeaseExpired("the lease expired")]
    broker.fail["claim"] = [None, Conflict("reserved by another tenant")]
    worker = Worker(_spec(_measure), broker, until_idle=True)
    worker.run()
    assert len(broker.named("post_result")) == 1
    assert worker.stats.leases_lost == 1 and worker.stats.handled == 0


def test_a_failed_request_is_released_with_the_reason_and_not_taken_again() -> None:
    def jammed(request: Any, ctx: JobContext) -> dict[str, Any]:
        raise RuntimeError("instrument jammed")

    broker = Broker(pending=("r1",))
    worker = Worker(_spec(jammed), broker, until_idle=True)
    worker.run()
    assert worker.stats.failed == 1 and worker.stats.handled == 0
    ((_, rid, reason),) = broker.named("release")
    assert rid == "r1" and "RuntimeError: instrument jammed" in reason
    assert len(broker.named("claim")) == 1 and broker.pending == ["r1"]


def test_an_invalid_result_is_not_sent() -> None:
    def bad(request: Any, ctx: JobContext) -> dict[str, Any]:
        return {"conductivity": "high"}

    broker = Broker(pending=("r1",))
    worker = Worker(_spec(bad), broker, until_idle=True)
    worker.run()
    assert broker.named("post_result") == [] and worker.stats.failed == 1
    ((_, _, reason),) = broker.named("release")
    assert "/data/conductivity" in reason


def _serve(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return thread


def _join_abandoned_jobs() -> None:
    """Let released jobs' threads end (and log) within the test that started them."""
    for thread in threading.enumerate():
        if thread.name.startswith("job-"):
            thread.join(timeout=5)


def test_stop_gives_jobs_the_grace_period_then_releases_them() -> None:
    started, finish = threading.Event(), threading.Event()

    def slow(request: Any, ctx: JobContext) -> dict[str, Any]:
        started.set()
        finish.wait(10)  # ignores ctx.stopping, as a stubborn instrument would
        return {"conductivity": 1.0}

    broker = Broker(pending=("r1",))
    worker = Worker(_spec(slow, grace_s=0.3), broker, until_idle=False)
    thread = _serve(worker)
    assert started.wait(5)
    begun = time.monotonic()
    worker.stop()
    thread.join(timeout=10)
    finish.set()
    _join_abandoned_jobs()
    assert not thread.is_alive() and 0.3 <= time.monotonic() - begun < 5
    ((_, rid, reason),) = broker.named("release")
    assert rid == "r1" and "stopped before the job finished (shutdown deadline 0.3 s)" in reason
    assert worker.stats.released_at_stop == 1 and worker.stats.handled == 0


def test_a_forced_stop_releases_at_once() -> None:
    started, told_to_stop, finish = threading.Event(), threading.Event(), threading.Event()

    def slow(request: Any, ctx: JobContext) -> dict[str, Any]:
        started.set()
        if ctx.stopping.wait(10):
            told_to_stop.set()
        finish.wait(10)
        return {"conductivity": 1.0}

    broker = Broker(pending=("r1",))
    worker = Worker(_spec(slow, grace_s=30), broker, until_idle=False)
    thread = _serve(worker)
    assert started.wait(5)
    begun = time.monotonic()
    worker.stop()
    worker.stop(force=True)
    thread.join(timeout=10)
    assert not thread.is_alive() and time.monotonic() - begun < 5
    assert told_to_stop.wait(5) and worker.stats.released_at_stop == 1
    finish.set()
    _join_abandoned_jobs()


# ------------------------------------------------------------------------------ structure


def test_the_tenant_modules_import_one_way() -> None:
    """No import circle inside finales.tenant, not even one hidden under TYPE_CHECKING."""
    package = Path(__file__).resolve().parents[2] / "src" / "finales" / "tenant"
    graph: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        if path.stem == "__init__":
            continue
        edges = graph.setdefault(path.stem, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "finales.tenant":
                edges.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "finales.tenant."
            ):
                edges.add((node.module or "").rsplit(".", 1)[1])
    order: list[str] = []
    visiting: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in visiting, f"import circle: {' -> '.join((*path, module))}"
        if module in order:
            return
        visiting.add(module)
        for dep in sorted(graph.get(module, ())):
            visit(dep, (*path, module))
        visiting.discard(module)
        order.append(module)

    for module in sorted(graph):
        visit(module, ())
    assert order.index("lease") < order.index("job") < order.index("worker")
    assert order.index("worker") < order.index("runtime")
