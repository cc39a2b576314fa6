"""Tenants and their offers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from finales import schemas
from finales.server.deps import CurrentPrincipal, StateDep, create, dump
from finales.services import tenants

router = APIRouter(tags=["tenants"])


@router.get("/tenants", response_model=list[schemas.Tenant])
def list_tenants(st: StateDep, _p: CurrentPrincipal):
    """All tenants with their current offers."""
    with st.db.read() as s:
        return JSONResponse([dump(schemas.Tenant, r) for r in tenants.list_tenants(s)])


@router.post("/tenants", response_model=schemas.Tenant, status_code=201)
def add_tenant(
    request: Request, st: StateDep, principal: CurrentPrincipal, body: schemas.TenantCreate
):
    """Register a tenant (admin)."""

    def op(s):  # type: ignore[no-untyped-def]
        return dump(
            schemas.Tenant,
            tenants.add_tenant(s, principal=principal, now=st.now(), **body.model_dump()),
        )

    return create(request, st, principal, body, op)


@router.get("/tenants/{tenant_id}", response_model=schemas.Tenant)
def get_tenant(st: StateDep, _p: CurrentPrincipal, tenant_id: str):
    """One tenant with its current offers."""
    with st.db.read() as s:
        return JSONResponse(dump(schemas.Tenant, tenants.get_tenant(s, tenant_id)))


@router.put("/tenants/{tenant_id}/offers", response_model=schemas.Tenant)
def set_offers(
    st: StateDep, principal: CurrentPrincipal, tenant_id: str, body: list[schemas.OfferIn]
):
    """Replace the tenant's offers (that tenant or an admin); limitations are validated."""
    with st.db.write() as s:
        out = tenants.set_offers(
            s,
            principal=principal,
            tenant_id=tenant_id,
            offers=[o.model_dump() for o in body],
            now=st.now(),
        )
    st.notifier.notify()
    return JSONResponse(dump(schemas.Tenant, out))
