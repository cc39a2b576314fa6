"""The 16 FINALES 2 routes and its form login, as thin mappings onto the services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from finales.domain.statuses import RequestStatus, ResultStatus
from finales.errors import invalid
from finales.server.compat import models
from finales.server.compat import wire as w
from finales.server.deps import (
    CreateCallDep,
    CurrentPrincipal,
    PasswordForm,
    StateDep,
    answer,
    client_address,
    password_login,
    send_file,
)
from finales.services import capabilities, export, tenants
from finales.services import requests as request_svc
from finales.services import results as result_svc

router = APIRouter(tags=["finales2"])
PAGE = 500
# The statuses update_status can set, documented as enums (the services say why not others).
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


T = TypeVar("T")


def _all(fetch: Callable[[str | None], tuple[list[T], str | None]]) -> list[T]:
    """Every page of a listing (FINALES 2's listings are not paginated)."""
    items, cursor = fetch(None)
    while cursor is not None:
        more, cursor = fetch(cursor)
        items.extend(more)
    return items


# ------------------------------------------------------------------------------ login


@route("/user_management/authenticate", "POST", response_model=models.Token)
async def authenticate(
    request: Request, st: StateDep, form: Annotated[PasswordForm, Depends()]
) -> JSONResponse:
    """FINALES 2 form login; unknown users and wrong passwords both answer 401. Failed logins
    are limited as on the clean API (429 with Retry-After)."""
    check = password_login(st, form, st.settings.token_ttl_s)
    token = await st.logins.attempt(form.username, client_address(request), check)
    return JSONResponse({"access_token": token, "token_type": "bearer"})


# ------------------------------------------------------------------------------ requests


@route("/requests/{request_id}", "GET", response_model=models.RequestInfo)
def get_request_info(st: StateDep, _p: CurrentPrincipal, request_id: str) -> JSONResponse:
    """One request (404 for unknown ids; FINALES 2 answered null)."""
    with st.tx.read() as conn:
        return JSONResponse(w.request_info(request_svc.get_request(conn, request_id)))


@route("/requests/", "POST", response_model=str)
def post_request(
    st: StateDep, principal: CurrentPrincipal, call: CreateCallDep, body: models.Request
) -> JSONResponse:
    """Post a request (several methods allowed); answers its id as a JSON string."""
    return answer(
        st.tx.create(
            call.creation(body, status_code=200),
            w.identifier,
            request_svc.submit_request,
            principal=principal,
            quantity=body.quantity,
            methods=body.methods,
            parameters=body.parameters,
            validators=st.validators,
            named_tenant=body.tenant_uuid,
        )
    )


@route("/pending_requests/", "GET", response_model=list[models.RequestInfo])
def pending_requests(
    st: StateDep, _p: CurrentPrincipal, quantity: str | None = None, method: str | None = None
) -> JSONResponse:
    """All pending requests, optionally for one quantity and method."""
    with st.tx.read() as conn:
        items = _all(
            lambda c: request_svc.list_requests(
                conn,
                status=RequestStatus.PENDING.value,
                quantity=quantity,
                method=method,
                cursor=c,
                limit=PAGE,
            )
        )
    return JSONResponse([w.request_info(r) for r in items])


@route("/all_requests/", "GET", response_model=list[models.RequestInfo])
def all_requests(st: StateDep, _p: CurrentPrincipal) -> JSONResponse:
    """Every request."""
    with st.tx.read() as conn:
        items = _all(lambda c: request_svc.list_requests(conn, cursor=c, limit=PAGE))
    return JSONResponse([w.request_info(r) for r in items])


@route("/requests/{request_id}/update_status/", "POST", response_model=str)
def update_request_status(
    st: StateDep,
    principal: CurrentPrincipal,
    request_id: str,
    new_status: Annotated[str, Query(json_schema_extra={"enum": REQUEST_TARGETS})],
    request_id_query: Annotated[str | None, Query(alias="request_id")] = None,
    status_change_message: str = "",
) -> JSONResponse:
    """Reserve (409 unless pending), release (back to pending) or retract a request."""
    if request_id_query is not None and request_id_query != request_id:
        raise invalid("/request_id", "the query request_id differs from the one in the path")
    with st.tx.write() as uow:
        request_svc.set_status(
            uow,
            principal=principal,
            request_id=request_id,
            new_status=new_status,
            message=status_change_message,
            lease_s=st.settings.compat_lease_s,
        )
    return JSONResponse(f"Status of request {request_id} updated to {new_status}.")


# ------------------------------------------------------------------------------ results


@route("/results/{result_id}", "GET", response_model=models.ResultInfo)
def get_result_info(st: StateDep, _p: CurrentPrincipal, result_id: str) -> JSONResponse:
    """One result (404 for unknown ids)."""
    with st.tx.read() as conn:
        return JSONResponse(w.result_info(result_svc.get_result(conn, result_id)))


def _result_args(body: models.Result) -> tuple[str, dict[str, Any]]:
    method = body.method[0]
    if method not in body.parameters:
        raise invalid(f"/parameters/{method}", "the parameter block of the result's method")
    return method, body.parameters[method]


@route("/results/", "POST", response_model=str)
def post_result(
    st: StateDep, principal: CurrentPrincipal, call: CreateCallDep, body: models.Result
) -> JSONResponse:
    """Post the result of a request you reserved; the request becomes resolved."""
    if not body.request_uuid:
        raise invalid("/request_uuid", "the id of the request this result answers")
    return _post_result(st, principal, call, body, body.request_uuid)


@route("/results/post_unsolicited_result", "POST", response_model=str)
def post_unsolicited(
    st: StateDep, principal: CurrentPrincipal, call: CreateCallDep, body: models.Result
) -> JSONResponse:
    """Post a result nobody requested; a request with status unsolicited is made for it."""
    return _post_result(st, principal, call, body, None)


def _post_result(
    st: StateDep,
    principal: CurrentPrincipal,
    call: CreateCallDep,
    body: models.Result,
    request_id: str | None,
) -> JSONResponse:
    method, parameters = _result_args(body)
    return answer(
        st.tx.create(
            call.creation(body, status_code=200),
            w.identifier,
            result_svc.post_result,
            principal=principal,
            request_id=request_id,
            quantity=body.quantity,
            method=method,
            parameters=parameters,
            data=body.data,
            validators=st.validators,
            named_tenant=body.tenant_uuid,
        )
    )


@route("/results_requested/{request_id}", "GET", response_model=models.ResultInfo | None)
def result_for_request(st: StateDep, _p: CurrentPrincipal, request_id: str) -> JSONResponse:
    """The first result of a request, or null while there is none."""
    with st.tx.read() as conn:
        items = result_svc.results_of_request(conn, request_id)
    return JSONResponse(w.result_info(items[0]) if items else None)


@route("/results_requested/", "GET", response_model=list[models.ResultInfo])
def results_requested(
    st: StateDep, _p: CurrentPrincipal, quantity: str | None = None, method: str | None = None
) -> JSONResponse:
    """Every (not deleted) result, optionally for one quantity and method."""
    with st.tx.read() as conn:
        items = _all(
            lambda c: result_svc.list_results(
                conn, quantity=quantity, method=method, cursor=c, limit=PAGE
            )
        )
    return JSONResponse([w.result_info(r) for r in items])


@route("/results/{result_id}/update_status/", "POST", response_model=str)
def update_result_status(
    st: StateDep,
    principal: CurrentPrincipal,
    result_id: str,
    new_status: Annotated[str, Query(json_schema_extra={"enum": RESULT_TARGETS})],
    result_id_query: Annotated[str | None, Query(alias="result_id")] = None,
    status_change_message: str = "",
) -> JSONResponse:
    """Mark a result amended or deleted (poster or admin)."""
    if result_id_query is not None and result_id_query != result_id:
        raise invalid("/result_id", "the query result_id differs from the one in the path")
    with st.tx.write() as uow:
        result_svc.set_status(
            uow,
            principal=principal,
            result_id=result_id,
            new_status=new_status,
            message=status_change_message,
        )
    return JSONResponse(f"Status of result {result_id} updated to {new_status}.")


# ------------------------------------------------------------------------------ catalogue


@route("/capabilities/", "GET", response_model=list[models.CapabilityInfo])
def list_capabilities(
    st: StateDep, _p: CurrentPrincipal, currently_available: bool = True
) -> JSONResponse:
    """Capabilities with their request and result schemas."""
    with st.tx.read() as conn:
        rows = capabilities.list_capabilities(conn, active=True if currently_available else None)
    return JSONResponse([w.capability_info(r) for r in rows])


@route("/capabilities/templates/", "GET")
def capability_templates(
    st: StateDep,
    _p: CurrentPrincipal,
    quantity: str | None = None,
    method: str | None = None,
    currently_available: bool = True,
) -> JSONResponse:
    """Input and output templates: each field rendered as "required, float" and the like."""
    with st.tx.read() as conn:
        rows = capabilities.list_capabilities(
            conn, active=True if currently_available else None, quantity=quantity, method=method
        )
    return JSONResponse(w.capability_templates(rows))


@route("/limitations/", "GET", response_model=list[models.LimitationsInfo])
def list_limitations(
    st: StateDep, _p: CurrentPrincipal, currently_available: bool = True
) -> JSONResponse:
    """Every tenant's limitations, grouped per (quantity, method)."""
    with st.tx.read() as conn:
        grouped = tenants.limitations_by_capability(conn, only_active=currently_available)
    return JSONResponse(w.limitations_info(grouped))


@route("/tenants/", "GET", response_model=list[models.TenantInfo])
def list_tenants(st: StateDep, _p: CurrentPrincipal) -> JSONResponse:
    """Tenants with their limitations."""
    with st.tx.read() as conn:
        return JSONResponse([w.tenant_info(t) for t in tenants.list_tenants(conn)])


# ------------------------------------------------------------------------------ dump

DUMP_RESPONSE = {
    "description": "a consistent SQLite snapshot",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


def _dump(st: StateDep, background: BackgroundTasks, given_key: str | None) -> FileResponse:
    dump_key = st.settings.dump_key.get_secret_value() if st.settings.dump_key else None
    path = export.finales2_dump(st.db, given_key=given_key, dump_key=dump_key)
    return send_file(path, background, media_type="application/octet-stream", filename="finales.db")


@router.get(
    "/database_dump/{access_key}", response_class=FileResponse, responses={200: DUMP_RESPONSE}
)
def database_dump(st: StateDep, background: BackgroundTasks, access_key: str) -> FileResponse:
    """A consistent snapshot of the SQLite database (online backup), without secrets."""
    return _dump(st, background, access_key)


@route("/database_dump/", "GET", response_class=FileResponse, responses={200: DUMP_RESPONSE})
def database_dump_header(
    st: StateDep, background: BackgroundTasks, x_access_key: Annotated[str | None, Header()] = None
) -> FileResponse:
    """The same, with the key in an ``X-Access-Key`` header (kept out of URLs and logs)."""
    return _dump(st, background, x_access_key)
