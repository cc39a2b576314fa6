"""Typed, read-only views of the broker's objects.

Services build them from database rows and return them; the domain plans status changes
from them; the doors map them to their wire models. They are frozen: a view is what was
read at one moment, and a change is a new view (``dataclasses.replace``), never an edit.
Nested JSON (parameters, data, schemas, limitations) is kept as the decoded JSON value.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any

from finales.domain.principals import Role
from finales.domain.statuses import RequestStatus, ResultStatus

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class RequestView:
    """A request with its current status (the ``request_state`` projection)."""

    seq: int
    id: str
    quantity: str
    methods: list[str]
    parameters: dict[str, JsonObject]
    capability_ids: dict[str, str]
    parent_request_id: str | None
    requester_tenant_id: str | None
    requester: str  # the requesting principal's name
    requester_principal_id: str
    status: RequestStatus
    reserved_by: str | None
    lease_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # Keyword-only with defaults, so that subclasses may still add required fields.
    _: KW_ONLY
    labels: dict[str, str] = field(default_factory=dict)  # set at creation (workflows)
    inputs: list[str] = field(default_factory=list)  # ids of the results it used


@dataclass(frozen=True, slots=True)
class WorkItemView(RequestView):
    """A claimable request with the methods of it that the caller's offers cover."""

    matching_methods: list[str]


@dataclass(frozen=True, slots=True)
class ResultView:
    id: str
    seq: int
    request_id: str
    request_seq: int
    quantity: str
    method: str
    parameters: JsonObject
    data: JsonObject
    tenant_id: str
    principal_id: str
    capability_id: str
    status: ResultStatus
    supersedes: str | None
    superseded_by: str | None
    created_at: datetime
    _: KW_ONLY
    inputs: list[str] = field(default_factory=list)  # ids of the results it used


@dataclass(frozen=True, slots=True)
class TreeNodeView:
    """One request of a workflow tree: where it sits (``depth`` below the tree's top, 0 for
    the top itself), what it asks, how far it got, and the results it has."""

    seq: int
    id: str
    parent_request_id: str | None
    depth: int
    quantity: str
    methods: list[str]
    status: RequestStatus
    reserved_by: str | None
    labels: dict[str, str]
    created_at: datetime
    updated_at: datetime
    result_ids: list[str]


@dataclass(frozen=True, slots=True)
class EventView:
    """One status change of a request or a result (results' events carry no tenant or
    lease)."""

    seq: int
    at: datetime
    actor: str
    from_status: str | None
    to_status: str
    message: str
    tenant_id: str | None = None
    lease_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SubmittedRequestView(RequestView):
    """A request as its creation answers it: with how many current offers covered it then
    (0: it waits until a tenant offers what it asks)."""

    covering_offers: int


@dataclass(frozen=True, slots=True)
class RequestDetailView(RequestView):
    """A request as ``GET /requests/{id}`` shows it: with its last release (a tenant giving
    it back, or its lease running out), which says why a pending request still waits."""

    last_release: EventView | None


@dataclass(frozen=True, slots=True)
class CapabilityView:
    """One version of a capability, with every version number of its pair and whether the
    pair accepts requests now."""

    id: str
    quantity: str
    method: str
    version: int
    versions: list[int]
    active: bool
    request_schema: JsonObject
    result_schema: JsonObject
    description: str
    created_at: datetime
    created_by: str
    requires_approval: bool = False


@dataclass(frozen=True, slots=True)
class CapabilityVersion:
    """One immutable version of a capability: what requests and results are validated
    against (its id keys the compiled validators)."""

    id: str
    quantity: str
    method: str
    version: int
    request_schema: JsonObject
    result_schema: JsonObject
    requires_approval: bool = False


@dataclass(frozen=True, slots=True)
class OfferView:
    quantity: str
    method: str
    limitations: Any

    def as_dict(self) -> dict[str, Any]:
        return {"quantity": self.quantity, "method": self.method, "limitations": self.limitations}


@dataclass(frozen=True, slots=True)
class TenantView:
    id: str
    name: str
    description: str
    contact: str
    created_at: datetime
    created_by: str
    offers: list[OfferView]


@dataclass(frozen=True, slots=True)
class UserView:
    """A principal as others may see it: never its password hash."""

    id: str
    name: str
    role: Role
    tenant_id: str | None
    created_at: datetime
    disabled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ApiKeyView:
    """An API key as an admin may see it: which principal it authenticates as and whether it
    was revoked; never the key or its hash."""

    id: str
    principal: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class PrincipalEventView:
    """One entry of the audit history of a principal (who did what to it, when)."""

    seq: int
    principal: str
    at: datetime
    actor: str
    action: str
    message: str


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A freshly created API key: the only moment the key itself exists outside its owner."""

    id: str
    principal: str
    key: str
