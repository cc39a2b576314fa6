"""Views to FINALES 2's wire payloads (release 1.1.0, see finales2-wire.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from finales.domain.statuses import RequestStatus
from finales.domain.views import CapabilityView, RequestView, ResultView, TenantView
from finales.server.compat import templates

# Statuses FINALES 2 does not know, shown as the nearest it has: a request awaiting approval
# is not yet claimable (FINALES 2's pending listing leaves it out), a rejected one is closed.
FINALES2_STATUS = {
    RequestStatus.AWAITING_APPROVAL: RequestStatus.PENDING.value,
    RequestStatus.REJECTED: RequestStatus.RETRACTED.value,
}


def request_info(r: RequestView) -> dict[str, Any]:
    return {
        "uuid": r.id,
        "ctime": r.created_at.isoformat(),
        "status": FINALES2_STATUS.get(r.status, r.status.value),
        "request": {
            "quantity": r.quantity,
            "methods": r.methods,
            "parameters": r.parameters,
            "tenant_uuid": r.requester_tenant_id or "",
        },
    }


def result_info(r: ResultView) -> dict[str, Any]:
    return {
        "uuid": r.id,
        "ctime": r.created_at.isoformat(),
        "status": r.status.value,
        "result": {
            "data": r.data,
            "quantity": r.quantity,
            "method": [r.method],
            "parameters": {r.method: r.parameters},
            "tenant_uuid": r.tenant_id,
            "request_uuid": r.request_id,
        },
    }


def identifier(view: RequestView | ResultView) -> str:
    """FINALES 2 answered a creating POST with the new object's id as a JSON string."""
    return view.id


def capability_info(c: CapabilityView) -> dict[str, Any]:
    return {
        "quantity": c.quantity,
        "method": c.method,
        "json_schema_specifications": c.request_schema,
        "json_schema_result_output": c.result_schema,
    }


def capability_templates(caps: Iterable[CapabilityView]) -> dict[str, Any]:
    return {
        f"{c.quantity}-{c.method}": {
            "input_template": templates.template(c.request_schema),
            "output_template": templates.template(c.result_schema),
        }
        for c in caps
    }


def limitations_info(grouped: dict[tuple[str, str], list[Any]]) -> list[dict[str, Any]]:
    return [
        {"quantity": q, "method": m, "limitations": lims}
        for (q, m), lims in sorted(grouped.items())
    ]


def tenant_info(t: TenantView) -> dict[str, Any]:
    return {
        "tenant_uuid": t.id,
        "name": t.name,
        "limitations": [o.as_dict() for o in t.offers],
        "contact_person": t.contact,
        "is_active": True,
    }
