"""Who is calling: roles and the authenticated principal."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from finales.errors import Forbidden


class Role(StrEnum):
    ADMIN = "admin"
    TENANT = "tenant"
    READER = "reader"
    ARCHIVER = "archiver"
    APPROVER = "approver"  # reads, and approves or rejects requests that need approval


#: Roles whose principals act as a tenant: a tenant principal always is bound to one; an
#: archiver may be (the archiver tenant posts ``archive/deposit`` results with its key).
BINDABLE_ROLES = frozenset({Role.TENANT, Role.ARCHIVER})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated identity. A tenant principal is bound to exactly one tenant; an
    archiver may be bound to one (the archiving tenant, which records its deposits as
    results), the other roles to none."""

    id: str
    name: str
    role: Role
    tenant_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = " or ".join(r.value for r in roles)
            raise Forbidden(f"this action needs the role {allowed}; you are {self.role.value}")

    def acting_tenant(self) -> str:
        """The tenant this principal acts as: a tenant principal's, or the tenant an archiver
        is bound to."""
        if self.role not in BINDABLE_ROLES or self.tenant_id is None:
            raise Forbidden("only a tenant principal can do this (it acts as its own tenant)")
        return self.tenant_id

    def may_act_for(self, tenant_id: str | None) -> bool:
        return self.is_admin or (tenant_id is not None and self.tenant_id == tenant_id)
