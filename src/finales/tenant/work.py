"""Running one claimed request: the handler, the local schema check, then the result is
posted or the request released; heartbeats keep the lease meanwhile."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from finales import schemas
from finales.client import FinalesClient
from finales.domain.validation import ValidatorCache
from finales.errors import Conflict, FinalesError, Forbidden, InvalidPayload, NotFound
from finales.tenant import logs
from finales.tenant.job import TRANSIENT, Backoff, Job, JobState, ResultInvalid, RunStats

CAPABILITY_TTL_S = 300.0
MAX_REASON_CHARS = 2000


class ResultSchemas:
    """The served capabilities' result schemas: fetched once per CAPABILITY_TTL_S, each
    version's validator compiled once (capability versions are immutable)."""

    def __init__(self, api: FinalesClient) -> None:
        self.api = api
        self._caps: dict[tuple[str, str], tuple[schemas.Capability, float]] = {}
        self._validators = ValidatorCache()

    def get(self, quantity: str, method: str, *, refresh: bool = False) -> schemas.Capability:
        cached = self._caps.get((quantity, method))
        if cached is not None and not refresh and time.monotonic() < cached[1]:
            return cached[0]
        try:
            cap = self.api.get_capability(quantity, method)
        except FinalesError:
            if cached is None or refresh:
                raise
            return cached[0]  # the broker is away: keep serving with the schema we have
        self._caps[(quantity, method)] = (cap, time.monotonic() + CAPABILITY_TTL_S)
        return cap

    def forget(self, quantity: str, method: str) -> None:
        """Fetch again on next use (the broker disagreed with our copy)."""
        cached = self._caps.get((quantity, method))
        if cached is not None:
            self._caps[(quantity, method)] = (cached[0], 0.0)

    def validate(self, cap: schemas.Capability, data: dict[str, Any]) -> None:
        """Raise InvalidPayload naming each offending field of ``data``."""
        self._validators.validate(
            f"{cap.id}:result", cap.result_schema, data, base="/data", what="result data"
        )


class Worker:
    """Executes jobs for one run of a tenant (called from one thread per job)."""

    def __init__(
        self,
        api: FinalesClient,
        *,
        lease_s: float,
        stats: RunStats,
        force: threading.Event,
        on_failure: Callable[[str], None],
    ) -> None:
        self.api = api
        self.lease_s = lease_s
        self.stats = stats
        self.force = force
        self.on_failure = on_failure
        self.schemas = ResultSchemas(api)

    def execute(self, job: Job) -> None:
        """Run the handler, then post its result or release the request."""
        logs.event(job.ctx.log, logging.INFO, "job started", lease_s=self.lease_s)
        try:
            data = self._checked(job, self._call_handler(job))
        except Exception as exc:
            if job.transition(JobState.RUNNING, JobState.FINISHING):
                self._fail(job, exc)
            else:
                logs.event(
                    job.ctx.log, logging.WARNING, "job ended after its release", error=repr(exc)
                )
            return
        if job.transition(JobState.RUNNING, JobState.FINISHING):
            self._deliver(job, data)
        else:
            logs.event(
                job.ctx.log,
                logging.WARNING,
                "job finished after the shutdown deadline; its result is dropped",
            )

    def _call_handler(self, job: Job) -> Any:
        out = job.service.handler(job.item, job.ctx)
        if inspect.iscoroutine(out):
            return asyncio.run(out)  # an event loop per job thread
        if inspect.isawaitable(out):

            async def wait() -> Any:
                return await out

            return asyncio.run(wait())
        return out

    @staticmethod
    def _describe(job: Job) -> str:
        fn = job.service.handler
        name = getattr(fn, "__qualname__", repr(fn))
        return f"handler {name} for {job.service.quantity}/{job.service.method}"

    def _checked(self, job: Job, data: Any) -> dict[str, Any]:
        """The handler's data, validated locally against the capability's result schema."""
        if not isinstance(data, Mapping):
            raise ResultInvalid(
                f"the {self._describe(job)} returned {type(data).__name__}, "
                "not a dict of result data"
            )
        cap = self.schemas.get(job.service.quantity, job.service.method)
        try:
            self.schemas.validate(cap, dict(data))
        except InvalidPayload as exc:
            raise ResultInvalid(
                f"the result of the {self._describe(job)} violates the result schema "
                f"(version {cap.version}), so it was not sent: {exc.detail}",
                errors=exc.errors,
            ) from None
        try:
            return dict(json.loads(json.dumps(dict(data), allow_nan=False)))
        except (TypeError, ValueError) as exc:
            raise ResultInvalid(
                f"the result of the {self._describe(job)} is not JSON-serialisable: {exc}"
            ) from None

    def _fail(self, job: Job, exc: Exception) -> None:
        if isinstance(exc, ResultInvalid):
            reason = exc.detail
        else:
            reason = f"the {self._describe(job)} raised {type(exc).__name__}: {exc}"
        reason = reason[:MAX_REASON_CHARS]
        tb = not isinstance(exc, ResultInvalid)
        logs.event(job.ctx.log, logging.ERROR, "job failed", error=reason, exc_info=tb)
        self.stats.count("failed")
        self.on_failure(job.request_id)
        self.give_back(job, reason)

    def _deliver(self, job: Job, data: dict[str, Any]) -> None:
        backoff = Backoff()
        reclaimed = False
        while True:
            try:
                result = self.api.post_result(
                    request_id=job.request_id,
                    quantity=job.service.quantity,
                    method=job.service.method,
                    parameters=job.ctx.parameters,
                    data=data,
                    idempotency_key=job.idempotency_key,  # the same on every retry
                )
            except InvalidPayload as exc:
                # The broker validates against the version the request was made with; ours
                # may be older or newer. Fetch it again next time.
                self.schemas.forget(job.service.quantity, job.service.method)
                self._fail(job, ResultInvalid(f"the broker refused the result: {exc.detail}"))
                return
            except (Conflict, Forbidden, NotFound) as exc:
                if not reclaimed and self._reclaim(job):
                    reclaimed = True
                    continue
                self.stats.count("leases_lost")
                logs.event(
                    job.ctx.log,
                    logging.WARNING,
                    "result dropped: the reservation was lost",
                    reason=exc.detail,
                )
                return
            except TRANSIENT as exc:
                if self.force.is_set():
                    logs.event(
                        job.ctx.log,
                        logging.WARNING,
                        "result dropped at forced stop",
                        error=exc.detail,
                    )
                    return
                pause = backoff.next()
                logs.event(
                    job.ctx.log,
                    logging.WARNING,
                    "cannot post the result; retrying",
                    error=exc.detail,
                    retry_in_s=round(pause, 2),
                )
                self.force.wait(pause)
                continue
            self.stats.count("handled")
            took_s = round(time.monotonic() - job.started, 3)
            logs.event(
                job.ctx.log, logging.INFO, "result posted", result_id=result.id, duration_s=took_s
            )
            return

    def _reclaim(self, job: Job) -> bool:
        """After a lost lease: if nobody took the request meanwhile, take it back so that
        the finished work is not wasted."""
        try:
            self.api.claim(job.request_id, lease_seconds=self.lease_s)
        except FinalesError:
            return False
        job.ctx._lease_lost = False
        logs.event(job.ctx.log, logging.INFO, "reclaimed the request after losing the lease")
        return True

    def give_back(self, job: Job, reason: str) -> None:
        """Release the request with ``reason`` (kept in its history), if it is still ours."""
        if job.ctx.lease_lost:
            logs.event(job.ctx.log, logging.INFO, "not released: the reservation is already lost")
            return
        try:
            self.api.release(job.request_id, message=reason)
        except (Conflict, Forbidden, NotFound) as exc:
            logs.event(job.ctx.log, logging.INFO, "not released: no longer ours", reason=exc.detail)
        except TRANSIENT as exc:
            logs.event(
                job.ctx.log,
                logging.WARNING,
                "could not release; the lease will expire instead",
                error=exc.detail,
            )
        else:
            logs.event(job.ctx.log, logging.INFO, "released", reason=reason)

    def beat(self, job: Job) -> bool:
        """Extend the job's lease; False (and ``ctx.stopping`` set) once it is lost."""
        if job.ctx.lease_lost:
            return False
        try:
            self.api.heartbeat(job.request_id, lease_seconds=self.lease_s)
        except (Conflict, Forbidden, NotFound) as exc:
            job.ctx._lease_lost = True
            job.ctx.stopping.set()
            logs.event(job.ctx.log, logging.WARNING, "lease lost", reason=exc.detail)
            return False
        except TRANSIENT as exc:
            job.next_beat = time.monotonic() + min(1.0, self.lease_s / 6)
            logs.event(job.ctx.log, logging.WARNING, "heartbeat failed; retrying", error=exc.detail)
            return True
        job.last_beat = time.monotonic()
        job.next_beat = job.last_beat + self.lease_s / 3
        return True
