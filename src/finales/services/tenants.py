"""Tenants and their offers (with limitations checked against the request schema)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from finales.db import tables as t
from finales.domain import policy
from finales.domain.changes import CatalogueChanged
from finales.domain.limitations import check_limitations
from finales.domain.names import check_name
from finales.domain.principals import Principal, Role
from finales.domain.validation import raise_if_invalid
from finales.domain.views import OfferView, TenantView
from finales.errors import Conflict, Forbidden, NotFound, invalid
from finales.services.capabilities import active_pairs, latest_version, list_capabilities
from finales.services.common import new_id
from finales.services.unit_of_work import UnitOfWork


def add_tenant(
    uow: UnitOfWork,
    *,
    principal: Principal,
    name: str,
    description: str = "",
    contact: str = "",
    tenant_id: str | None = None,
) -> TenantView:
    """Register a tenant (admin). ``tenant_id`` keeps an existing id (a tenant moving from a
    FINALES 2 server keeps the ``tenant_uuid`` its configuration already names)."""
    principal.require(Role.ADMIN)
    check_name(name, "/name")
    conn = uow.conn
    if tenant_id is not None:
        try:
            tenant_id = str(uuid.UUID(tenant_id))
        except ValueError:
            raise invalid("/id", "a tenant id must be a UUID") from None
        if _exists(conn, tenant_id):
            raise Conflict(f"a tenant with id {tenant_id} already exists")
    tid = tenant_id or new_id()
    try:
        with conn.begin_nested():
            conn.execute(
                t.tenants.insert().values(
                    id=tid,
                    name=name,
                    description=description,
                    contact=contact,
                    created_at=uow.now,
                    created_by=principal.name,
                )
            )
    except IntegrityError:
        raise Conflict(f"a tenant named {name!r} already exists") from None
    return get_tenant(conn, tid)


def _offers_select(tenant_ids: Any = None) -> sa.Select[Any]:
    q = sa.select(t.offer_sets.c.tenant_id, sa.func.max(t.offer_sets.c.seq).label("seq"))
    if tenant_ids is not None:
        q = q.where(t.offer_sets.c.tenant_id.in_(tenant_ids))
    latest = q.group_by(t.offer_sets.c.tenant_id).subquery()
    return (
        sa.select(
            t.offers.c.tenant_id, t.offers.c.quantity, t.offers.c.method, t.offers.c.limitations
        )
        .join(latest, latest.c.seq == t.offers.c.offer_set)
        .order_by(t.offers.c.seq)
    )


# Built once: the hand-out and claims read the caller's offers on every call.
_ALL_OFFERS = _offers_select()
_OFFERS_OF = _offers_select(sa.bindparam("tenant_ids", expanding=True))


def current_offers(
    conn: Connection, tenant_ids: Sequence[str] | None = None
) -> dict[str, list[OfferView]]:
    """Each tenant's offers: those of its latest offer set."""
    if tenant_ids is None:
        rows = conn.execute(_ALL_OFFERS)
    else:
        rows = conn.execute(_OFFERS_OF, {"tenant_ids": list(tenant_ids)})
    out: dict[str, list[OfferView]] = {}
    for r in rows:
        out.setdefault(r.tenant_id, []).append(OfferView(r.quantity, r.method, r.limitations))
    return out


_LATEST_SET = sa.select(sa.func.max(t.offer_sets.c.seq)).where(
    t.offer_sets.c.tenant_id == sa.bindparam("tenant_id")
)
_OFFERS_IN_SET = (
    sa.select(t.offers.c.quantity, t.offers.c.method, t.offers.c.limitations)
    .where(t.offers.c.offer_set == sa.bindparam("offer_set"))
    .order_by(t.offers.c.seq)
)


def latest_offer_set(conn: Connection, tenant_id: str) -> int | None:
    """The tenant's current offer set (None: it never offered anything). Offer sets are
    append-only, so the number names the offers for good: a cache key that needs no content
    read (the ``(tenant_id, offer_set_seq)`` index answers it)."""
    seq: int | None = conn.execute(_LATEST_SET, {"tenant_id": tenant_id}).scalar()
    return seq


def offers_in_set(conn: Connection, offer_set: int) -> list[OfferView]:
    """The offers of one offer set."""
    rows = conn.execute(_OFFERS_IN_SET, {"offer_set": offer_set})
    return [OfferView(r.quantity, r.method, r.limitations) for r in rows]


def _view(row: Row[Any], offers: list[OfferView]) -> TenantView:
    return TenantView(
        id=row.id,
        name=row.name,
        description=row.description,
        contact=row.contact,
        created_at=row.created_at,
        created_by=row.created_by,
        offers=offers,
    )


def get_tenant(conn: Connection, tenant_id: str) -> TenantView:
    row = conn.execute(sa.select(t.tenants).where(t.tenants.c.id == tenant_id)).first()
    if row is None:
        raise NotFound(f"no tenant with id {tenant_id!r}")
    return _view(row, current_offers(conn, [tenant_id]).get(tenant_id, []))


def find_tenant(conn: Connection, id_or_name: str) -> TenantView:
    """A tenant by its id, or else by its name."""
    row = conn.execute(
        sa.select(t.tenants.c.id).where(
            sa.or_(t.tenants.c.id == id_or_name, t.tenants.c.name == id_or_name)
        )
    ).first()
    if row is None:
        raise NotFound(f"no tenant named {id_or_name!r}")
    return get_tenant(conn, row.id)


def limitations_by_capability(
    conn: Connection, *, only_active: bool
) -> dict[tuple[str, str], list[Any]]:
    """Every tenant's limitations, grouped per (quantity, method) of the registered (or only
    the active) capabilities."""
    if only_active:
        known: set[tuple[str, str]] = set(active_pairs(conn))
    else:
        known = {(c.quantity, c.method) for c in list_capabilities(conn)}
    grouped: dict[tuple[str, str], list[Any]] = {}
    for offers in current_offers(conn).values():
        for o in offers:
            if (o.quantity, o.method) in known:
                grouped.setdefault((o.quantity, o.method), []).append(o.limitations)
    return grouped


def list_tenants(conn: Connection) -> list[TenantView]:
    offers = current_offers(conn)
    rows = conn.execute(sa.select(t.tenants).order_by(t.tenants.c.created_at, t.tenants.c.name))
    return [_view(r, offers.get(r.id, [])) for r in rows]


def validate_offers(conn: Connection, offers: Sequence[OfferView]) -> None:
    """Each offer names a registered capability and limitations valid for its request schema
    and within the size bounds (``finales.domain.limitations.check_bounds``: every door that
    registers offers comes through here)."""
    errors: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for i, offer in enumerate(offers):
        key = (offer.quantity, offer.method)
        if key in seen:
            errors.append({"pointer": f"/{i}", "message": f"{key[0]}/{key[1]} offered twice"})
            continue
        seen.add(key)
        cap = latest_version(conn, *key)
        if cap is None:
            errors.append(
                {
                    "pointer": f"/{i}/method",
                    "message": f"no capability {key[0]}/{key[1]} is registered",
                }
            )
            continue
        for err in check_limitations(offer.limitations, cap.request_schema):
            errors.append(
                {"pointer": f"/{i}/limitations{err['pointer']}", "message": err["message"]}
            )
    raise_if_invalid(errors, "offers")


def set_offers(
    uow: UnitOfWork,
    *,
    principal: Principal,
    tenant_id: str,
    offers: Sequence[OfferView],
) -> TenantView:
    """Replace a tenant's offers (that tenant or an admin): a new offer set; earlier sets
    stay in the history."""
    conn = uow.conn
    get_tenant(conn, tenant_id)
    if not principal.may_act_for(tenant_id):
        raise Forbidden("a tenant may only set its own offers")
    validate_offers(conn, offers)
    set_seq = conn.execute(
        t.offer_sets.insert()
        .values(tenant_id=tenant_id, at=uow.now, actor=principal.name)
        .returning(t.offer_sets.c.seq)
    ).scalar_one()
    if offers:
        conn.execute(
            t.offers.insert(),
            [{"offer_set": set_seq, "tenant_id": tenant_id, **o.as_dict()} for o in offers],
        )
    uow.report(CatalogueChanged())
    return get_tenant(conn, tenant_id)


def _exists(conn: Connection, tenant_id: str) -> bool:
    found = conn.execute(sa.select(t.tenants.c.id).where(t.tenants.c.id == tenant_id)).first()
    return found is not None


def check_named_tenant(conn: Connection, principal: Principal, tenant_id: str) -> None:
    """A payload naming the tenant it acts as (FINALES 2's ``tenant_uuid``): a tenant names
    itself (403 otherwise); an admin names a tenant that exists (422 otherwise)."""
    policy.check_named_tenant(principal, tenant_id)
    if principal.is_admin and not _exists(conn, tenant_id):
        raise invalid("/tenant_uuid", f"no tenant with id {tenant_id!r}")
