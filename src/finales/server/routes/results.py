"""Results: post (reserver or unsolicited), list, read, amend, delete, history."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from finales import schemas
from finales.server.deps import CurrentPrincipal, StateDep, create, dump
from finales.server.state import Change
from finales.services import results as svc
from finales.services.common import get_result as get_result_row

router = APIRouter(tags=["results"])


@router.post("/results", response_model=schemas.Result, status_code=201)
def post_result(
    request: Request, st: StateDep, principal: CurrentPrincipal, body: schemas.ResultCreate
):
    """Post a result for a request you reserved (it becomes resolved), or an unsolicited one."""

    def op(s):  # type: ignore[no-untyped-def]
        return dump(
            schemas.Result,
            svc.post_result(
                s, principal=principal, now=st.now(), validators=st.validators, **body.model_dump()
            ),
        )

    def after() -> None:  # wakes those waiting for this request's results (not idle tenants)
        if body.request_id is not None:
            st.notifier.notify(Change(request_id=body.request_id))

    return create(request, st, principal, body, op, after=after)


@router.get("/results", response_model=schemas.Page[schemas.Result])
def list_results(
    st: StateDep,
    _p: CurrentPrincipal,
    request_id: str | None = None,
    quantity: str | None = None,
    method: str | None = None,
    tenant: str | None = Query(default=None, description="posting tenant id"),
    status: schemas.ResultStatus | None = None,
    include_deleted: bool = False,
    since: schemas.IsoDatetime | None = Query(
        default=None, description="created at or after (ISO 8601 with a UTC offset)"
    ),
    cursor: str | None = None,
    limit: int = Query(default=100, ge=1, le=500),
):
    """Results, oldest first; deleted ones are hidden unless asked for."""
    with st.db.read() as s:
        items, nxt = svc.list_results(
            s,
            request_id=request_id,
            quantity=quantity,
            method=method,
            tenant_id=tenant,
            status=status.value if status else None,
            include_deleted=include_deleted,
            since=since,
            cursor=cursor,
            limit=limit,
        )
    return JSONResponse({"items": [dump(schemas.Result, i) for i in items], "next_cursor": nxt})


@router.get("/results/{result_id}", response_model=schemas.Result)
def get_result(st: StateDep, _p: CurrentPrincipal, result_id: str):
    """One result."""
    with st.db.read() as s:
        return JSONResponse(dump(schemas.Result, get_result_row(s, result_id)))


@router.post("/results/{result_id}/amend", response_model=schemas.Result, status_code=201)
def amend(
    request: Request,
    st: StateDep,
    principal: CurrentPrincipal,
    result_id: str,
    body: schemas.ResultAmend,
):
    """Supersede a result with corrected data (poster or admin); both stay, linked."""

    def op(s):  # type: ignore[no-untyped-def]
        return dump(
            schemas.Result,
            svc.amend_result(
                s,
                principal=principal,
                result_id=result_id,
                now=st.now(),
                validators=st.validators,
                **body.model_dump(),
            ),
        )

    return create(request, st, principal, body, op)


@router.post("/results/{result_id}/delete", response_model=schemas.Result)
def delete(
    st: StateDep,
    principal: CurrentPrincipal,
    result_id: str,
    body: schemas.StatusChange | None = None,
):
    """Soft-delete a result (poster or admin); the history keeps it."""
    with st.db.write() as s:
        out = svc.delete_result(
            s,
            principal=principal,
            result_id=result_id,
            now=st.now(),
            message=body.message if body else "",
        )
    return JSONResponse(dump(schemas.Result, out))


@router.get("/results/{result_id}/history", response_model=list[schemas.Event])
def history(st: StateDep, _p: CurrentPrincipal, result_id: str):
    """Every status change of a result."""
    with st.db.read() as s:
        return JSONResponse([dump(schemas.Event, e) for e in svc.result_history(s, result_id)])
