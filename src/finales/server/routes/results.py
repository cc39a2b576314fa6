"""Results: post (reserver or unsolicited), list, read, amend, delete, history."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from finales import schemas
from finales.server import wire
from finales.server.deps import CreateCallDep, CurrentPrincipal, StateDep, answer
from finales.server.representation import JSONLD, JSONLD_RESPONSES, RepresentationDep, respond
from finales.services import results as svc
from finales.services import semantics as semantic_svc

router = APIRouter(tags=["results"])


@router.post("/results", response_model=schemas.Result, status_code=201)
def post_result(
    st: StateDep, principal: CurrentPrincipal, call: CreateCallDep, body: schemas.ResultCreate
) -> JSONResponse:
    """Post a result for a request you reserved (it becomes resolved), or an unsolicited one."""
    return answer(
        st.tx.create(
            call.creation(body),
            wire.result,
            svc.post_result,
            principal=principal,
            validators=st.validators,
            **body.model_dump(),
        )
    )


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
) -> JSONResponse:
    """Results, oldest first; deleted ones are hidden unless asked for."""
    with st.tx.read() as conn:
        items, nxt = svc.list_results(
            conn,
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
    return JSONResponse(wire.page([wire.result(v) for v in items], nxt))


@router.get("/results/{result_id}", response_model=schemas.Result, responses=JSONLD_RESPONSES)
def get_result(
    st: StateDep, _p: CurrentPrincipal, result_id: str, rep: RepresentationDep
) -> JSONResponse:
    """One result; JSON-LD with ?format=jsonld or Accept: application/ld+json."""
    with st.tx.read() as conn:
        if rep == JSONLD:
            return respond(semantic_svc.result_document(conn, result_id), rep)
        return respond(wire.result(svc.get_result(conn, result_id)), rep)


@router.post("/results/{result_id}/amend", response_model=schemas.Result, status_code=201)
def amend(
    st: StateDep,
    principal: CurrentPrincipal,
    call: CreateCallDep,
    result_id: str,
    body: schemas.ResultAmend,
) -> JSONResponse:
    """Supersede a result with corrected data (poster or admin); both stay, linked."""
    return answer(
        st.tx.create(
            call.creation(body),
            wire.result,
            svc.amend_result,
            principal=principal,
            result_id=result_id,
            validators=st.validators,
            **body.model_dump(),
        )
    )


@router.post("/results/{result_id}/delete", response_model=schemas.Result)
def delete(
    st: StateDep,
    principal: CurrentPrincipal,
    result_id: str,
    body: schemas.StatusChange | None = None,
) -> JSONResponse:
    """Soft-delete a result (poster or admin); the history keeps it."""
    message = body.message if body else ""
    with st.tx.write() as uow:
        out = svc.delete_result(uow, principal=principal, result_id=result_id, message=message)
    return JSONResponse(wire.result(out))


@router.get("/results/{result_id}/history", response_model=list[schemas.Event])
def history(st: StateDep, _p: CurrentPrincipal, result_id: str) -> JSONResponse:
    """Every status change of a result."""
    with st.tx.read() as conn:
        return JSONResponse(wire.events(svc.result_history(conn, result_id)))
