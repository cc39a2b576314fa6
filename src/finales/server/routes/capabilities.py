"""Capabilities: list, read, register (new version), activate, deactivate."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from finales import schemas
from finales.server.deps import CurrentPrincipal, StateDep, create, dump
from finales.services import capabilities as caps

router = APIRouter(tags=["capabilities"])
MAX_VERSION = 2**31 - 1  # the column is a 32-bit integer on PostgreSQL: more was a 500


@router.get("/capabilities", response_model=list[schemas.Capability])
def list_capabilities(
    st: StateDep,
    _p: CurrentPrincipal,
    active: bool | None = None,
    quantity: str | None = None,
    method: str | None = None,
):
    """All capabilities (latest version of each, with the list of versions)."""
    with st.db.read() as s:
        rows = caps.list_capabilities(s, active=active, quantity=quantity, method=method)
    return JSONResponse([dump(schemas.Capability, r) for r in rows])


@router.get("/capabilities/{quantity}/{method}", response_model=schemas.Capability)
def get_capability(
    st: StateDep,
    _p: CurrentPrincipal,
    quantity: str,
    method: str,
    version: int | None = Query(default=None, ge=1, le=MAX_VERSION),
):
    """One capability; the latest version unless ?version= is given."""
    with st.db.read() as s:
        return JSONResponse(
            dump(schemas.Capability, caps.get_capability(s, quantity, method, version))
        )


@router.post("/capabilities", response_model=schemas.Capability, status_code=201)
def register_capability(
    request: Request, st: StateDep, principal: CurrentPrincipal, body: schemas.CapabilityCreate
):
    """Register a capability (admin); an existing pair gets a new version."""

    def op(s):  # type: ignore[no-untyped-def]
        return dump(
            schemas.Capability,
            caps.register_capability(s, principal=principal, now=st.now(), **body.model_dump()),
        )

    return create(request, st, principal, body, op)


def _set_active(
    st: StateDep,
    principal: CurrentPrincipal,
    quantity: str,
    method: str,
    active: bool,
    body: schemas.CapabilityState | None,
):
    with st.db.write() as s:
        out = caps.set_active(
            s,
            principal=principal,
            quantity=quantity,
            method=method,
            active=active,
            now=st.now(),
            message=body.message if body else "",
        )
    st.notifier.notify()
    return JSONResponse(dump(schemas.Capability, out))


@router.post("/capabilities/{quantity}/{method}/deactivate", response_model=schemas.Capability)
def deactivate(
    st: StateDep,
    principal: CurrentPrincipal,
    quantity: str,
    method: str,
    body: schemas.CapabilityState | None = None,
):
    """Stop accepting requests for a capability (admin). Existing requests are kept."""
    return _set_active(st, principal, quantity, method, False, body)


@router.post("/capabilities/{quantity}/{method}/activate", response_model=schemas.Capability)
def activate(
    st: StateDep,
    principal: CurrentPrincipal,
    quantity: str,
    method: str,
    body: schemas.CapabilityState | None = None,
):
    """Accept requests for a capability again (admin)."""
    return _set_active(st, principal, quantity, method, True, body)
