"""Tenants and their offers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from finales import schemas
from finales.domain.views import OfferView
from finales.server import wire
from finales.server.deps import CreateCallDep, CurrentPrincipal, StateDep, answer
from finales.server.representation import JSONLD, JSONLD_RESPONSES, RepresentationDep, respond
from finales.services import semantics as semantic_svc
from finales.services import tenants

router = APIRouter(tags=["tenants"])


@router.get("/tenants", response_model=list[schemas.Tenant])
def list_tenants(st: StateDep, _p: CurrentPrincipal) -> JSONResponse:
    """All tenants with their current offers."""
    with st.tx.read() as conn:
        return JSONResponse([wire.tenant(r) for r in tenants.list_tenants(conn)])


@router.post("/tenants", response_model=schemas.Tenant, status_code=201)
def add_tenant(
    st: StateDep, principal: CurrentPrincipal, call: CreateCallDep, body: schemas.TenantCreate
) -> JSONResponse:
    """Register a tenant (admin)."""
    return answer(
        st.tx.create(
            call.creation(body),
            wire.tenant,
            tenants.add_tenant,
            principal=principal,
            **body.model_dump(),
        )
    )


@router.get("/tenants/{tenant_id}", response_model=schemas.Tenant, responses=JSONLD_RESPONSES)
def get_tenant(
    st: StateDep, _p: CurrentPrincipal, tenant_id: str, rep: RepresentationDep
) -> JSONResponse:
    """One tenant with its current offers; JSON-LD with ?format=jsonld or Accept:
    application/ld+json (without its contact)."""
    with st.tx.read() as conn:
        if rep == JSONLD:
            return respond(semantic_svc.tenant_document(conn, tenant_id), rep)
        return respond(wire.tenant(tenants.get_tenant(conn, tenant_id)), rep)


@router.put("/tenants/{tenant_id}/offers", response_model=schemas.Tenant)
def set_offers(
    st: StateDep, principal: CurrentPrincipal, tenant_id: str, body: list[schemas.OfferIn]
) -> JSONResponse:
    """Replace the tenant's offers (that tenant or an admin); limitations are validated."""
    offers = [OfferView(o.quantity, o.method, o.limitations) for o in body]
    with st.tx.write() as uow:
        out = tenants.set_offers(uow, principal=principal, tenant_id=tenant_id, offers=offers)
    return JSONResponse(wire.tenant(out))
