"""Capabilities: list, read, register (new version), activate, deactivate."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from finales import schemas
from finales.server import wire
from finales.server.deps import CreateCallDep, CurrentPrincipal, StateDep, answer
from finales.server.representation import JSONLD, JSONLD_RESPONSES, RepresentationDep, respond
from finales.services import capabilities as caps
from finales.services import semantics as semantic_svc

router = APIRouter(tags=["capabilities"])
MAX_VERSION = 2**31 - 1  # the column is a 32-bit integer on PostgreSQL: more was a 500


@router.get("/capabilities", response_model=list[schemas.Capability])
def list_capabilities(
    st: StateDep,
    _p: CurrentPrincipal,
    active: bool | None = None,
    quantity: str | None = None,
    method: str | None = None,
) -> JSONResponse:
    """All capabilities (latest version of each, with the list of versions)."""
    with st.tx.read() as conn:
        rows = caps.list_capabilities(conn, active=active, quantity=quantity, method=method)
    return JSONResponse([wire.capability(r) for r in rows])


@router.get(
    "/capabilities/{quantity}/{method}",
    response_model=schemas.Capability,
    responses=JSONLD_RESPONSES,
)
def get_capability(
    st: StateDep,
    _p: CurrentPrincipal,
    quantity: str,
    method: str,
    rep: RepresentationDep,
    version: int | None = Query(default=None, ge=1, le=MAX_VERSION),
) -> JSONResponse:
    """One capability; the latest version unless ?version= is given; JSON-LD (each field's
    concept and unit) with ?format=jsonld or Accept: application/ld+json."""
    with st.tx.read() as conn:
        if rep == JSONLD:
            return respond(semantic_svc.capability_document(conn, quantity, method, version), rep)
        return respond(wire.capability(caps.get_capability(conn, quantity, method, version)), rep)


@router.post("/capabilities", response_model=schemas.Capability, status_code=201)
def register_capability(
    st: StateDep, principal: CurrentPrincipal, call: CreateCallDep, body: schemas.CapabilityCreate
) -> JSONResponse:
    """Register a capability (admin); an existing pair gets a new version."""
    return answer(
        st.tx.create(
            call.creation(body),
            wire.capability,
            caps.register_capability,
            principal=principal,
            **body.model_dump(),
        )
    )


def _set_active(
    st: StateDep,
    principal: CurrentPrincipal,
    quantity: str,
    method: str,
    active: bool,
    body: schemas.CapabilityState | None,
) -> JSONResponse:
    with st.tx.write() as uow:
        out = caps.set_active(
            uow,
            principal=principal,
            quantity=quantity,
            method=method,
            active=active,
            message=body.message if body else "",
        )
    return JSONResponse(wire.capability(out))


@router.post("/capabilities/{quantity}/{method}/deactivate", response_model=schemas.Capability)
def deactivate(
    st: StateDep,
    principal: CurrentPrincipal,
    quantity: str,
    method: str,
    body: schemas.CapabilityState | None = None,
) -> JSONResponse:
    """Stop accepting requests for a capability (admin). Existing requests are kept."""
    return _set_active(st, principal, quantity, method, False, body)


@router.post("/capabilities/{quantity}/{method}/activate", response_model=schemas.Capability)
def activate(
    st: StateDep,
    principal: CurrentPrincipal,
    quantity: str,
    method: str,
    body: schemas.CapabilityState | None = None,
) -> JSONResponse:
    """Accept requests for a capability again (admin)."""
    return _set_active(st, principal, quantity, method, True, body)
