"""Tenants and their offers (with limitations checked against the request schema)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from finales.db import tables as t
from finales.domain.limitations import check_limitations
from finales.domain.principals import Principal, Role
from finales.domain.validation import raise_if_invalid
from finales.errors import Conflict, Forbidden, NotFound, invalid
from finales.services.capabilities import _latest
from finales.services.common import new_id


def add_tenant(
    session: Connection,
    *,
    principal: Principal,
    name: str,
    description: str = "",
    contact: str = "",
    now: datetime,
    tenant_id: str | None = None,
) -> dict[str, Any]:
    """Register a tenant. ``tenant_id`` keeps an existing id (a tenant moving from a FINALES 2
    server keeps the ``tenant_uuid`` its configuration already names)."""
    principal.require(Role.ADMIN)
    if tenant_id is not None:
        try:
            tenant_id = str(uuid.UUID(tenant_id))
        except ValueError:
            raise invalid("/id", "a tenant id must be a UUID") from None
        if session.execute(sa.select(t.tenants.c.id).where(t.tenants.c.id == tenant_id)).first():
            raise Conflict(f"a tenant with id {tenant_id} already exists")
    tid = tenant_id or new_id()
    try:
        with session.begin_nested():
            session.execute(
                t.tenants.insert().values(
                    id=tid,
                    name=name,
                    description=description,
                    contact=contact,
                    created_at=now,
                    created_by=principal.name,
                )
            )
    except IntegrityError:
        raise Conflict(f"a tenant named {name!r} already exists") from None
    return get_tenant(session, tid)


def _latest_set(tenant_ids: Any = None) -> Any:
    q = sa.select(t.offer_sets.c.tenant_id, sa.func.max(t.offer_sets.c.seq).label("seq"))
    if tenant_ids is not None:
        q = q.where(t.offer_sets.c.tenant_id.in_(tenant_ids))
    return q.group_by(t.offer_sets.c.tenant_id).subquery()


def _offers_select(tenant_ids: Any = None) -> Any:
    latest = _latest_set(tenant_ids)
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
    session: Connection, tenant_ids: list[str] | None = None
) -> dict[str, list[dict]]:
    if tenant_ids is None:
        rows = session.execute(_ALL_OFFERS)
    else:
        rows = session.execute(_OFFERS_OF, {"tenant_ids": list(tenant_ids)})
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r.tenant_id, []).append(
            {"quantity": r.quantity, "method": r.method, "limitations": r.limitations}
        )
    return out


def get_tenant(session: Connection, tenant_id: str) -> dict[str, Any]:
    row = session.execute(sa.select(t.tenants).where(t.tenants.c.id == tenant_id)).first()
    if row is None:
        raise NotFound(f"no tenant with id {tenant_id!r}")
    return {**dict(row._mapping), "offers": current_offers(session, [tenant_id]).get(tenant_id, [])}


def get_tenant_by_name(session: Connection, name: str) -> dict[str, Any]:
    row = session.execute(sa.select(t.tenants.c.id).where(t.tenants.c.name == name)).first()
    if row is None:
        raise NotFound(f"no tenant named {name!r}")
    return get_tenant(session, row.id)


def list_tenants(session: Connection) -> list[dict[str, Any]]:
    offers = current_offers(session)
    rows = session.execute(sa.select(t.tenants).order_by(t.tenants.c.created_at, t.tenants.c.name))
    return [{**dict(r._mapping), "offers": offers.get(r.id, [])} for r in rows]


def validate_offers(session: Connection, offers: list[dict[str, Any]]) -> None:
    """Each offer names a registered capability and limitations valid for its request schema."""
    errors: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for i, offer in enumerate(offers):
        key = (offer["quantity"], offer["method"])
        if key in seen:
            errors.append({"pointer": f"/{i}", "message": f"{key[0]}/{key[1]} offered twice"})
            continue
        seen.add(key)
        cap = _latest(session, *key)
        if cap is None:
            errors.append(
                {
                    "pointer": f"/{i}/method",
                    "message": f"no capability {key[0]}/{key[1]} is registered",
                }
            )
            continue
        for err in check_limitations(offer["limitations"], cap.request_schema):
            errors.append(
                {"pointer": f"/{i}/limitations{err['pointer']}", "message": err["message"]}
            )
    raise_if_invalid(errors, "offers")


def set_offers(
    session: Connection,
    *,
    principal: Principal,
    tenant_id: str,
    offers: list[dict[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """Replace a tenant's offers (a new offer set; earlier sets stay in the history)."""
    get_tenant(session, tenant_id)
    if not principal.may_act_for(tenant_id):
        raise Forbidden("a tenant may only set its own offers")
    validate_offers(session, offers)
    set_seq = session.execute(
        t.offer_sets.insert()
        .values(tenant_id=tenant_id, at=now, actor=principal.name)
        .returning(t.offer_sets.c.seq)
    ).scalar_one()
    if offers:
        session.execute(
            t.offers.insert(),
            [{"offer_set": set_seq, "tenant_id": tenant_id, **o} for o in offers],
        )
    return get_tenant(session, tenant_id)


def check_tenant_exists(session: Connection, tenant_id: str, pointer_: str) -> None:
    if (
        session.execute(sa.select(t.tenants.c.id).where(t.tenants.c.id == tenant_id)).first()
        is None
    ):
        raise invalid(pointer_, f"no tenant with id {tenant_id!r}")
