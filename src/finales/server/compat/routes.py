"""The 16 FINALES 2 routes and its form login, as thin mappings onto the services."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import Connection

from finales.domain.principals import Principal
from finales.domain.statuses import RequestStatus, ResultStatus
from finales.errors import BadRequest, Forbidden, NotFound, Unauthorized, invalid
from finales.server.compat import models, templates
from finales.server.deps import CurrentPrincipal, PasswordForm, StateDep, create
from finales.server.routes.export import sqlite_snapshot
from finales.server.state import Change
from finales.services import auth, capabilities, tenants
from finales.services import requests as request_svc
from finales.services import results as result_svc
from finales.services.common import get_request, get_result
from finales.services.tenants import check_tenant_exists

router = APIRouter(tags=["finales2"])
PAGE = 500
EXPORT_HINT = "use GET /api/v1/export/snapshot (archiver or admin role)"
# The statuses update_status can set, documented as enums (the handlers say why not others).
REQUEST_TARGETS = [
    RequestStatus.PENDING.value,
    RequestStatus.RESERVED.value,
    RequestStatus.RETRACTED.value,
]
RESULT_TARGETS = [ResultStatus.AMENDED.value, ResultStatus.DELETED.value]


def route(path: str, method: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """Serve ``path`` with and without its trailing slash (FINALES 2 redirected with 307)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        other = path[:-1] if path.endswith("/") else path + "/"
        router.add_api_route(path, fn, methods=[method], **kwargs)
        router.add_api_route(other, fn, methods=[method], include_in_schema=False, **kwargs)
        return fn

    return register


# ------------------------------------------------------------------------------ conversions


def request_info(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "uuid": r["id"],
        "ctime": r["created_at"].isoformat(),
        "status": r["status"],
        "request": {
            "quantity": r["quantity"],
            "methods": r["methods"],
            "parameters": r["parameters"],
            "tenant_uuid": r["requester_tenant_id"] or "",
        },
    }


def result_info(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "uuid": r["id"],
        "ctime": r["created_at"].isoformat(),
        "status": r["status"],
        "result": {
            "data": r["data"],
            "quantity": r["quantity"],
            "method": [r["method"]],
            "parameters": {r["method"]: r["parameters"]},
            "tenant_uuid": r["tenant_id"],
            "request_uuid": r["request_id"],
        },
    }


def _all(
    fetch: Callable[[str | None], tuple[list[dict[str, Any]], str | None]],
) -> list[dict[str, Any]]:
    items, cursor = fetch(None)
    while cursor is not None:
        more, cursor = fetch(cursor)
        items.extend(more)
    return items


def _acting_as(s: Connection, principal: Principal, tenant_uuid: str) -> str | None:
    """The body's tenant_uuid must be the caller's own tenant, unless the caller is admin."""
    if principal.is_admin:
        check_tenant_exists(s, tenant_uuid, "/tenant_uuid")
        return tenant_uuid
    if tenant_uuid != principal.tenant_id:
        raise Forbidden("tenant_uuid names another tenant: a tenant acts only as itself")
    return tenant_uuid


# ------------------------------------------------------------------------------ login


@route("/user_management/authenticate", "POST", response_model=models.Token)
def authenticate(st: StateDep, form: Annotated[PasswordForm, Depends()]):
    """FINALES 2 form login; unknown users and wrong passwords both answer 401."""
    with st.db.read() as s:
        principal = auth.authenticate_password(s, form.username, form.password)
    token = auth.issue_token(
        principal, secret=st.secret, ttl_s=st.settings.token_ttl_s, now=st.now()
    )
    return JSONResponse({"access_token": token, "token_type": "bearer"})


# ------------------------------------------------------------------------------ requests


@route("/requests/{request_id}", "GET", response_model=models.RequestInfo)
def get_request_info(st: StateDep, _p: CurrentPrincipal, request_id: str):
    """One request (404 for unknown ids; FINALES 2 answered null)."""
    with st.db.read() as s:
        return JSONResponse(request_info(get_request(s, request_id)))


@route("/requests/", "POST", response_model=str)
def post_request(request: Request, st: StateDep, principal: CurrentPrincipal, body: models.Request):
    """Post a request (several methods allowed); answers its id as a JSON string."""
    created: list[dict[str, Any]] = []

    def op(s: Connection) -> str:
        _acting_as(s, principal, body.tenant_uuid)
        made = request_svc.submit_request(
            s,
            principal=principal,
            quantity=body.quantity,
            methods=body.methods,
            parameters=body.parameters,
            now=st.now(),
            validators=st.validators,
        )
        created.append(made)
        return str(made["id"])

    def after() -> None:  # wakes the long-polls whose offers cover it; a replay made nothing
        if created:
            st.notifier.notify(Change(work=created[0]))

    return create(request, st, principal, body, op, status_code=200, after=after)


@route("/pending_requests/", "GET", response_model=list[models.RequestInfo])
def pending_requests(
    st: StateDep, _p: CurrentPrincipal, quantity: str | None = None, method: str | None = None
):
    """All pending requests, optionally for one quantity and method."""
    with st.db.read() as s:
        items = _all(
            lambda c: request_svc.list_requests(
                s,
                status=RequestStatus.PENDING.value,
                quantity=quantity,
                method=method,
                cursor=c,
                limit=PAGE,
            )
        )
    return JSONResponse([request_info(r) for r in items])


@route("/all_requests/", "GET", response_model=list[models.RequestInfo])
def all_requests(st: StateDep, _p: CurrentPrincipal):
    """Every request."""
    with st.db.read() as s:
        items = _all(lambda c: request_svc.list_requests(s, cursor=c, limit=PAGE))
    return JSONResponse([request_info(r) for r in items])


@route("/requests/{request_id}/update_status/", "POST", response_model=str)
def update_request_status(
    st: StateDep,
    principal: CurrentPrincipal,
    request_id: str,
    new_status: Annotated[str, Query(json_schema_extra={"enum": REQUEST_TARGETS})],
    request_id_query: Annotated[str | None, Query(alias="request_id")] = None,
    status_change_message: str = "",
):
    """Reserve (409 unless pending), release (back to pending) or retract a request."""
    if request_id_query is not None and request_id_query != request_id:
        raise invalid("/request_id", "the query request_id differs from the one in the path")
    change: Change | None = None
    with st.db.write() as s:
        if new_status == RequestStatus.RESERVED.value:
            request_svc.claim(
                s,
                principal=principal,
                request_id=request_id,
                lease_s=st.settings.compat_lease_s,
                now=st.now(),
                check_offers=False,
            )
        elif new_status == RequestStatus.PENDING.value:
            released = request_svc.release(
                s,
                principal=principal,
                request_id=request_id,
                now=st.now(),
                message=status_change_message,
            )
            change = Change(work=released)
        elif new_status == RequestStatus.RETRACTED.value:
            request_svc.retract(
                s,
                principal=principal,
                request_id=request_id,
                now=st.now(),
                message=status_change_message,
            )
            change = Change(request_id=request_id)
        elif new_status in (RequestStatus.RESOLVED.value, RequestStatus.UNSOLICITED.value):
            raise invalid("/new_status", f"{new_status} is set by posting a result, not here")
        else:
            raise invalid("/new_status", "must be one of pending, reserved, retracted")
    if change is not None:
        st.notifier.notify(change)
    return JSONResponse(f"Status of request {request_id} updated to {new_status}.")


# ------------------------------------------------------------------------------ results


@route("/results/{result_id}", "GET", response_model=models.ResultInfo)
def get_result_info(st: StateDep, _p: CurrentPrincipal, result_id: str):
    """One result (404 for unknown ids)."""
    with st.db.read() as s:
        return JSONResponse(result_info(get_result(s, result_id)))


def _result_args(body: models.Result) -> tuple[str, dict[str, Any]]:
    method = body.method[0]
    if method not in body.parameters:
        raise invalid(f"/parameters/{method}", "the parameter block of the result's method")
    return method, body.parameters[method]


@route("/results/", "POST", response_model=str)
def post_result(request: Request, st: StateDep, principal: CurrentPrincipal, body: models.Result):
    """Post the result of a request you reserved; the request becomes resolved."""
    if not body.request_uuid:
        raise invalid("/request_uuid", "the id of the request this result answers")
    method, parameters = _result_args(body)

    def op(s: Connection) -> str:
        _acting_as(s, principal, body.tenant_uuid)
        made = result_svc.post_result(
            s,
            principal=principal,
            request_id=body.request_uuid,
            quantity=body.quantity,
            method=method,
            parameters=parameters,
            data=body.data,
            now=st.now(),
            validators=st.validators,
        )
        return str(made["id"])

    return create(request, st, principal, body, op, status_code=200)


@route("/results/post_unsolicited_result", "POST", response_model=str)
def post_unsolicited(
    request: Request, st: StateDep, principal: CurrentPrincipal, body: models.Result
):
    """Post a result nobody requested; a request with status unsolicited is made for it."""
    method, parameters = _result_args(body)

    def op(s: Connection) -> str:
        tenant = _acting_as(s, principal, body.tenant_uuid)
        made = result_svc.post_result(
            s,
            principal=principal,
            request_id=None,
            quantity=body.quantity,
            method=method,
            parameters=parameters,
            data=body.data,
            now=st.now(),
            validators=st.validators,
            on_behalf_of=tenant if principal.is_admin else None,
        )
        return str(made["id"])

    return create(request, st, principal, body, op, status_code=200)


@route("/results_requested/{request_id}", "GET", response_model=models.ResultInfo | None)
def result_for_request(st: StateDep, _p: CurrentPrincipal, request_id: str):
    """The first result of a request, or null while there is none."""
    with st.db.read() as s:
        items = result_svc.results_of_request(s, request_id)
    return JSONResponse(result_info(items[0]) if items else None)


@route("/results_requested/", "GET", response_model=list[models.ResultInfo])
def results_requested(
    st: StateDep, _p: CurrentPrincipal, quantity: str | None = None, method: str | None = None
):
    """Every (not deleted) result, optionally for one quantity and method."""
    with st.db.read() as s:
        items = _all(
            lambda c: result_svc.list_results(
                s, quantity=quantity, method=method, cursor=c, limit=PAGE
            )
        )
    return JSONResponse([result_info(r) for r in items])


@route("/results/{result_id}/update_status/", "POST", response_model=str)
def update_result_status(
    st: StateDep,
    principal: CurrentPrincipal,
    result_id: str,
    new_status: Annotated[str, Query(json_schema_extra={"enum": RESULT_TARGETS})],
    result_id_query: Annotated[str | None, Query(alias="result_id")] = None,
    status_change_message: str = "",
):
    """Mark a result amended or deleted (poster or admin)."""
    if result_id_query is not None and result_id_query != result_id:
        raise invalid("/result_id", "the query result_id differs from the one in the path")
    with st.db.write() as s:
        if new_status == ResultStatus.DELETED.value:
            result_svc.delete_result(
                s,
                principal=principal,
                result_id=result_id,
                message=status_change_message,
                now=st.now(),
            )
        elif new_status == ResultStatus.AMENDED.value:
            result_svc.mark_amended(
                s,
                principal=principal,
                result_id=result_id,
                message=status_change_message,
                now=st.now(),
            )
        else:
            raise invalid("/new_status", "must be amended or deleted")
    return JSONResponse(f"Status of result {result_id} updated to {new_status}.")


# ------------------------------------------------------------------------------ catalogue


@route("/capabilities/", "GET", response_model=list[models.CapabilityInfo])
def list_capabilities(st: StateDep, _p: CurrentPrincipal, currently_available: bool = True):
    """Capabilities with their request and result schemas."""
    with st.db.read() as s:
        rows = capabilities.list_capabilities(s, active=True if currently_available else None)
    return JSONResponse(
        [
            {
                "quantity": r["quantity"],
                "method": r["method"],
                "json_schema_specifications": r["request_schema"],
                "json_schema_result_output": r["result_schema"],
            }
            for r in rows
        ]
    )


@route("/capabilities/templates/", "GET")
def capability_templates(
    st: StateDep,
    _p: CurrentPrincipal,
    quantity: str | None = None,
    method: str | None = None,
    currently_available: bool = True,
):
    """Input and output templates: each field rendered as "required, float" and the like."""
    with st.db.read() as s:
        rows = capabilities.list_capabilities(
            s, active=True if currently_available else None, quantity=quantity, method=method
        )
    return JSONResponse(
        {
            f"{r['quantity']}-{r['method']}": {
                "input_template": templates.template(r["request_schema"]),
                "output_template": templates.template(r["result_schema"]),
            }
            for r in rows
        }
    )


@route("/limitations/", "GET", response_model=list[models.LimitationsInfo])
def list_limitations(st: StateDep, _p: CurrentPrincipal, currently_available: bool = True):
    """Every tenant's limitations, grouped per (quantity, method)."""
    with st.db.read() as s:
        offers = tenants.current_offers(s)
        caps = capabilities.list_capabilities(s, active=True if currently_available else None)
    known = {(c["quantity"], c["method"]) for c in caps}
    grouped: dict[tuple[str, str], list[Any]] = {}
    for tenant_offers in offers.values():
        for o in tenant_offers:
            key = (o["quantity"], o["method"])
            if key in known:
                grouped.setdefault(key, []).append(o["limitations"])
    return JSONResponse(
        [
            {"quantity": q, "method": m, "limitations": lims}
            for (q, m), lims in sorted(grouped.items())
        ]
    )


@route("/tenants/", "GET", response_model=list[models.TenantInfo])
def list_tenants(st: StateDep, _p: CurrentPrincipal):
    """Tenants with their limitations."""
    with st.db.read() as s:
        rows = tenants.list_tenants(s)
    return JSONResponse(
        [
            {
                "tenant_uuid": r["id"],
                "name": r["name"],
                "limitations": r["offers"],
                "contact_person": r["contact"],
                "is_active": True,
            }
            for r in rows
        ]
    )


# ------------------------------------------------------------------------------ dump


def _check_dump_key(st: StateDep, given: str | None) -> None:
    if not given:  # no credential at all: 401 like every other route, enabled or not
        raise Unauthorized("missing access key: send it in the X-Access-Key header")
    expected = st.settings.dump_key
    if expected is None or not expected.get_secret_value():
        raise NotFound(
            "the database dump is disabled on this server (set FINALES_DUMP_KEY); " + EXPORT_HINT
        )
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise Forbidden("wrong access key")


def _dump(st: StateDep, background: BackgroundTasks) -> FileResponse:
    if st.db.dialect != "sqlite":
        raise BadRequest(f"this server keeps its data in PostgreSQL, not in a file; {EXPORT_HINT}")
    return sqlite_snapshot(
        st, background, media_type="application/octet-stream", filename="finales.db"
    )


DUMP_RESPONSE = {
    "description": "a consistent SQLite snapshot",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


@router.get(
    "/database_dump/{access_key}", response_class=FileResponse, responses={200: DUMP_RESPONSE}
)
def database_dump(st: StateDep, background: BackgroundTasks, access_key: str):
    """A consistent snapshot of the SQLite database (online backup), without secrets."""
    _check_dump_key(st, access_key)
    return _dump(st, background)


@route("/database_dump/", "GET", response_class=FileResponse, responses={200: DUMP_RESPONSE})
def database_dump_header(
    st: StateDep, background: BackgroundTasks, x_access_key: Annotated[str | None, Header()] = None
):
    """The same, with the key in an ``X-Access-Key`` header (kept out of URLs and logs)."""
    _check_dump_key(st, x_access_key)
    return _dump(st, background)
