"""Capabilities: registered and versioned at runtime, activated and deactivated by events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from finales.db import tables as t
from finales.domain.principals import Principal, Role
from finales.domain.validation import check_schema
from finales.errors import Conflict, NotFound
from finales.services.common import new_id


def register_capability(
    session: Connection,
    *,
    principal: Principal,
    quantity: str,
    method: str,
    request_schema: dict[str, Any],
    result_schema: dict[str, Any],
    description: str = "",
    now: datetime,
    active: bool = True,
) -> dict[str, Any]:
    """Register a capability, or a new version of an existing (quantity, method)."""
    principal.require(Role.ADMIN)
    check_schema(request_schema, "/request_schema")
    check_schema(result_schema, "/result_schema")
    latest = _latest(session, quantity, method)
    if latest is not None and (
        latest.request_schema == request_schema
        and latest.result_schema == result_schema
        and latest.description == description
    ):
        if active and not is_active(session, quantity, method):
            _set_active(session, quantity, method, True, principal.name, now, "re-registered")
        return get_capability(session, quantity, method)
    version = 1 if latest is None else latest.version + 1
    session.execute(
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
        )
    )
    if latest is None or active != is_active(session, quantity, method):
        _set_active(session, quantity, method, active, principal.name, now, f"version {version}")
    return get_capability(session, quantity, method)


def _latest(session: Connection, quantity: str, method: str, version: int | None = None) -> Any:
    q = sa.select(t.capabilities).where(
        t.capabilities.c.quantity == quantity, t.capabilities.c.method == method
    )
    if version is not None:
        q = q.where(t.capabilities.c.version == version)
    return session.execute(q.order_by(t.capabilities.c.version.desc()).limit(1)).first()


def _active_map(session: Connection) -> dict[tuple[str, str], bool]:
    return {(r.quantity, r.method): r.active for r in session.execute(_ACTIVE_MAP)}


def _build_active_map() -> sa.Select[Any]:
    ce = t.capability_events
    last = (
        sa.select(ce.c.quantity, ce.c.method, sa.func.max(ce.c.seq).label("seq"))
        .group_by(ce.c.quantity, ce.c.method)
        .subquery()
    )
    return sa.select(ce.c.quantity, ce.c.method, ce.c.active).join(last, last.c.seq == ce.c.seq)


_ACTIVE_MAP = _build_active_map()


def is_active(session: Connection, quantity: str, method: str) -> bool:
    ce = t.capability_events
    row = session.execute(
        sa.select(ce.c.active)
        .where(ce.c.quantity == quantity, ce.c.method == method)
        .order_by(ce.c.seq.desc())
        .limit(1)
    ).first()
    return bool(row and row.active)


def _set_active(
    session: Connection,
    quantity: str,
    method: str,
    active: bool,
    actor: str,
    now: datetime,
    message: str,
) -> None:
    session.execute(
        t.capability_events.insert().values(
            quantity=quantity, method=method, active=active, at=now, actor=actor, message=message
        )
    )


def set_active(
    session: Connection,
    *,
    principal: Principal,
    quantity: str,
    method: str,
    active: bool,
    now: datetime,
    message: str = "",
) -> dict[str, Any]:
    principal.require(Role.ADMIN)
    get_capability(session, quantity, method)  # 404 for unknown pairs
    if is_active(session, quantity, method) != active:
        _set_active(session, quantity, method, active, principal.name, now, message)
    return get_capability(session, quantity, method)


def _view(row: Any, versions: list[int], active: bool) -> dict[str, Any]:
    return {**dict(row._mapping), "versions": versions, "active": active}


def get_capability(
    session: Connection, quantity: str, method: str, version: int | None = None
) -> dict[str, Any]:
    row = _latest(session, quantity, method, version)
    if row is None:
        what = f"{quantity}/{method}" + (f" version {version}" if version else "")
        raise NotFound(f"no capability {what}")
    versions = session.scalars(
        sa.select(t.capabilities.c.version)
        .where(t.capabilities.c.quantity == quantity, t.capabilities.c.method == method)
        .order_by(t.capabilities.c.version)
    ).all()
    return _view(row, list(versions), is_active(session, quantity, method))


def list_capabilities(
    session: Connection,
    *,
    active: bool | None = None,
    quantity: str | None = None,
    method: str | None = None,
) -> list[dict[str, Any]]:
    """Latest version of each capability, with all version numbers, in one pass."""
    c = t.capabilities
    q = sa.select(c).order_by(c.c.quantity, c.c.method, c.c.version)
    if quantity:
        q = q.where(c.c.quantity == quantity)
    if method:
        q = q.where(c.c.method == method)
    latest: dict[tuple[str, str], Any] = {}
    versions: dict[tuple[str, str], list[int]] = {}
    for row in session.execute(q):
        key = (row.quantity, row.method)
        latest[key] = row
        versions.setdefault(key, []).append(row.version)
    states = _active_map(session)
    out = [_view(row, versions[key], states.get(key, False)) for key, row in latest.items()]
    return [cap for cap in out if active is None or cap["active"] == active]


def capability_for_use(
    session: Connection, quantity: str, method: str, pointer_: str
) -> dict[str, Any]:
    """The latest version of an active capability, or a 422 naming the field that chose it."""
    from finales.errors import invalid

    row = session.execute(_FOR_USE, {"quantity": quantity, "method": method}).first()
    if row is None:
        raise invalid(pointer_, f"no capability {quantity}/{method} is registered")
    if not row.active:
        raise invalid(pointer_, f"the capability {quantity}/{method} is deactivated")
    view = dict(row._mapping)
    del view["active"]
    return view


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


def capability_by_id(session: Connection, capability_id: str) -> dict[str, Any]:
    row = session.execute(sa.select(t.capabilities).where(t.capabilities.c.id == capability_id))
    found = row.first()
    if found is None:
        raise Conflict(f"capability version {capability_id} vanished")  # cannot happen: immutable
    return dict(found._mapping)
