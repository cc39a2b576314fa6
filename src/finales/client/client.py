"""FinalesClient: a typed method for every clean-API route, over an injectable httpx.Client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from finales import schemas
from finales.client.errors import RequestRetracted, WaitTimeout
from finales.client.transport import API, BaseClient, parse
from finales.domain.principals import Role
from finales.domain.statuses import RequestStatus

DEFAULT_WAIT_TIMEOUT_S = 300.0
LONG_POLL_S = 30.0


class FinalesClient(BaseClient):
    """A client of the finales clean API (``/api/v1``).

    ``FinalesClient("http://broker:8000", api_key=...)`` or ``(..., username=, password=)``.
    Pass ``http=httpx.Client(...)`` to choose the transport (tests, proxies, TLS); the client
    then only closes what it created. Calls are retried with backoff on connection errors,
    429 and 5xx (``retry``); every creating POST carries an ``Idempotency-Key`` so a retry
    never creates twice. Error answers raise the ``finales.errors`` class the server raised.
    Thread-safe: one instance may serve many threads.
    """

    # ------------------------------------------------------------------ health and auth

    def healthz(self) -> dict[str, Any]:
        """Liveness of the server (no credentials needed); retried while it comes up."""
        r = self._send("GET", "/healthz", idempotent=True, auth=False)
        return dict(r.json())

    def login(self, username: str, password: str) -> schemas.Token:
        """Exchange a name and password for a bearer token (the client logs in by itself
        when built with ``username``/``password``; call this only to get a token)."""
        return self._token_request(username, password)

    def create_api_key(self, principal: str) -> schemas.ApiKey:
        """Create a long-lived API key for a principal (admin). The key is shown only once."""
        # Not idempotent on the server (it would have to keep the key): retried only when
        # the server surely did nothing.
        data = self._action(f"{API}/auth/api-keys", {"principal": principal})
        return schemas.ApiKey.model_validate(data)

    def me(self) -> schemas.User:
        """The principal these credentials authenticate as (role and tenant)."""
        return schemas.User.model_validate(self._get(f"{API}/auth/me"))

    def add_user(
        self,
        name: str,
        *,
        role: Role | str,
        tenant_id: str | None = None,
        password: str | None = None,
        idempotency_key: str | None = None,
    ) -> schemas.User:
        """Create a principal (admin); a tenant principal is bound to ``tenant_id``."""
        body = {"name": name, "role": str(role), "tenant_id": tenant_id, "password": password}
        return schemas.User.model_validate(self._create(f"{API}/users", body, idempotency_key))

    def list_users(self) -> list[schemas.User]:
        """All principals (admin)."""
        return parse(list[schemas.User], self._get(f"{API}/users"))

    def update_user(
        self,
        name: str,
        *,
        role: Role | str | None = None,
        tenant_id: str | None = None,
        disabled: bool | None = None,
        password: str | None = None,
    ) -> schemas.User:
        """Change a user's role, password, or disable / re-enable it (admin); a field left
        None stays as it is. Disabling and a new password end the user's tokens."""
        body = {
            k: v
            for k, v in {
                "role": None if role is None else str(role),
                "tenant_id": tenant_id,
                "disabled": disabled,
                "password": password,
            }.items()
            if v is not None
        }
        r = self._send("PATCH", f"{API}/users/{quote(name, safe='')}", idempotent=True, json=body)
        return schemas.User.model_validate(r.json())

    def end_tokens(self, name: str | None = None) -> schemas.User:
        """Log a user out everywhere (admin, or ``None``: the caller itself): every token
        issued so far is refused. API keys stay valid."""
        path = (
            f"{API}/auth/logout" if name is None else f"{API}/users/{quote(name, safe='')}/logout"
        )
        return schemas.User.model_validate(self._action(path, None, idempotent=True))

    def user_history(self, name: str) -> list[schemas.PrincipalEvent]:
        """A user's audit history (admin)."""
        data = self._get(f"{API}/users/{quote(name, safe='')}/events")
        return parse(list[schemas.PrincipalEvent], data)

    def list_api_keys(self, principal: str | None = None) -> list[schemas.ApiKeyInfo]:
        """API keys, or one principal's, with their revocation time (admin). Never a key."""
        return parse(
            list[schemas.ApiKeyInfo], self._get(f"{API}/auth/api-keys", principal=principal)
        )

    def revoke_api_key(self, key_id: str) -> schemas.ApiKeyInfo:
        """Revoke an API key (admin, or its own principal): refused from the next call on."""
        r = self._send("DELETE", f"{API}/auth/api-keys/{quote(key_id, safe='')}", idempotent=True)
        return schemas.ApiKeyInfo.model_validate(r.json())

    # ------------------------------------------------------------------ capabilities

    def list_capabilities(
        self, *, active: bool | None = None, quantity: str | None = None, method: str | None = None
    ) -> list[schemas.Capability]:
        """Capabilities (latest version of each, with the list of versions)."""
        data = self._get(f"{API}/capabilities", active=active, quantity=quantity, method=method)
        return parse(list[schemas.Capability], data)

    def get_capability(
        self, quantity: str, method: str, *, version: int | None = None
    ) -> schemas.Capability:
        """One capability: the latest version, or ``version``."""
        data = self._get(f"{API}/capabilities/{quantity}/{method}", version=version)
        return schemas.Capability.model_validate(data)

    def register_capability(
        self,
        quantity: str,
        method: str,
        *,
        request_schema: dict[str, Any],
        result_schema: dict[str, Any],
        description: str = "",
        idempotency_key: str | None = None,
    ) -> schemas.Capability:
        """Register a capability (admin); an existing pair with changed schemas gets a new
        version."""
        body = {
            "quantity": quantity,
            "method": method,
            "request_schema": request_schema,
            "result_schema": result_schema,
            "description": description,
        }
        data = self._create(f"{API}/capabilities", body, idempotency_key)
        return schemas.Capability.model_validate(data)

    def activate_capability(
        self, quantity: str, method: str, *, message: str = ""
    ) -> schemas.Capability:
        """Accept requests for a capability again (admin)."""
        path = f"{API}/capabilities/{quantity}/{method}/activate"
        data = self._action(path, {"message": message}, idempotent=True)
        return schemas.Capability.model_validate(data)

    def deactivate_capability(
        self, quantity: str, method: str, *, message: str = ""
    ) -> schemas.Capability:
        """Stop accepting requests for a capability (admin); existing requests are kept."""
        path = f"{API}/capabilities/{quantity}/{method}/deactivate"
        data = self._action(path, {"message": message}, idempotent=True)
        return schemas.Capability.model_validate(data)

    # ------------------------------------------------------------------ tenants

    def list_tenants(self) -> list[schemas.Tenant]:
        """All tenants with their current offers."""
        return parse(list[schemas.Tenant], self._get(f"{API}/tenants"))

    def get_tenant(self, tenant_id: str) -> schemas.Tenant:
        """One tenant with its current offers."""
        return schemas.Tenant.model_validate(self._get(f"{API}/tenants/{tenant_id}"))

    def add_tenant(
        self,
        name: str,
        *,
        description: str = "",
        contact: str = "",
        idempotency_key: str | None = None,
    ) -> schemas.Tenant:
        """Register a tenant (admin)."""
        body = {"name": name, "description": description, "contact": contact}
        return schemas.Tenant.model_validate(self._create(f"{API}/tenants", body, idempotency_key))

    def set_offers(
        self, tenant_id: str, offers: list[schemas.OfferIn | Mapping[str, Any]]
    ) -> schemas.Tenant:
        """Replace a tenant's offers (that tenant or an admin); limitations are validated."""
        body = [
            o.model_dump(mode="json") if isinstance(o, schemas.OfferIn) else dict(o) for o in offers
        ]
        r = self._send("PUT", f"{API}/tenants/{tenant_id}/offers", idempotent=True, json=body)
        return schemas.Tenant.model_validate(r.json())

    # ------------------------------------------------------------------ requests

    def submit_request(
        self,
        quantity: str,
        methods: list[str],
        parameters: Mapping[str, Mapping[str, Any]],
        *,
        parent_request_id: str | None = None,
        labels: Mapping[str, str] | None = None,
        inputs: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> schemas.RequestCreated:
        """Post a request for ``quantity`` by any of ``methods`` (one parameter block each).

        ``parent_request_id`` puts it in a workflow tree; ``labels`` (at most 16 strings)
        mark it for ``list_requests(labels=...)``; ``inputs`` names the results it uses.
        The answer's ``covering_offers`` says how many current offers cover it: 0 means no
        tenant serves it yet, and it waits until one offers to.
        """
        body: dict[str, Any] = {
            "quantity": quantity,
            "methods": list(methods),
            "parameters": {m: dict(p) for m, p in parameters.items()},
            "parent_request_id": parent_request_id,
        }
        if labels:
            body["labels"] = dict(labels)
        if inputs:
            body["inputs"] = list(inputs)
        data = self._create(f"{API}/requests", body, idempotency_key)
        return schemas.RequestCreated.model_validate(data)

    def list_requests(
        self,
        *,
        status: RequestStatus | str | None = None,
        quantity: str | None = None,
        method: str | None = None,
        tenant: str | None = None,
        reserved_by: str | None = None,
        parent: str | None = None,
        root: str | None = None,
        labels: Mapping[str, str] | None = None,
        since: datetime | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> schemas.Page[schemas.Request]:
        """One page of requests, oldest first; pass ``next_cursor`` back as ``cursor``.

        ``root``: only the requests below that one in its tree; ``labels``: only those
        carrying every one of these labels.
        """
        data = self._get(
            f"{API}/requests",
            status=status,
            quantity=quantity,
            method=method,
            tenant=tenant,
            reserved_by=reserved_by,
            parent=parent,
            root=root,
            label=[f"{k}:{v}" for k, v in labels.items()] if labels else None,
            since=since,
            cursor=cursor,
            limit=limit,
        )
        return schemas.Page[schemas.Request].model_validate(data)

    def iter_requests(self, *, page_size: int = 100, **filters: Any) -> Iterator[schemas.Request]:
        """Every request matching ``filters`` (those of list_requests), page after page."""
        return _pages(self.list_requests, page_size, filters)

    def request_tree(self, request_id: str, *, page_size: int = 500) -> list[schemas.TreeNode]:
        """A request and every request below it (depth 0 first, then by depth and creation:
        parents before children), all pages of ``GET /requests/{id}/tree`` followed."""
        nodes: list[schemas.TreeNode] = []
        cursor = None
        while True:
            data = self._get(f"{API}/requests/{request_id}/tree", cursor=cursor, limit=page_size)
            page = schemas.Page[schemas.TreeNode].model_validate(data)
            nodes.extend(page.items)
            if page.next_cursor is None:
                return nodes
            cursor = page.next_cursor

    def request_provenance(self, request_id: str) -> dict[str, Any]:
        """A request's tree as W3C PROV-O in JSON-LD (a dict; parse it with rdflib, say)."""
        data: dict[str, Any] = self._get(f"{API}/requests/{request_id}/provenance")
        return data

    def get_request(self, request_id: str) -> schemas.RequestDetail:
        """One request with its current status and ``last_release`` (the last time a tenant
        gave it back, with its reason, or its lease ran out)."""
        return schemas.RequestDetail.model_validate(self._get(f"{API}/requests/{request_id}"))

    def request_history(self, request_id: str) -> list[schemas.Event]:
        """Every status change of a request: who, when, from, to, why, lease."""
        data = self._get(f"{API}/requests/{request_id}/history")
        return parse(list[schemas.Event], data)

    def request_results(
        self, request_id: str, *, wait: float = 0.0, include_deleted: bool = False
    ) -> list[schemas.Result]:
        """Results of a request. ``wait`` long-polls (seconds; the server caps it) until a
        result exists or the request is retracted."""
        data = self._get(
            f"{API}/requests/{request_id}/results",
            wait_s=wait,
            wait=wait or None,
            include_deleted=include_deleted or None,
        )
        return parse(list[schemas.Result], data)

    def claim(self, request_id: str, *, lease_seconds: float | None = None) -> schemas.Request:
        """Reserve a pending request for your tenant with a lease.

        Raises a ``Conflict`` subclass (409) when it is not claimable (another tenant won).
        A claim is retried only when the server surely did not see it, so a 409 after a lost
        answer never makes two owners.
        """
        data = self._action(f"{API}/requests/{request_id}/claim", {"lease_seconds": lease_seconds})
        return schemas.Request.model_validate(data)

    def heartbeat(self, request_id: str, *, lease_seconds: float | None = None) -> schemas.Request:
        """Extend your lease (``LeaseExpired``/409 when it is already lost)."""
        body = {"lease_seconds": lease_seconds}
        data = self._action(f"{API}/requests/{request_id}/heartbeat", body, idempotent=True)
        return schemas.Request.model_validate(data)

    def release(self, request_id: str, *, message: str = "") -> schemas.Request:
        """Give a reservation back (reserver or admin); ``message`` is kept as the reason."""
        data = self._action(f"{API}/requests/{request_id}/release", {"message": message})
        return schemas.Request.model_validate(data)

    def retract(self, request_id: str, *, message: str = "") -> schemas.Request:
        """Withdraw a pending or reserved request (requester or admin)."""
        data = self._action(f"{API}/requests/{request_id}/retract", {"message": message})
        return schemas.Request.model_validate(data)

    def approve(self, request_id: str, *, message: str = "") -> schemas.Request:
        """Approve a request awaiting approval (admin or approver): it becomes pending."""
        data = self._action(f"{API}/requests/{request_id}/approve", {"message": message})
        return schemas.Request.model_validate(data)

    def reject(self, request_id: str, *, message: str) -> schemas.Request:
        """Reject a request awaiting approval (admin or approver), saying why: it is closed."""
        data = self._action(f"{API}/requests/{request_id}/reject", {"message": message})
        return schemas.Request.model_validate(data)

    def work(
        self,
        *,
        quantity: str | None = None,
        method: str | None = None,
        limit: int = 10,
        wait: float = 0.0,
    ) -> list[schemas.WorkItem]:
        """Pending requests your offers and limitations cover, oldest first; ``wait``
        long-polls (seconds) while there are none."""
        data = self._get(
            f"{API}/work",
            wait_s=wait,
            quantity=quantity,
            method=method,
            limit=limit,
            wait=wait or None,
        )
        return parse(list[schemas.WorkItem], data)

    # ------------------------------------------------------------------ results

    def post_result(
        self,
        *,
        quantity: str,
        method: str,
        parameters: Mapping[str, Any],
        data: Mapping[str, Any],
        request_id: str | None = None,
        inputs: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> schemas.Result:
        """Post a result for a request you reserved (it becomes resolved), or an
        unsolicited one (no ``request_id``). ``inputs``: the results it was made from."""
        body: dict[str, Any] = {
            "request_id": request_id,
            "quantity": quantity,
            "method": method,
            "parameters": dict(parameters),
            "data": dict(data),
        }
        if inputs:
            body["inputs"] = list(inputs)
        out = self._create(f"{API}/results", body, idempotency_key)
        return schemas.Result.model_validate(out)

    def list_results(
        self,
        *,
        request_id: str | None = None,
        quantity: str | None = None,
        method: str | None = None,
        tenant: str | None = None,
        status: str | None = None,
        include_deleted: bool = False,
        since: datetime | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> schemas.Page[schemas.Result]:
        """One page of results, oldest first (deleted ones only with ``include_deleted``)."""
        data = self._get(
            f"{API}/results",
            request_id=request_id,
            quantity=quantity,
            method=method,
            tenant=tenant,
            status=status,
            include_deleted=include_deleted or None,
            since=since,
            cursor=cursor,
            limit=limit,
        )
        return schemas.Page[schemas.Result].model_validate(data)

    def iter_results(self, *, page_size: int = 100, **filters: Any) -> Iterator[schemas.Result]:
        """Every result matching ``filters`` (those of list_results), page after page."""
        return _pages(self.list_results, page_size, filters)

    def get_result(self, result_id: str) -> schemas.Result:
        """One result."""
        return schemas.Result.model_validate(self._get(f"{API}/results/{result_id}"))

    def amend_result(
        self,
        result_id: str,
        *,
        data: Mapping[str, Any],
        parameters: Mapping[str, Any] | None = None,
        message: str = "",
        idempotency_key: str | None = None,
    ) -> schemas.Result:
        """Supersede a result with corrected data (poster or admin); returns the new one."""
        body = {
            "data": dict(data),
            "parameters": dict(parameters) if parameters is not None else None,
            "message": message,
        }
        out = self._create(f"{API}/results/{result_id}/amend", body, idempotency_key)
        return schemas.Result.model_validate(out)

    def delete_result(self, result_id: str, *, message: str = "") -> schemas.Result:
        """Soft-delete a result (poster or admin); its history keeps it."""
        out = self._action(f"{API}/results/{result_id}/delete", {"message": message})
        return schemas.Result.model_validate(out)

    def result_history(self, result_id: str) -> list[schemas.Event]:
        """Every status change of a result."""
        data = self._get(f"{API}/results/{result_id}/history")
        return parse(list[schemas.Event], data)

    # ------------------------------------------------------------------ search

    def search(
        self,
        *,
        concept: str | None = None,
        where: Sequence[str] = (),
        tenant: str | None = None,
        method: str | None = None,
        quantity: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        include_amended: bool = False,
        cursor: str | None = None,
        limit: int = 50,
    ) -> schemas.SearchPage:
        """One page of results found by ontology concept (sub-classes included; a label as
        typed, an IRI or a prefixed name), value ranges (``where``: ``"amount fraction of
        LiPF6:0.05..0.15 mol/mol"``), tenant, method and time; newest first."""
        data = self._get(
            f"{API}/search",
            concept=concept,
            where=list(where) or None,
            tenant=tenant,
            method=method,
            quantity=quantity,
            since=since,
            until=until,
            include_amended=include_amended or None,
            cursor=cursor,
            limit=limit,
        )
        return schemas.SearchPage.model_validate(data)

    def sparql(self, query: str, *, timeout_s: float | None = None) -> Any:
        """A read-only SPARQL query over the results' JSON-LD and the ontology: the SPARQL
        JSON results (a dict) for SELECT and ASK, N-Triples text for CONSTRUCT and DESCRIBE."""
        body: dict[str, Any] = {"query": query}
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        r = self._send("POST", f"{API}/sparql", idempotent=True, json=body)
        return r.json() if "json" in r.headers.get("content-type", "") else r.text

    # ------------------------------------------------------------------ export

    def export_snapshot(self, *, format: Literal["json", "sqlite"] = "json") -> Any:
        """A consistent snapshot (archiver or admin): a dict for ``json``, the SQLite file's
        bytes for ``sqlite``."""
        r = self._send("GET", f"{API}/export/snapshot", idempotent=True, params={"format": format})
        return r.json() if format == "json" else r.content

    # ------------------------------------------------------------------ requester helper

    def wait_for_results(
        self,
        request_id: str,
        *,
        timeout_s: float = DEFAULT_WAIT_TIMEOUT_S,
        poll_s: float = LONG_POLL_S,
        on_status: Callable[[schemas.RequestDetail], None] | None = None,
    ) -> list[schemas.Result]:
        """Block until the request has results and return them, using the server's long-poll.

        Raises ``RequestRetracted`` if it is retracted (or rejected by an approver),
        ``WaitTimeout`` after ``timeout_s``; the timeout's message says where the request
        stands and why it was last given back. ``on_status`` is called with the request
        after every ``poll_s`` without a result (e.g. to show a live status line).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            results = self.request_results(request_id, wait=max(0.0, min(poll_s, remaining)))
            if results:
                return results
            request = self.get_request(request_id)
            if on_status is not None:
                on_status(request)
            if request.status in (RequestStatus.RETRACTED, RequestStatus.REJECTED):
                raise RequestRetracted(
                    f"request {request_id} was {request.status.value}: "
                    f"{self._last_reason(request_id)}"
                )
            if request.status in (RequestStatus.RESOLVED, RequestStatus.UNSOLICITED):
                # Resolved since the long-poll answered (its result committed in between),
                # or its results were deleted meanwhile: read them once more either way.
                return self.request_results(request_id)
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"no result for request {request_id} within {timeout_s:g} s "
                    f"({where_it_stands(request)})",
                    request_id=request_id,
                )

    def _last_reason(self, request_id: str) -> str:
        events = self.request_history(request_id)
        return events[-1].message if events else ""

    def submit_and_wait(
        self,
        quantity: str,
        methods: list[str],
        parameters: Mapping[str, Mapping[str, Any]],
        *,
        parent_request_id: str | None = None,
        timeout_s: float = DEFAULT_WAIT_TIMEOUT_S,
        retract_on_timeout: bool = False,
    ) -> list[schemas.Result]:
        """Post a request and wait for its result(s) (see ``wait_for_results``).

        With ``retract_on_timeout`` the request is withdrawn when no result came in time,
        so that no tenant starts work nobody waits for any more.
        """
        request = self.submit_request(
            quantity, methods, parameters, parent_request_id=parent_request_id
        )
        try:
            return self.wait_for_results(request.id, timeout_s=timeout_s)
        except WaitTimeout:
            if retract_on_timeout:
                self.retract(request.id, message=f"no result within {timeout_s:g} s")
            raise


def where_it_stands(request: schemas.RequestDetail) -> str:
    """Where a waited-for request stands, in words: its status, who holds it, and why it
    was last given back, e.g. "it is pending; last released by bot-a: 'cell too hot'"."""
    text = f"it is {request.status.value}"
    if request.status is RequestStatus.RESERVED and request.reserved_by:
        text += f" by tenant {request.reserved_by}"
    last = request.last_release
    if last is not None:
        text += f"; last released by {last.actor}: {last.message!r}"
    return text


def _pages(list_page: Any, page_size: int, filters: dict[str, Any]) -> Iterator[Any]:
    """Follow ``next_cursor`` through a listing until its last page."""
    cursor = None
    while True:
        page = list_page(cursor=cursor, limit=page_size, **filters)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
