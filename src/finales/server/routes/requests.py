"""Requests: post, list, read, history, results, claim, heartbeat, release, retract, work.

Routes parse, call one service in a unit of work (``st.tx``), and shape the response; the
services decide who may, and report what changed (the unit of work wakes the waiters).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive

from finales import schemas
from finales.domain.leases import clamp_lease
from finales.domain.views import OfferView, ResultView, WorkItemView
from finales.domain.workflows import parse_label_filters
from finales.server import wire
from finales.server.deps import CreateCallDep, CurrentPrincipal, StateDep, answer
from finales.server.representation import JSONLD, JSONLD_RESPONSES, RepresentationDep, respond
from finales.services import provenance as provenance_svc
from finales.services import requests as svc
from finales.services import results as result_svc
from finales.services import semantics as semantic_svc
from finales.services import work as work_svc
from finales.services import workflows as workflow_svc

router = APIRouter(tags=["requests"])


class _ClientWatch:
    """While a long-poll waits, watch for its client to leave (the ASGI ``http.disconnect``).

    A poll whose client has gone ends at once instead of holding its waiter (and, at shutdown,
    a connection the server waits for) until its deadline. The watch is one task, started only
    when the poll is about to wait, so an answer given at once costs nothing more.
    """

    __slots__ = ("_receive", "_task")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task: asyncio.Task[None] | None = None

    async def _until_disconnected(self) -> None:
        # The body (none, for a GET) comes first; the next message is the disconnect. A
        # connection whose receive fails is as gone as one that says so.
        with contextlib.suppress(Exception):
            while (await self._receive())["type"] != "http.disconnect":
                pass

    def future(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.ensure_future(self._until_disconnected())
        return self._task

    @property
    def gone(self) -> bool:
        return self._task is not None and self._task.done()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()


def _poll_answer(st: StateDep, content: Any) -> JSONResponse:
    """A long-poll's answer. At shutdown (``st.stopping``) the waiting polls answer what they
    have - normally an empty list, as at their deadline: a restart is no error, and the
    clients poll again - and ask the client not to reuse the connection, which the server is
    about to close."""
    if st.stopping:
        return JSONResponse(content, headers={"Connection": "close"})
    return JSONResponse(content)


@router.post("/requests", response_model=schemas.RequestCreated, status_code=201)
def post_request(
    st: StateDep, principal: CurrentPrincipal, call: CreateCallDep, body: schemas.RequestCreate
) -> JSONResponse:
    """Post a request for a quantity by any of several methods (one parameter block each).

    The answer says how many current offers cover it (``covering_offers``; a replay answers
    the count stored with the request's creation).
    """
    return answer(
        st.tx.create(
            call.creation(body),
            wire.request_created,
            svc.submit_request_covered,
            principal=principal,
            validators=st.validators,
            **body.model_dump(),
        )
    )


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
    root: str | None = Query(
        default=None, description="only the requests below this one in its tree (not itself)"
    ),
    label: list[str] = Query(
        default_factory=list,
        description="key:value; only requests with that label (repeat: all of them)",
    ),
    since: schemas.IsoDatetime | None = Query(
        default=None, description="created at or after (ISO 8601 with a UTC offset)"
    ),
    cursor: str | None = None,
    limit: int = Query(default=100, ge=1, le=500),
) -> JSONResponse:
    """Requests, oldest first, filtered; follow ``next_cursor`` for more."""
    with st.tx.read() as conn:
        items, nxt = svc.list_requests(
            conn,
            status=status.value if status else None,
            quantity=quantity,
            method=method,
            tenant_id=tenant,
            reserved_by=reserved_by,
            parent_request_id=parent,
            root=root,
            labels=parse_label_filters(label, at="/label"),
            since=since,
            cursor=cursor,
            limit=limit,
        )
    return JSONResponse(wire.page([wire.request(v) for v in items], nxt))


@router.get("/requests/{request_id}/tree", response_model=schemas.Page[schemas.TreeNode])
def request_tree(
    st: StateDep,
    _p: CurrentPrincipal,
    request_id: str,
    cursor: str | None = None,
    limit: int = Query(default=100, ge=1, le=500),
) -> JSONResponse:
    """A request and every request below it, by depth then creation (parents first);
    follow ``next_cursor`` for more."""
    with st.tx.read() as conn:
        nodes, nxt = workflow_svc.tree_page(conn, request_id, cursor=cursor, limit=limit)
    return JSONResponse(wire.page(wire.tree_nodes(nodes), nxt))


@router.get(
    "/requests/{request_id}/provenance",
    response_model=dict[str, Any],
    responses={200: {"content": {"application/ld+json": {}}}},
)
def request_provenance(st: StateDep, _p: CurrentPrincipal, request_id: str) -> JSONResponse:
    """A request's tree as W3C PROV-O in JSON-LD: activities, results, tenants, inputs."""
    with st.tx.read() as conn:
        document = provenance_svc.provenance(conn, request_id)
    return JSONResponse(document, media_type="application/ld+json")


@router.get(
    "/requests/{request_id}", response_model=schemas.RequestDetail, responses=JSONLD_RESPONSES
)
def get_request(
    st: StateDep, _p: CurrentPrincipal, request_id: str, rep: RepresentationDep
) -> JSONResponse:
    """One request with its current status and its last release (why it is pending again);
    JSON-LD with ?format=jsonld or Accept: application/ld+json."""
    with st.tx.read() as conn:
        if rep == JSONLD:
            return respond(semantic_svc.request_document(conn, request_id), rep)
        return respond(wire.request_detail(svc.get_request_detail(conn, request_id)), rep)


@router.get("/requests/{request_id}/history", response_model=list[schemas.Event])
def request_history(st: StateDep, _p: CurrentPrincipal, request_id: str) -> JSONResponse:
    """Every status change of a request: who, when, from, to, why, lease."""
    with st.tx.read() as conn:
        return JSONResponse(wire.events(svc.history(conn, request_id)))


@router.get("/requests/{request_id}/results", response_model=list[schemas.Result])
async def request_results(
    st: StateDep,
    _p: CurrentPrincipal,
    request: Request,
    request_id: str,
    include_deleted: bool = False,
    wait: float = Query(
        default=0, ge=0, description="long-poll: seconds to wait while there is no result"
    ),
) -> JSONResponse:
    """Results posted for a request (deleted ones only when asked).

    With ``wait``, the call returns as soon as a result exists or the request is retracted,
    holding no thread or database connection meanwhile; at shutdown it returns what there is
    (no result: an empty list), and it ends when its client disconnects.
    """
    deadline = time.monotonic() + min(wait, st.settings.long_poll_max_s)

    def query() -> tuple[list[ResultView], bool]:
        with st.tx.read() as conn:
            return result_svc.wait_state(conn, request_id, include_deleted)

    client = _ClientWatch(request.receive)
    with st.notifier.request_waiter(request_id) as waiter:
        try:
            while True:
                waiter.clear()
                rows, retracted = await run_in_threadpool(query)
                remaining = deadline - time.monotonic()
                if rows or retracted or remaining <= 0 or st.stopping:
                    return _poll_answer(st, [wire.result(r) for r in rows])
                # Re-checks catch results posted through another server process.
                await waiter.wait(min(remaining, st.settings.long_poll_recheck_s), client.future())
                if client.gone:  # nobody reads the answer
                    return JSONResponse([])
        finally:
            client.close()


def _lease(st: StateDep, body: schemas.Claim | None) -> float:
    return clamp_lease(
        body.lease_seconds if body else None,
        default_s=st.settings.default_lease_s,
        max_s=st.settings.max_lease_s,
    )


@router.post("/requests/{request_id}/claim", response_model=schemas.Request)
def claim(
    st: StateDep, principal: CurrentPrincipal, request_id: str, body: schemas.Claim | None = None
) -> JSONResponse:
    """Reserve a pending request for your tenant with a lease; 409 if someone was faster."""
    lease_s = _lease(st, body)
    with st.tx.write() as uow:
        out = svc.claim(uow, principal=principal, request_id=request_id, lease_s=lease_s)
    return JSONResponse(wire.request(out))


@router.post("/requests/{request_id}/heartbeat", response_model=schemas.Request)
def heartbeat(
    st: StateDep, principal: CurrentPrincipal, request_id: str, body: schemas.Claim | None = None
) -> JSONResponse:
    """Extend your lease on a reserved request; 409 when it is already lost."""
    lease_s = _lease(st, body)
    with st.tx.write() as uow:
        out = svc.heartbeat(uow, principal=principal, request_id=request_id, lease_s=lease_s)
    return JSONResponse(wire.request(out))


@router.post("/requests/{request_id}/release", response_model=schemas.Request)
def release(
    st: StateDep,
    principal: CurrentPrincipal,
    request_id: str,
    body: schemas.StatusChange | None = None,
) -> JSONResponse:
    """Give a reservation back (reserver or admin); the message is kept as the reason."""
    message = body.message if body else ""
    with st.tx.write() as uow:
        out = svc.release(uow, principal=principal, request_id=request_id, message=message)
    return JSONResponse(wire.request(out))


@router.post("/requests/{request_id}/approve", response_model=schemas.Request)
def approve(
    st: StateDep,
    principal: CurrentPrincipal,
    request_id: str,
    body: schemas.StatusChange | None = None,
) -> JSONResponse:
    """Approve a request awaiting approval (admin or approver): it becomes pending, and the
    work polls it concerns wake."""
    message = body.message if body else ""
    with st.tx.write() as uow:
        out = svc.decide(
            uow, principal=principal, request_id=request_id, approve=True, message=message
        )
    return JSONResponse(wire.request(out))


@router.post("/requests/{request_id}/reject", response_model=schemas.Request)
def reject(
    st: StateDep, principal: CurrentPrincipal, request_id: str, body: schemas.Rejection
) -> JSONResponse:
    """Reject a request awaiting approval (admin or approver), saying why: it is closed."""
    with st.tx.write() as uow:
        out = svc.decide(
            uow, principal=principal, request_id=request_id, approve=False, message=body.message
        )
    return JSONResponse(wire.request(out))


@router.post("/requests/{request_id}/retract", response_model=schemas.Request)
def retract(
    st: StateDep,
    principal: CurrentPrincipal,
    request_id: str,
    body: schemas.StatusChange | None = None,
) -> JSONResponse:
    """Withdraw a pending or reserved request (requester or admin)."""
    message = body.message if body else ""
    with st.tx.write() as uow:
        out = svc.retract(uow, principal=principal, request_id=request_id, message=message)
    return JSONResponse(wire.request(out))


@router.get("/work", response_model=list[schemas.WorkItem], tags=["work"])
async def get_work(
    st: StateDep,
    principal: CurrentPrincipal,
    request: Request,
    quantity: str | None = None,
    method: str | None = None,
    limit: int = Query(default=10, ge=1, le=100),
    wait: float = Query(default=0, ge=0, description="long-poll: seconds to wait for work"),
) -> JSONResponse:
    """Pending requests your offers and limitations cover, oldest first (long-poll: ?wait=).

    While it waits, the call holds no worker thread and no database connection, and it does
    not re-query on a timer: it wakes when a request its offers cover becomes claimable (or
    when offers or capabilities change), so idle tenants cost nothing. At shutdown it answers
    what there is (an empty list); it ends when its client disconnects.
    """
    deadline = time.monotonic() + min(wait, st.settings.long_poll_max_s)

    def query() -> tuple[list[WorkItemView], list[OfferView] | None]:
        with st.tx.read() as conn:
            items = work_svc.work(
                conn,
                principal=principal,
                now=st.now(),
                quantity=quantity,
                method=method,
                limit=limit,
            )
            if items or wait <= 0:
                return items, None
            # About to wait: these offers decide which new requests wake this poll.
            return items, work_svc.handout_offers(
                conn, principal=principal, quantity=quantity, method=method
            )

    client = _ClientWatch(request.receive)
    with st.notifier.work_waiter() as waiter:
        try:
            while True:
                waiter.clear()
                items, offers = await run_in_threadpool(query)
                remaining = deadline - time.monotonic()
                if items or remaining <= 0 or st.stopping:
                    return _poll_answer(st, wire.work_items(items))
                st.notifier.set_offers(waiter, offers or [])
                # Woken by the changes units of work publish (here and, on PostgreSQL, in the
                # other processes) and by finales.server.wakeups for changes made elsewhere.
                await waiter.wait(remaining, client.future())
                if client.gone:  # nobody reads the answer
                    return JSONResponse([])
        finally:
            client.close()
