"""One request, result, capability or tenant as JSON-LD (see :mod:`finales.semantics`),
annotated by the capability versions it was validated against."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from finales import semantics
from finales.services import capabilities, requests, results, tenants


def result_document(conn: Connection, result_id: str) -> dict[str, Any]:
    """A result (404 if unknown) with its values typed by its capability version."""
    view = results.get_result(conn, result_id)
    cap = capabilities.capability_by_id(conn, view.capability_id)
    return semantics.result_to_jsonld(view, capabilities=[cap])


def request_document(conn: Connection, request_id: str) -> dict[str, Any]:
    """A request (404 if unknown) with the values of its parameters, per method."""
    view = requests.get_request(conn, request_id)
    caps = [capabilities.capability_by_id(conn, i) for i in view.capability_ids.values()]
    return semantics.request_to_jsonld(view, capabilities=caps)


def capability_document(
    conn: Connection, quantity: str, method: str, version: int | None
) -> dict[str, Any]:
    """A capability version (the latest unless ``version``) with its fields' concepts."""
    return semantics.capability_to_jsonld(
        capabilities.get_capability(conn, quantity, method, version)
    )


def tenant_document(conn: Connection, tenant_id: str) -> dict[str, Any]:
    """A tenant with its current offers (its contact left out)."""
    return semantics.tenant_to_jsonld(tenants.get_tenant(conn, tenant_id))
