"""Running one claimed request: the handler, the local schema check, then the result is
posted or the request released (the lease keeper renews the lease meanwhile)."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from finales import schemas
from finales.domain.validation import ValidatorCache
from finales.errors import Conflict, FinalesError, Forbidden, InvalidPayload, NotFound
from finales.tenant import logs
from finales.tenant.backoff import TRANSIENT, Backoff
from finales.tenant.job import Job, JobState, Release, ResultInvalid, RunStats
from finales.tenant.lease import LeaseKeeper

CAPABILITY_TTL_S = 300.0
MAX_REASON_CHARS = 2000


class ResultApi(Protocol):
    """The broker calls of running jobs (``FinalesClient`` has them)."""

    def get_capability(
        self, quantity: str, method: str, *, version: int | None = None
    ) -> schemas.Capability: ...

    def post_result(
        self,
        *,
        quantity: str,
        method: str,
        parameters: Mapping[str, Any],
        data: Mapping[str, Any],
        request_id: str | None = None,
        inputs: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> schemas.Result: ...


class ResultSchemas:
    """The served capabilities' result schemas: fetched once per CAPABILITY_TTL_S, each
    version's validator compiled once (capability versions are immutable)."""

    def __init__(self, client: ResultApi) -> None:
        self.client = client
        self._caps: dict[tuple[str, str], tuple[schemas.Capability, float]] = {}
        self._validators = ValidatorCache()

    def get(self, quantity: str, method: str, *, refresh: bool = False) -> schemas.Capability:
        cached = self._caps.get((quantity, method))
        if cached is not None and not refresh and time.monotonic() < cached[1]:
            return cached[0]
        try:
            cap = self.client.get_capability(quantity, method)
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


class Executor:
    """Runs the jobs of one tenant run (called from one thread per job)."""

    def __init__(
        self,
        client: ResultApi,
        keeper: LeaseKeeper,
        *,
        stats: RunStats,
        force: threading.Event,
        on_failure: Callable[[str], None],
    ) -> None:
        self.client = client
        self.keeper = keeper
        self.stats = stats
        self.force = force
        self.on_failure = on_failure
        self.schemas = ResultSchemas(client)

    def execute(self, job: Job) -> None:
        """Run the handler, then post its result or release the request."""
        lease_s = self.keeper.cadence.lease_s
        logs.event(job.ctx.log, logging.INFO, "job started", lease_s=lease_s)
        try:
            data = self._checked(job, _call_handler(job))
        except Release as exc:
            if job.transition(JobState.RUNNING, JobState.FINISHING):
                self._give_back(job, exc.reason)
            return
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

    def _checked(self, job: Job, data: Any) -> dict[str, Any]:
        """The handler's data, validated locally against the capability's result schema."""
        if not isinstance(data, Mapping):
            raise ResultInvalid(
                f"the {_describe(job)} returned {type(data).__name__}, not a dict of result data"
            )
        cap = self.schemas.get(job.service.quantity, job.service.method)
        try:
            self.schemas.validate(cap, dict(data))
        except InvalidPayload as exc:
            raise ResultInvalid(
                f"the result of the {_describe(job)} violates the result schema "
                f"(version {cap.version}), so it was not sent: {exc.detail}",
                errors=exc.errors,
            ) from None
        try:
            return dict(json.loads(json.dumps(dict(data), allow_nan=False)))
        except (TypeError, ValueError) as exc:
            raise ResultInvalid(
                f"the result of the {_describe(job)} is not JSON-serialisable: {exc}"
            ) from None

    def _fail(self, job: Job, exc: Exception) -> None:
        """The job produced no result: log why, skip the request for a while, release it."""
        if isinstance(exc, ResultInvalid):
            reason = exc.detail
        else:
            reason = f"the {_describe(job)} raised {type(exc).__name__}: {exc}"
        reason = reason[:MAX_REASON_CHARS]
        tb = not isinstance(exc, ResultInvalid)
        logs.event(job.ctx.log, logging.ERROR, "job failed", error=reason, exc_info=tb)
        self.stats.count("failed")
        self.on_failure(job.request_id)
        self.keeper.release(job.lease, reason)

    def _give_back(self, job: Job, reason: str) -> None:
        """The handler released the request on purpose: no error, but skip it for a while."""
        logs.event(job.ctx.log, logging.INFO, "handler released the request", reason=reason)
        self.on_failure(job.request_id)
        self.keeper.release(job.lease, reason[:MAX_REASON_CHARS])

    def _deliver(self, job: Job, data: dict[str, Any]) -> None:
        """Post the result, retrying while the broker is away (always with the job's one
        idempotency key, so a retry never posts twice)."""
        backoff = Backoff()
        reclaimed = False
        while True:
            try:
                result = self._post(job, data)
            except InvalidPayload as exc:
                # The broker validates against the version the request was made with; ours
                # may be older or newer. Fetch it again next time.
                self.schemas.forget(job.service.quantity, job.service.method)
                self._fail(job, ResultInvalid(f"the broker refused the result: {exc.detail}"))
                return
            except (Conflict, Forbidden, NotFound) as exc:
                if not reclaimed and self.keeper.reclaim(job.lease):
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

    def _post(self, job: Job, data: dict[str, Any]) -> schemas.Result:
        if job.ctx.result_inputs:  # (only then: a ResultApi need not know inputs)
            return self.client.post_result(
                request_id=job.request_id,
                quantity=job.service.quantity,
                method=job.service.method,
                parameters=job.ctx.parameters,
                data=data,
                inputs=list(job.ctx.result_inputs),
                idempotency_key=job.idempotency_key,
            )
        return self.client.post_result(
            request_id=job.request_id,
            quantity=job.service.quantity,
            method=job.service.method,
            parameters=job.ctx.parameters,
            data=data,
            idempotency_key=job.idempotency_key,  # the same on every retry
        )


def _call_handler(job: Job) -> Any:
    out = job.service.handler(job.item, job.ctx)
    if inspect.iscoroutine(out):
        return asyncio.run(out)  # an event loop per job thread
    if inspect.isawaitable(out):
        awaitable = out

        async def wait() -> Any:
            return await awaitable

        return asyncio.run(wait())
    return out


def _describe(job: Job) -> str:
    fn = job.service.handler
    name = getattr(fn, "__qualname__", repr(fn))
    return f"handler {name} for {job.service.quantity}/{job.service.method}"
