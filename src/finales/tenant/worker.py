"""One run of a tenant: set-up, polling, claiming, concurrency and shutdown.

Threads: the caller of ``run`` only waits (so signals are handled promptly); a poller
long-polls ``GET /work`` and claims through the lease keeper; each claimed request runs in
its own thread; the lease keeper's thread renews the leases. The worker gets a frozen
``TenantSpec`` and never sees the ``Tenant``: what it learns (the tenant id, the counts)
it keeps in its own attributes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol

from finales import schemas
from finales.errors import Conflict, FinalesError, Forbidden, InvalidPayload, NotFound
from finales.tenant import logs
from finales.tenant.backoff import TRANSIENT, Backoff
from finales.tenant.execute import Executor, ResultApi
from finales.tenant.job import (
    Job,
    JobContext,
    JobState,
    RunStats,
    Service,
    TenantSetupError,
    TenantSpec,
    request_logger,
)
from finales.tenant.lease import LeaseApi, LeaseKeeper

IDLE_BACKOFF_S = 1.0
FINISHING_WAIT_S = 30.0
MAX_WORK_ITEMS = 100

log = logging.getLogger("finales.tenant")


class WorkerApi(LeaseApi, ResultApi, Protocol):
    """The broker calls of a tenant run (``FinalesClient`` has them)."""

    def me(self) -> schemas.User: ...

    def get_tenant(self, tenant_id: str) -> schemas.Tenant: ...

    def set_offers(
        self, tenant_id: str, offers: list[schemas.OfferIn | Mapping[str, Any]]
    ) -> schemas.Tenant: ...

    def work(
        self,
        *,
        quantity: str | None = None,
        method: str | None = None,
        limit: int = 10,
        wait: float = 0.0,
    ) -> list[schemas.WorkItem]: ...


class Worker:
    """One ``Tenant.run()``: ``run()`` blocks until stopped (or idle, with ``until_idle``).

    ``tenant_id`` is set once the set-up found the tenant; ``stats`` counts what was done.
    """

    def __init__(self, spec: TenantSpec, client: WorkerApi, *, until_idle: bool) -> None:
        self.spec = spec
        self.client = client
        self.until_idle = until_idle
        self.tenant_id: str | None = None
        self.stats = RunStats()
        self.stopping = threading.Event()
        self.force = threading.Event()
        self.fatal: BaseException | None = None
        self.keeper = LeaseKeeper(client, lease_s=spec.lease_s)
        self.executor = Executor(
            client, self.keeper, stats=self.stats, force=self.force, on_failure=self._skip_for_now
        )
        self._cond = threading.Condition(threading.RLock())
        self._active: dict[str, Job] = {}
        self._claim_guard = threading.Lock()
        self._skip: dict[str, float] = {}

    def stop(self, *, force: bool = False) -> None:
        """Stop taking work (thread- and signal-safe); ``force``: release jobs at once."""
        self.stopping.set()
        if force:
            self.force.set()

    def run(self) -> None:
        """Set up, serve until stopped, shut down; raises what made the run fail."""
        if self._connect():
            self._serve()
        if self.fatal is not None:
            raise self.fatal

    # ------------------------------------------------------------------ set-up

    def _connect(self) -> bool:
        """Set up against the broker, waiting for it as long as it is unreachable."""
        backoff = Backoff()
        while not self.stopping.is_set():
            try:
                self.tenant_id = self._setup()
                return True
            except TRANSIENT as exc:
                pause = backoff.next()
                self._log(
                    logging.WARNING,
                    "broker unreachable; retrying",
                    error=exc.detail,
                    retry_in_s=round(pause, 2),
                )
                self.stopping.wait(pause)
        return False

    def _setup(self) -> str:
        """Check the credentials act for this tenant, fetch the served capabilities and
        publish the offers; the tenant's id."""
        spec = self.spec
        me = self.client.me()
        if me.role != "tenant" or not me.tenant_id:
            raise TenantSetupError(
                f"the credentials authenticate {me.name!r} (role {me.role}); a tenant runtime "
                "needs a principal of role tenant, bound to its tenant"
            )
        found = self.client.get_tenant(me.tenant_id)
        if spec.name not in (found.name, found.id):
            raise TenantSetupError(
                f"the credentials of {me.name!r} act for tenant {found.name!r} "
                f"({found.id}), not {spec.name!r}"
            )
        for service in spec.services:
            self._fetch_capability(service)
        if spec.publish_offers:
            self._publish(found.id)
        self._log(
            logging.INFO,
            "tenant started",
            tenant_id=found.id,
            serves=",".join(f"{s.quantity}/{s.method}" for s in spec.services),
            concurrency=spec.concurrency,
            lease_s=spec.lease_s,
            mode="until_idle" if self.until_idle else "serve",
        )
        return found.id

    def _fetch_capability(self, service: Service) -> None:
        try:
            self.executor.schemas.get(service.quantity, service.method, refresh=True)
        except NotFound:
            raise TenantSetupError(
                f"the broker has no capability {service.quantity}/{service.method}: an "
                "admin registers it with 'finales capability add'"
            ) from None

    def _publish(self, tenant_id: str) -> None:
        services = self.spec.services
        try:
            self.client.set_offers(tenant_id, [s.offer for s in services])
        except InvalidPayload as exc:
            which = ", ".join(f"/{i} = {s.quantity}/{s.method}" for i, s in enumerate(services))
            raise TenantSetupError(
                f"the broker refused the offers of {self.spec.name}: {exc.detail} ({which})"
            ) from None

    # ------------------------------------------------------------------ serving

    def _serve(self) -> None:
        name = self.spec.name
        poller = threading.Thread(target=self._poll_loop, name=f"{name}-poll", daemon=True)
        poller.start()
        self.keeper.start(name=f"{name}-beat")
        while not self.stopping.wait(0.25):
            pass
        self._shutdown()
        self.keeper.stop()
        if self.until_idle:
            poller.join(timeout=5)
        # (Otherwise the poller may sit in a long-poll; it is a daemon and claims nothing now.)
        logs.event(log, logging.INFO, "tenant stopped", {"tenant": name, **self.stats.as_dict()})

    def _poll_loop(self) -> None:
        backoff = Backoff()
        down_since: float | None = None
        while not self.stopping.is_set():
            try:
                self._poll_once()
            except TRANSIENT as exc:
                if self.stopping.is_set():
                    return
                pause = backoff.next()
                down_since = down_since or time.monotonic()
                self._log(
                    logging.WARNING,
                    "broker unreachable; reconnecting",
                    error=exc.detail,
                    retry_in_s=round(pause, 2),
                )
                self.stopping.wait(pause)
                continue
            except Exception as exc:
                if not self.stopping.is_set():  # else: the client was closed under a long-poll
                    self._fail(exc)
                return
            if down_since is not None:
                after_s = round(time.monotonic() - down_since, 2)
                self._log(logging.INFO, "reconnected to the broker", after_s=after_s)
                down_since = None
            backoff.reset()

    def _fail(self, exc: Exception) -> None:
        """The broker refused the run (or a bug): stop, and let ``run`` raise it."""
        self.fatal = exc
        detail = exc.detail if isinstance(exc, FinalesError) else repr(exc)
        tb = not isinstance(exc, FinalesError)
        self._log(logging.ERROR, "stopping: the work loop failed", error=detail, exc_info=tb)
        self.stop()

    def _poll_once(self) -> None:
        free = self._wait_for_free_slot()
        if free == 0:
            return
        skip = self._skipped()
        started = time.monotonic()
        wait_s = 0.0 if self.until_idle else self.spec.poll_s
        items = self.client.work(limit=min(MAX_WORK_ITEMS, free + len(skip)), wait=wait_s)
        todo = [(i, s) for i in items if i.id not in skip and (s := self.spec.pick(i)) is not None]
        if todo:
            for item, service in todo[:free]:
                self._claim_and_start(item, service)
        elif not self.until_idle:
            # Nothing we can take, yet the broker answered at once (only requests that
            # failed here, or long-polling is off): pause rather than spin.
            elapsed = time.monotonic() - started
            if elapsed < IDLE_BACKOFF_S:
                self.stopping.wait(IDLE_BACKOFF_S - elapsed)
        elif self._active_jobs():
            self._wait_for_change()
        else:
            self._log(logging.INFO, "no more work: stopping (until_idle)")
            self.stop()

    def _claim_and_start(self, item: schemas.WorkItem, service: Service) -> None:
        # Held across the claim so that shutdown never misses a job that is being started.
        with self._claim_guard:
            if self.stopping.is_set():
                return
            job = self._claim(item, service)
            if job is None:
                return
            with self._cond:
                self._active[job.request_id] = job
            thread = threading.Thread(
                target=self._job_thread, args=(job,), name=f"job-{item.id[:8]}", daemon=True
            )
            thread.start()

    def _claim(self, item: schemas.WorkItem, service: Service) -> Job | None:
        """Claim ``item`` for ``service``: the job, or None if another tenant has it."""
        name, method = self.spec.name, service.method
        base = logging.getLogger(f"finales.tenant.{name}")
        job_log = request_logger(base, tenant=name, request_id=item.id, method=method)
        try:
            claimed, lease = self.keeper.claim(item.id, log=job_log)
        except Conflict as exc:
            self.stats.count("lost_races")
            self._log(logging.DEBUG, "claim lost", request_id=item.id, reason=exc.detail)
            return None
        except (Forbidden, NotFound) as exc:
            self._log(logging.INFO, "not claimable", request_id=item.id, reason=exc.detail)
            self._skip_for_now(item.id)
            return None
        claimed_item = item.model_copy(update=claimed.model_dump())
        ctx = JobContext(request=claimed_item, method=method, log=job_log, lease=lease)
        return Job(item=claimed_item, service=service, ctx=ctx)

    def _job_thread(self, job: Job) -> None:
        try:
            self.executor.execute(job)
        finally:
            with job.lock:
                if job.state is JobState.FINISHING:
                    job.state = JobState.DONE
            self.keeper.drop(job.lease)
            with self._cond:
                if self._active.get(job.request_id) is job:
                    del self._active[job.request_id]
                self._cond.notify_all()

    # ------------------------------------------------------------------ shutdown

    def _shutdown(self) -> None:
        grace_s = self.spec.grace_s
        with self._claim_guard:
            pass  # a claim in progress has now started its job (or was not made)
        jobs = self._active_jobs()
        if jobs:
            self._log(logging.INFO, "waiting for in-flight jobs", jobs=len(jobs), grace_s=grace_s)
        for job in jobs:
            job.ctx.stopping.set()
        self._wait_idle(grace_s, until=self.force)
        reason = (
            f"tenant {self.spec.name} stopped before the job finished "
            f"(shutdown deadline {grace_s:g} s)"
        )
        for job in self._active_jobs():
            if job.transition(JobState.RUNNING, JobState.ABANDONED):
                with self._cond:
                    self._active.pop(job.request_id, None)
                self.stats.count("released_at_stop")
                self.keeper.release(job.lease, reason)
        # Jobs posting their result or releasing get to finish that call.
        self._wait_idle(FINISHING_WAIT_S, until=None)

    def _wait_idle(self, timeout_s: float, *, until: threading.Event | None) -> None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._active and not (until is not None and until.is_set()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(min(0.2, remaining))

    # ------------------------------------------------------------------ helpers

    def _active_jobs(self) -> list[Job]:
        with self._cond:
            return list(self._active.values())

    def _wait_for_free_slot(self) -> int:
        with self._cond:
            while not self.stopping.is_set():
                free = self.spec.concurrency - len(self._active)
                if free > 0:
                    return free
                self._cond.wait(0.5)
        return 0

    def _wait_for_change(self) -> None:
        with self._cond:
            before = len(self._active)
            while len(self._active) == before and not self.stopping.is_set():
                self._cond.wait(0.5)

    def _skip_for_now(self, request_id: str) -> None:
        """Leave a request that failed here to others for ``retry_failed_after_s``."""
        with self._cond:
            self._skip[request_id] = time.monotonic() + self.spec.retry_failed_after_s

    def _skipped(self) -> set[str]:
        """Requests not to take now: they failed here (for good in until_idle mode)."""
        now = time.monotonic()
        with self._cond:
            if not self.until_idle:
                for rid in [r for r, until in self._skip.items() if until <= now]:
                    del self._skip[rid]
            return set(self._skip)

    def _log(self, level: int, msg: str, *, exc_info: bool = False, **fields: Any) -> None:
        logs.event(log, level, msg, {"tenant": self.spec.name}, exc_info=exc_info, **fields)
