"""One run of a tenant: set-up, the poller, one thread per job, the heartbeats, shutdown.

Threads: the caller of ``run`` only waits (so signals are handled promptly); a poller
long-polls ``GET /work`` and claims; each claimed request runs in its own thread; one
heartbeat thread extends every lease each ``lease_s / 3``.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from finales import schemas
from finales.client import FinalesClient
from finales.errors import Conflict, FinalesError, Forbidden, InvalidPayload, NotFound
from finales.tenant import logs
from finales.tenant.job import (
    TRANSIENT,
    Backoff,
    Job,
    JobContext,
    JobState,
    RunStats,
    TenantSetupError,
    request_logger,
)
from finales.tenant.work import Worker

if TYPE_CHECKING:
    from finales.tenant.runtime import Tenant

IDLE_BACKOFF_S = 1.0
FINISHING_WAIT_S = 30.0
PROGRESS_BEAT_MIN_S = 0.25  # ctx.progress() in a tight loop must not hammer the broker

log = logging.getLogger("finales.tenant")


class WorkLoop:
    """The state of one ``Tenant.run()``."""

    def __init__(self, tenant: Tenant, api: FinalesClient, *, until_idle: bool) -> None:
        self.tenant = tenant
        self.api = api
        self.until_idle = until_idle
        self.stats = RunStats()
        self.stopping = threading.Event()
        self.force = threading.Event()
        self.fatal: BaseException | None = None
        self._cond = threading.Condition(threading.RLock())
        self._active: dict[str, Job] = {}
        self._claim_guard = threading.Lock()
        self._skip: dict[str, float] = {}
        self.worker = Worker(
            api,
            lease_s=tenant.lease_s,
            stats=self.stats,
            force=self.force,
            on_failure=self._mark_skipped,
        )

    def stop(self, *, force: bool = False) -> None:
        self.stopping.set()
        if force:
            self.force.set()

    def run(self) -> None:
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
                self._setup()
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

    def _setup(self) -> None:
        t = self.tenant
        me = self.api.me()
        if me.role != "tenant" or not me.tenant_id:
            raise TenantSetupError(
                f"the credentials authenticate {me.name!r} (role {me.role}); a tenant runtime "
                "needs a principal of role tenant, bound to its tenant"
            )
        found = self.api.get_tenant(me.tenant_id)
        if t.name not in (found.name, found.id):
            raise TenantSetupError(
                f"the credentials of {me.name!r} act for tenant {found.name!r} "
                f"({found.id}), not {t.name!r}"
            )
        t.tenant_id = found.id
        for service in t.services:
            try:
                self.worker.schemas.get(service.quantity, service.method, refresh=True)
            except NotFound:
                raise TenantSetupError(
                    f"the broker has no capability {service.quantity}/{service.method}: an "
                    "admin registers it with 'finales capability add'"
                ) from None
        if t.publish_offers:
            self._publish(found.id)
        self._log(
            logging.INFO,
            "tenant started",
            tenant_id=found.id,
            serves=",".join(f"{s.quantity}/{s.method}" for s in t.services),
            concurrency=t.concurrency,
            lease_s=t.lease_s,
            mode="until_idle" if self.until_idle else "serve",
        )

    def _publish(self, tenant_id: str) -> None:
        services = self.tenant.services
        try:
            self.api.set_offers(tenant_id, [s.offer for s in services])
        except InvalidPayload as exc:
            which = ", ".join(f"/{i} = {s.quantity}/{s.method}" for i, s in enumerate(services))
            raise TenantSetupError(
                f"the broker refused the offers of {self.tenant.name}: {exc.detail} ({which})"
            ) from None

    # ------------------------------------------------------------------ serving

    def _serve(self) -> None:
        name = self.tenant.name
        poller = threading.Thread(target=self._poll_loop, name=f"{name}-poll", daemon=True)
        beats_done = threading.Event()
        beater = threading.Thread(
            target=self._beat_loop, args=(beats_done,), name=f"{name}-beat", daemon=True
        )
        poller.start()
        beater.start()
        while not self.stopping.wait(0.25):
            pass
        self._shutdown()
        beats_done.set()
        beater.join(timeout=5)
        if self.until_idle:
            poller.join(timeout=5)
        # (Otherwise the poller may sit in a long-poll; it is a daemon and claims nothing now.)
        self._log(logging.INFO, "tenant stopped", **self.stats.as_dict())

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
                if self.stopping.is_set():
                    return  # the client was closed under a long-poll: expected at shutdown
                self.fatal = exc
                detail = exc.detail if isinstance(exc, FinalesError) else repr(exc)
                tb = not isinstance(exc, FinalesError)
                self._log(
                    logging.ERROR, "stopping: the work loop failed", error=detail, exc_info=tb
                )
                self.stop()
                return
            if down_since is not None:
                after_s = round(time.monotonic() - down_since, 2)
                self._log(logging.INFO, "reconnected to the broker", after_s=after_s)
                down_since = None
            backoff.reset()

    def _poll_once(self) -> None:
        free = self._wait_for_free_slot()
        if free == 0:
            return
        skip = self._skipped()
        started = time.monotonic()
        wait_s = 0.0 if self.until_idle else self.tenant.poll_s
        items = self.api.work(limit=min(100, free + len(skip)), wait=wait_s)
        todo = [(i, m) for i in items if i.id not in skip and (m := self._pick(i)) is not None]
        if not todo:
            if not self.until_idle:
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
            return
        for item, method in todo[:free]:
            self._claim_and_start(item, method)

    def _pick(self, item: schemas.WorkItem) -> str | None:
        """The first of the request's methods (the requester's order) that we serve."""
        served = {(s.quantity, s.method) for s in self.tenant.services}
        for method in item.matching_methods:
            if (item.quantity, method) in served:
                return method
        return None

    def _claim_and_start(self, item: schemas.WorkItem, method: str) -> None:
        # Held across the claim so that shutdown never misses a job that is being started.
        with self._claim_guard:
            if self.stopping.is_set():
                return
            try:
                claimed = self.api.claim(item.id, lease_seconds=self.tenant.lease_s)
            except Conflict as exc:
                self.stats.count("lost_races")
                self._log(logging.DEBUG, "claim lost", request_id=item.id, reason=exc.detail)
                return
            except (Forbidden, NotFound) as exc:
                self._log(logging.INFO, "not claimable", request_id=item.id, reason=exc.detail)
                self._mark_skipped(item.id)
                return
            job = self._job(item.model_copy(update=claimed.model_dump()), method)
            with self._cond:
                self._active[item.id] = job
            thread = threading.Thread(
                target=self._job_thread, args=(job,), name=f"job-{item.id[:8]}", daemon=True
            )
            thread.start()

    def _job(self, item: schemas.WorkItem, method: str) -> Job:
        base = logging.getLogger(f"finales.tenant.{self.tenant.name}")
        ctx = JobContext(
            request=item,
            method=method,
            log=request_logger(base, tenant=self.tenant.name, request_id=item.id, method=method),
            beat=functools.partial(self._beat_by_id, item.id),
        )
        service = next(
            s for s in self.tenant.services if (s.quantity, s.method) == (item.quantity, method)
        )
        return Job(
            item=item,
            service=service,
            ctx=ctx,
            next_beat=time.monotonic() + self.tenant.lease_s / 3,
        )

    def _job_thread(self, job: Job) -> None:
        try:
            self.worker.execute(job)
        finally:
            with job.lock:
                if job.state is JobState.FINISHING:
                    job.state = JobState.DONE
            with self._cond:
                if self._active.get(job.request_id) is job:
                    del self._active[job.request_id]
                self._cond.notify_all()

    # ------------------------------------------------------------------ heartbeats

    def _beat_loop(self, done: threading.Event) -> None:
        tick = max(0.05, min(1.0, self.tenant.lease_s / 6))
        while not done.wait(tick):
            now = time.monotonic()
            for job in self._active_jobs():
                live = job.state in (JobState.RUNNING, JobState.FINISHING)
                if not live or now < job.next_beat:
                    continue
                try:
                    self.worker.beat(job)
                except Exception:  # one odd answer must not stop the heartbeats of all jobs
                    logs.event(job.ctx.log, logging.ERROR, "heartbeat error", exc_info=True)

    def _beat_by_id(self, request_id: str, force: bool) -> bool:
        with self._cond:
            job = self._active.get(request_id)
        if job is None:
            return False
        if not force and time.monotonic() - job.last_beat < PROGRESS_BEAT_MIN_S:
            return not job.ctx.lease_lost
        return self.worker.beat(job)

    # ------------------------------------------------------------------ shutdown

    def _shutdown(self) -> None:
        grace_s = self.tenant.grace_s
        with self._claim_guard:
            pass  # a claim in progress has now started its job (or was not made)
        jobs = self._active_jobs()
        if jobs:
            self._log(logging.INFO, "waiting for in-flight jobs", jobs=len(jobs), grace_s=grace_s)
        for job in jobs:
            job.ctx.stopping.set()
        self._wait_idle(grace_s, until=self.force)
        for job in self._active_jobs():
            if job.transition(JobState.RUNNING, JobState.ABANDONED):
                with self._cond:
                    self._active.pop(job.request_id, None)
                self.stats.count("released_at_stop")
                self.worker.give_back(
                    job,
                    f"tenant {self.tenant.name} stopped before the job finished "
                    f"(shutdown deadline {grace_s:g} s)",
                )
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
                free = self.tenant.concurrency - len(self._active)
                if free > 0:
                    return free
                self._cond.wait(0.5)
        return 0

    def _wait_for_change(self) -> None:
        with self._cond:
            before = len(self._active)
            while len(self._active) == before and not self.stopping.is_set():
                self._cond.wait(0.5)

    def _mark_skipped(self, request_id: str) -> None:
        with self._cond:
            self._skip[request_id] = time.monotonic() + self.tenant.retry_failed_after_s

    def _skipped(self) -> set[str]:
        """Requests not to take now: they failed here (for good in until_idle mode)."""
        now = time.monotonic()
        with self._cond:
            if not self.until_idle:
                for rid in [r for r, until in self._skip.items() if until <= now]:
                    del self._skip[rid]
            return set(self._skip)

    def _log(self, level: int, msg: str, *, exc_info: bool = False, **fields: Any) -> None:
        logs.event(log, level, msg, {"tenant": self.tenant.name}, exc_info=exc_info, **fields)
