"""Capabilities: registered and versioned at runtime, activated and deactivated by events."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Row

from finales.db import tables as t
from finales.domain.changes import CatalogueChanged
from finales.domain.names import check_name
from finales.domain.principals import Principal, Role
from finales.domain.validation import check_schema
from finales.domain.views import CapabilityVersion, CapabilityView
from finales.errors import Conflict, NotFound, invalid
from finales.services.common import new_id
from finales.services.unit_of_work import UnitOfWork


def _view(row: Row[Any], versions: list[int], active: bool) -> CapabilityView:
    return CapabilityView(
        id=row.id,
        quantity=row.quantity,
        method=row.method,
        version=row.version,
        versions=versions,
        active=active,
        request_schema=row.request_schema,
        result_schema=row.result_schema,
        description=row.description,
        created_at=row.created_at,
        created_by=row.created_by,
        requires_approval=row.requires_approval,
    )


def register_capability(
    uow: UnitOfWork,
    *,
    principal: Principal,
    quantity: str,
    method: str,
    request_schema: dict[str, Any],
    result_schema: dict[str, Any],
    description: str = "",
    active: bool = True,
    requires_approval: bool = False,
) -> CapabilityView:
    """Register a capability, or a new version of an existing (quantity, method).
    ``requires_approval``: its requests wait for an admin or approver to approve them."""
    principal.require(Role.ADMIN)
    check_name(quantity, "/quantity")
    check_name(method, "/method")
    check_schema(request_schema, "/request_schema")
    check_schema(result_schema, "/result_schema")
    conn, now = uow.conn, uow.now
    latest = latest_version(conn, quantity, method)
    if latest is not None and (
        latest.request_schema == request_schema
        and latest.result_schema == result_schema
        and latest.description == description
        and latest.requires_approval == requires_approval
    ):
        if active and not is_active(conn, quantity, method):
            _set_active(uow, quantity, method, True, principal.name, "re-registered")
        return get_capability(conn, quantity, method)
    version = 1 if latest is None else latest.version + 1
    conn.execute(
        t.capabilities.insert().values(
            id=new_id(),
            quantity=quantity,
            method=method,
            version=version,
            request_schema=request_schema,
            result_schema=result_schema,
            description=description,
            created_at=now,
            created_by=principal.name,
            requires_approval=requires_approval,
        )
    )
    if latest is None or active != is_active(conn, quantity, method):
        _set_active(uow, quantity, method, active, principal.name, f"version {version}")
    return get_capability(conn, quantity, method)


def latest_version(
    conn: Connection, quantity: str, method: str, version: int | None = None
) -> Row[Any] | None:
    """The newest version of a pair (or ``version``), as a row; None for an unknown pair."""
    q = sa.select(t.capabilities).where(
        t.capabilities.c.quantity == quantity, t.capabilities.c.method == method
    )
    if version is not None:
        q = q.where(t.capabilities.c.version == version)
    return conn.execute(q.order_by(t.capabilities.c.version.desc()).limit(1)).first()


def _build_active_map() -> sa.Select[Any]:
    ce = t.capability_events
    last = (
        sa.select(ce.c.quantity, ce.c.method, sa.func.max(ce.c.seq).label("seq"))
        .group_by(ce.c.quantity, ce.c.method)
        .subquery()
    )
    return sa.select(ce.c.quantity, ce.c.method, ce.c.active).join(last, last.c.seq == ce.c.seq)


_ACTIVE_MAP = _build_active_map()


def _active_map(conn: Connection) -> dict[tuple[str, str], bool]:
    return {(r.quantity, r.method): r.active for r in conn.execute(_ACTIVE_MAP)}


def active_pairs(conn: Connection) -> frozenset[tuple[str, str]]:
    """The (quantity, method) pairs that accept requests now."""
    return frozenset(pair for pair, active in _active_map(conn).items() if active)


def is_active(conn: Connection, quantity: str, method: str) -> bool:
    ce = t.capability_events
    row = conn.execute(
        sa.select(ce.c.active)
        .where(ce.c.quantity == quantity, ce.c.method == method)
        .order_by(ce.c.seq.desc())
        .limit(1)
    ).first()
    return bool(row and row.active)


def _set_active(
    uow: UnitOfWork, quantity: str, method: str, active: bool, actor: str, message: str
) -> None:
    uow.conn.execute(
        t.capability_events.insert().values(
            quantity=quantity,
            method=method,
            active=active,
            at=uow.now,
            actor=actor,
            message=message,
        )
    )
    uow.report(CatalogueChanged())


def set_active(
    uow: UnitOfWork,
    *,
    principal: Principal,
    quantity: str,
    method: str,
    active: bool,
    message: str = "",
) -> CapabilityView:
    """Activate or deactivate a pair (admin); nothing happens if it already is so."""
    principal.require(Role.ADMIN)
    get_capability(uow.conn, quantity, method)  # 404 for unknown pairs
    if is_active(uow.conn, quantity, method) != active:
        _set_active(uow, quantity, method, active, principal.name, message)
    return get_capability(uow.conn, quantity, method)


def get_capability(
    conn: Connection, quantity: str, method: str, version: int | None = None
) -> CapabilityView:
    row = latest_version(conn, quantity, method, version)
    if row is None:
        what = f"{quantity}/{method}" + (f" version {version}" if version else "")
        raise NotFound(f"no capability {what}")
    versions = conn.scalars(
        sa.select(t.capabilities.c.version)
        .where(t.capabilities.c.quantity == quantity, t.capabilities.c.method == method)
        .order_by(t.capabilities.c.version)
    ).all()
    return _view(row, list(versions), is_active(conn, quantity, method))


def list_capabilities(
    conn: Connection,
    *,
    active: bool | None = None,
    quantity: str | None = None,
    method: str | None = None,
) -> list[CapabilityView]:
    """Latest version of each capability, with all version numbers, in one pass."""
    c = t.capabilities
    q = sa.select(c).order_by(c.c.quantity, c.c.method, c.c.version)
    if quantity:
        q = q.where(c.c.quantity == quantity)
    if method:
        q = q.where(c.c.method == method)
    latest: dict[tuple[str, str], Row[Any]] = {}
    versions: dict[tuple[str, str], list[int]] = {}
    for row in conn.execute(q):
        key = (row.quantity, row.method)
        latest[key] = row
        versions.setdefault(key, []).append(row.version)
    states = _active_map(conn)
    out = [_view(row, versions[key], states.get(key, False)) for key, row in latest.items()]
    return [cap for cap in out if active is None or cap.active == active]


# The latest version and its active flag in one statement, built once (requests and results
# look their capability up on every call).
_ce = t.capability_events
_FOR_USE = (
    sa.select(
        t.capabilities,
        sa.select(_ce.c.active)
        .where(_ce.c.quantity == t.capabilities.c.quantity, _ce.c.method == t.capabilities.c.method)
        .order_by(_ce.c.seq.desc())
        .limit(1)
        .scalar_subquery()
        .label("active"),
    )
    .where(
        t.capabilities.c.quantity == sa.bindparam("quantity"),
        t.capabilities.c.method == sa.bindparam("method"),
    )
    .order_by(t.capabilities.c.version.desc())
    .limit(1)
)


def _version(row: Row[Any]) -> CapabilityVersion:
    return CapabilityVersion(
        id=row.id,
        quantity=row.quantity,
        method=row.method,
        version=row.version,
        request_schema=row.request_schema,
        result_schema=row.result_schema,
        requires_approval=row.requires_approval,
    )


def capability_for_use(
    conn: Connection, quantity: str, method: str, pointer_: str
) -> CapabilityVersion:
    """The latest version of an active capability, or a 422 naming the field that chose it."""
    row = conn.execute(_FOR_USE, {"quantity": quantity, "method": method}).first()
    if row is None:
        raise invalid(pointer_, f"no capability {quantity}/{method} is registered")
    if not row.active:
        raise invalid(pointer_, f"the capability {quantity}/{method} is deactivated")
    return _version(row)


_BY_ID = sa.select(t.capabilities).where(t.capabilities.c.id == sa.bindparam("capability_id"))


def capability_by_id(conn: Connection, capability_id: str) -> CapabilityVersion:
    """One version by its id (versions are immutable: it exists once referenced)."""
    found = conn.execute(_BY_ID, {"capability_id": capability_id}).first()
    if found is None:
        raise Conflict(f"capability version {capability_id} vanished")  # cannot happen: immutable
    return _version(found)
