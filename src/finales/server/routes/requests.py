"""Requests: post, list, read, history, results, claim, heartbeat, release, retract, work."""

from __future__ import annotations

import time

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from finales import schemas
from finales.domain.leases import clamp_lease
from finales.server.deps import CurrentPrincipal, StateDep, create, dump
from finales.server.state import Change
from finales.services import changes
from finales.services import requests as svc
from finales.services import results as result_svc
from finales.services.common import get_request as get_request_row

router = APIRouter(tags=["requests"])


def _page(items: list[dict], cursor: str | None) -> dict:
    return {"items": [dump(schemas.Request, i) for i in items], "next_cursor": cursor}


@router.post("/requests", response_model=schemas.Request, status_code=201)
def post_request(
    request: Request, st: StateDep, principal: CurrentPrincipal, body: schemas.RequestCreate
):
    """Post a request for a quantity by any of several methods (one parameter block each)."""
    created: list[dict] = []

    def op(s):  # type: ignore[no-untyped-def]
        out = dump(
            schemas.Request,
            svc.submit_request(
                s, principal=principal, now=st.now(), validators=st.validators, **body.model_dump()
            ),
        )
        created.append(out)
        return out

    def after() -> None:  # an idempotent replay created nothing: nobody to wake
        if created:
            st.notifier.notify(Change(work=created[0]))

    return create(request, st, principal, body, op, after=after)


@router.get("/requests", response_model=schemas.Page[schemas.Request])
def list_requests(
    st: StateDep,
    _p: CurrentPrincipal,
    status: schemas.RequestStatus | None = None,
    quantity: str | None = None,
    method: str | None = None,
    tenant: str | None = Query(default=None, description="requesting tenant id"),
    reserved_by: str | None = Query(default=None, description="reserving tenant id"),
    parent: str | None = Query(default=None, description="parent request id"),
    since: schemas.IsoDatetime | None = Query(
        default=None, description="created at or after (ISO 8601 with a UTC offset)"
    ),
    cursor: str | None = None,
    limit: int = Query(default=100, ge=1, le=500),
):
    """Requests, oldest first, filtered; follow ``next_cursor`` for more."""
    with st.db.read() as s:
        items, nxt = svc.list_requests(
            s,
            status=status.value if status else None,
            quantity=quantity,
            method=method,
            tenant_id=tenant,
            reserved_by=reserved_by,
            parent_request_id=parent,
            since=since,
            cursor=cursor,
            limit=limit,
        )
    return JSONResponse(_page(items, nxt))


@router.get("/requests/{request_id}", response_model=schemas.Request)
def get_request(st: StateDep, _p: CurrentPrincipal, request_id: str):
    """One request with its current status."""
    with st.db.read() as s:
        return JSONResponse(dump(schemas.Request, get_request_row(s, request_id)))


@router.get("/requests/{request_id}/history", response_model=list[schemas.Event])
def request_history(st: StateDep, _p: CurrentPrincipal, request_id: str):
    """Every status change of a request: who, when, from, to, why, lease."""
    with st.db.read() as s:
        return JSONResponse([dump(schemas.Event, e) for e in svc.history(s, request_id)])


@router.get("/requests/{request_id}/results", response_model=list[schemas.Result])
async def request_results(
    st: StateDep,
    _p: CurrentPrincipal,
    request_id: str,
    include_deleted: bool = False,
    wait: float = Query(
        default=0, ge=0, description="long-poll: seconds to wait while there is no result"
    ),
):
    """Results posted for a request (deleted ones only when asked).

    With ``wait``, the call returns as soon as a result exists or the request is retracted,
    holding no thread or database connection meanwhile.
    """
    deadline = time.monotonic() + min(wait, st.settings.long_poll_max_s)

    def query() -> tuple[list[dict], str]:
        with st.db.read() as s:
            status = get_request_row(s, request_id)["status"]
            return result_svc.results_of_request(s, request_id, include_deleted), status

    with st.notifier.request_waiter(request_id) as waiter:
        while True:
            waiter.clear()
            rows, status = await run_in_threadpool(query)
            remaining = deadline - time.monotonic()
            if rows or status == "retracted" or remaining <= 0 or st.stopping:
                return JSONResponse([dump(schemas.Result, r) for r in rows])
            # Re-checks catch results posted through another server process.
            await waiter.wait(min(remaining, st.settings.long_poll_recheck_s))


def _lease(st: StateDep, body: schemas.Claim | None) -> float:
    return clamp_lease(
        body.lease_seconds if body else None,
        default_s=st.settings.default_lease_s,
        max_s=st.settings.max_lease_s,
    )


@router.post("/requests/{request_id}/claim", response_model=schemas.Request)
def claim(
    st: StateDep, principal: CurrentPrincipal, request_id: str, body: schemas.Claim | None = None
):
    """Reserve a pending request for your tenant with a lease; 409 if someone was faster."""
    lease_s = _lease(st, body)
    with st.db.write() as s:
        out = svc.claim(
            s, principal=principal, request_id=request_id, lease_s=lease_s, now=st.now()
        )
    return JSONResponse(dump(schemas.Request, out))


@router.post("/requests/{request_id}/heartbeat", response_model=schemas.Request)
def heartbeat(
    st: StateDep, principal: CurrentPrincipal, request_id: str, body: schemas.Claim | None = None
):
    """Extend your lease on a reserved request; 409 when it is already lost."""
    lease_s = _lease(st, body)
    with st.db.write() as s:
        out = svc.heartbeat(
            s, principal=principal, request_id=request_id, lease_s=lease_s, now=st.now()
        )
    return JSONResponse(dump(schemas.Request, out))


@router.post("/requests/{request_id}/release", response_model=schemas.Request)
def release(
    st: StateDep,
    principal: CurrentPrincipal,
    request_id: str,
    body: schemas.StatusChange | None = None,
):
    """Give a reservation back (reserver or admin); the message is kept as the reason."""
    with st.db.write() as s:
        out = svc.release(
            s,
            principal=principal,
            request_id=request_id,
            now=st.now(),
            message=body.message if body else "",
        )
    st.notifier.notify(Change(work=out))  # claimable again
    return JSONResponse(dump(schemas.Request, out))


@router.post("/requests/{request_id}/retract", response_model=schemas.Request)
def retract(
    st: StateDep,
    principal: CurrentPrincipal,
    request_id: str,
    body: schemas.StatusChange | None = None,
):
    """Withdraw a pending or reserved request (requester or admin)."""
    with st.db.write() as s:
        out = svc.retract(
            s,
            principal=principal,
            request_id=request_id,
            now=st.now(),
            message=body.message if body else "",
        )
    st.notifier.notify(Change(request_id=request_id))  # wakes those waiting for its results
    return JSONResponse(dump(schemas.Request, out))


@router.get("/work", response_model=list[schemas.WorkItem], tags=["work"])
async def get_work(
    st: StateDep,
    principal: CurrentPrincipal,
    quantity: str | None = None,
    method: str | None = None,
    limit: int = Query(default=10, ge=1, le=100),
    wait: float = Query(default=0, ge=0, description="long-poll: seconds to wait for work"),
):
    """Pending requests your offers and limitations cover, oldest first (long-poll: ?wait=).

    While it waits, the call holds no worker thread and no database connection, and it does
    not re-query on a timer: it wakes when a request its offers cover becomes claimable (or
    when offers or capabilities change), so idle tenants cost nothing.
    """
    deadline = time.monotonic() + min(wait, st.settings.long_poll_max_s)

    def query() -> tuple[list[dict], list[dict] | None]:
        with st.db.read() as s:
            items = svc.work(
                s, principal=principal, now=st.now(), quantity=quantity, method=method, limit=limit
            )
            if items or wait <= 0:
                return items, None
            # About to wait: these offers decide which new requests wake this poll.
            return items, changes.handout_offers(
                s, principal=principal, quantity=quantity, method=method
            )

    with st.notifier.work_waiter() as waiter:
        while True:
            waiter.clear()
            items, offers = await run_in_threadpool(query)
            remaining = deadline - time.monotonic()
            if items or remaining <= 0 or st.stopping:
                return JSONResponse([dump(schemas.WorkItem, i) for i in items])
            st.notifier.set_offers(waiter, offers or [])
            # Woken by this process's notifications, by finales.server.wakeups for changes
            # made elsewhere (another server process, the CLI), and on PostgreSQL by the other
            # processes' notifications.
            await waiter.wait(remaining)
