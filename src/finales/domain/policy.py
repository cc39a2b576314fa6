"""Authorization policy: who may do what. Pure decisions; the services ask, the doors never do.

Roles themselves are checked with ``Principal.require``; ownership rules live here.
"""

from __future__ import annotations

import hmac

from finales.domain.principals import Principal, Role
from finales.domain.views import RequestView
from finales.errors import Forbidden, NotFound, Unauthorized

EXPORT_HINT = "use GET /api/v1/export/snapshot (archiver or admin role)"


def may_retract(principal: Principal, request: RequestView) -> bool:
    """The requesting principal, any principal of the requesting tenant, or an admin."""
    if principal.is_admin or request.requester_principal_id == principal.id:
        return True
    return principal.tenant_id is not None and principal.tenant_id == request.requester_tenant_id


def check_named_tenant(principal: Principal, tenant_id: str) -> None:
    """A payload that names the tenant it acts as (FINALES 2's ``tenant_uuid``) must name the
    caller's own tenant; only an admin acts for another (which must exist: the caller's
    service checks that)."""
    if not principal.is_admin and tenant_id != principal.tenant_id:
        raise Forbidden("tenant_uuid names another tenant: a tenant acts only as itself")


def require_admin(principal: Principal) -> None:
    principal.require(Role.ADMIN)


def require_approver(principal: Principal) -> None:
    """Approving or rejecting a request that needs approval: an admin or an approver."""
    principal.require(Role.ADMIN, Role.APPROVER)


def require_exporter(principal: Principal) -> None:
    principal.require(Role.ARCHIVER, Role.ADMIN)


def check_dump_key(given: str | None, expected: str | None) -> None:
    """FINALES 2's database dump: its access key is the whole credential.

    No key at all is 401 (like every other route, enabled or not); a server without a key
    configured has the route disabled (404); a wrong key is 403. Compared in constant time.
    """
    if not given:
        raise Unauthorized("missing access key: send it in the X-Access-Key header")
    if not expected:
        raise NotFound(
            "the database dump is disabled on this server (set FINALES_DUMP_KEY); " + EXPORT_HINT
        )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("wrong access key")
