"""Wire models shared by the server and the SDK: ``XCreate`` for bodies, ``X`` for reads,
``Page[X]`` for listings."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    ValidationInfo,
    field_validator,
)

from finales.domain.names import NAME_MAX_CHARS, NAME_PATTERN, name_problem
from finales.domain.principals import Role as Role
from finales.domain.statuses import RequestStatus as RequestStatus
from finales.domain.statuses import ResultStatus as ResultStatus

T = TypeVar("T")


def _a_name(value: str) -> str:
    problem = name_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


# A user-given name (quantity, method, tenant, principal): the domain's rule, and its pattern
# in the OpenAPI document.
Name = Annotated[
    str,
    Field(min_length=1, max_length=NAME_MAX_CHARS, pattern=NAME_PATTERN),
    AfterValidator(_a_name),
]
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _not_a_timestamp(value: Any) -> Any:
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError(
            "an ISO 8601 date-time is needed (e.g. 2024-05-01T12:00:00Z), not a number"
        )
    return value


def _representable_in_utc(value: datetime) -> datetime:
    """The stores compare in UTC: 0001-01-01T00:00+14:00 is a valid date-time whose UTC
    instant falls before year 1 (OverflowError in the conversion, a 500 before this check)."""
    try:
        utc = value.astimezone(UTC)
        utc.astimezone(value.tzinfo)
    except (OverflowError, ValueError):
        raise ValueError(
            "the date-time falls outside 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z "
            "once converted to UTC"
        ) from None
    return value


# A date-time from a client (e.g. ``?since=``): ISO 8601 with a UTC offset, whose UTC instant
# is a datetime. Pydantic alone would take a number as a Unix time and a naive date-time as
# it is, which no UTC column can compare.
IsoDatetime = Annotated[
    AwareDatetime, BeforeValidator(_not_a_timestamp), AfterValidator(_representable_in_utc)
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="pass as ?cursor= to get the next page; null at the end"
    )


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class ApiKeyCreate(Strict):
    principal: str = Field(description="name of the principal the key authenticates as")


class ApiKey(BaseModel):
    id: str
    principal: str
    key: str = Field(description="shown once; only its hash is stored")


class UserCreate(Strict):
    name: Name
    role: Role
    tenant_id: str | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)


class User(BaseModel):
    id: str
    name: str
    role: Role
    tenant_id: str | None
    created_at: datetime
    disabled_at: datetime | None = Field(
        default=None, description="when an admin disabled the user; null: enabled"
    )


class UserUpdate(Strict):
    """What an admin changes of a user; an absent field stays as it is."""

    role: Role | None = None
    tenant_id: str | None = Field(
        default=None, description="with role tenant (or archiver): the tenant the user acts as"
    )
    disabled: bool | None = Field(
        default=None, description="true: refuse the user's keys and tokens from now on"
    )
    password: str | None = Field(
        default=None,
        min_length=8,
        max_length=1024,
        description="a new password; the user's earlier tokens end",
    )


class ApiKeyInfo(BaseModel):
    """An API key as listed: never the key or its hash."""

    id: str
    principal: str
    created_at: datetime
    revoked_at: datetime | None


class PrincipalEvent(BaseModel):
    """One entry of a user's audit history."""

    seq: int
    principal: str
    at: datetime
    actor: str
    action: str = Field(
        description="created, api_key_created, api_key_revoked, role_changed, password_set, "
        "disabled, enabled or tokens_ended"
    )
    message: str


class CapabilityCreate(Strict):
    quantity: Name
    method: Name
    request_schema: dict[str, Any]
    result_schema: dict[str, Any]
    description: str = ""
    requires_approval: bool = Field(
        default=False,
        description="its requests wait in awaiting_approval until an admin or approver decides",
    )


class Capability(BaseModel):
    id: str
    quantity: str
    method: str
    version: int
    versions: list[int]
    active: bool
    request_schema: dict[str, Any]
    result_schema: dict[str, Any]
    description: str
    created_at: datetime
    requires_approval: bool = False


class CapabilityState(Strict):
    message: str = ""


class TenantCreate(Strict):
    name: Name
    description: str = ""
    contact: str = ""


class OfferIn(Strict):
    quantity: str
    method: str
    limitations: Any = Field(
        default_factory=dict, description="object, or list of alternative objects"
    )


class Offer(BaseModel):
    quantity: str
    method: str
    limitations: Any


class Tenant(BaseModel):
    id: str
    name: str
    description: str
    contact: str
    created_at: datetime
    offers: list[Offer]


Labels = dict[str, str]
Inputs = list[str]
LABELS_DOC = (
    "at most 16 key -> value strings (keys: names without ':', values: at most 200 "
    "characters), e.g. how a workflow marks its sub-requests; filter with ?label=key:value"
)
INPUTS_DOC = "ids of the results this one used, at most 100; provenance follows them"


class RequestCreate(Strict):
    quantity: str
    methods: list[str] = Field(min_length=1)
    parameters: dict[str, dict[str, Any]] = Field(
        description="one parameter block per method: {method: {name: value, ...}}"
    )
    parent_request_id: str | None = None
    labels: Labels | None = Field(default=None, description=LABELS_DOC)
    inputs: Inputs | None = Field(default=None, description=INPUTS_DOC)

    @field_validator("parameters", mode="before")
    @classmethod
    def _one_block_per_method(cls, value: Any, info: ValidationInfo) -> Any:
        """The most common slip - the parameters themselves, without the level of the
        method - named as such instead of as a list of type errors."""
        methods = info.data.get("methods") or []
        if isinstance(value, dict) and value and not set(value) & set(methods):
            if not all(isinstance(v, dict) for v in value.values()):
                example = methods[0] if methods else "METHOD"
                raise ValueError(
                    "parameters holds one block per method, e.g. "
                    f'{{"{example}": {{...}}}}; got the keys {sorted(value)[:5]} instead'
                )
        return value


class Request(BaseModel):
    id: str
    quantity: str
    methods: list[str]
    parameters: dict[str, dict[str, Any]]
    parent_request_id: str | None
    requester: str
    requester_tenant_id: str | None
    status: RequestStatus
    reserved_by: str | None
    lease_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    labels: Labels = Field(default_factory=dict)
    inputs: Inputs = Field(default_factory=list, description="ids of the results it used")


class WorkItem(Request):
    matching_methods: list[str] = Field(description="methods of this request you may serve")


class Claim(Strict):
    # Strict: a JSON true is no lease length (lax pydantic would read it as 1 s).
    lease_seconds: StrictFloat | None = Field(
        default=None, gt=0, description="default and maximum: server settings"
    )


class StatusChange(Strict):
    message: str = Field(default="", max_length=10_000, description="why; kept in the history")


class Rejection(Strict):
    message: str = Field(
        min_length=1, max_length=10_000, description="why it is rejected; kept in the history"
    )


class Event(BaseModel):
    seq: int
    at: datetime
    actor: str
    tenant_id: str | None = None
    from_status: str | None
    to_status: str
    message: str
    lease_expires_at: datetime | None = None


class RequestCreated(Request):
    """The answer to posting a request (``POST /requests``): the request, and how many
    offers covered it when it was posted."""

    covering_offers: int | None = Field(
        default=None,
        description="current offers (of active capabilities) whose limitations cover the "
        "request when it was posted; 0: no tenant serves it yet, and it waits until one "
        "offers to; null: an answer from a server that did not count",
    )


class RequestDetail(Request):
    """One request as ``GET /requests/{id}`` shows it: with its last release."""

    last_release: Event | None = Field(
        default=None,
        description="the last time it went from reserved back to pending: a tenant's "
        "release with its reason, or an expired lease (actor system); null: never",
    )


class ResultCreate(Strict):
    request_id: str | None = Field(default=None, description="omit for an unsolicited result")
    quantity: str
    method: str
    parameters: dict[str, Any]
    data: dict[str, Any]
    inputs: Inputs | None = Field(default=None, description=INPUTS_DOC)


class ResultAmend(Strict):
    data: dict[str, Any]
    parameters: dict[str, Any] | None = None
    message: str = ""


class Result(BaseModel):
    id: str
    request_id: str
    quantity: str
    method: str
    parameters: dict[str, Any]
    data: dict[str, Any]
    tenant_id: str
    capability_id: str
    status: ResultStatus
    supersedes: str | None
    superseded_by: str | None
    created_at: datetime
    inputs: Inputs = Field(default_factory=list, description="ids of the results it used")


class TreeNode(BaseModel):
    """One request of a workflow tree."""

    id: str
    parent_request_id: str | None
    depth: int = Field(description="levels below the request the tree was asked for (0)")
    quantity: str
    methods: list[str]
    status: RequestStatus
    reserved_by: str | None = Field(description="the reserving (or resolving) tenant's id")
    labels: Labels
    created_at: datetime
    updated_at: datetime = Field(description="when its status last changed")
    result_ids: list[str] = Field(description="its results, oldest first (not the deleted)")


class ErrorItem(BaseModel):
    pointer: str = Field(description="JSON pointer of the offending field ('' for the whole)")
    message: str
    in_: str | None = Field(
        default=None, alias="in", description="body, query, path or header (validation errors)"
    )


class Error(BaseModel):
    """The body of every error response."""

    detail: str = Field(description="what went wrong, naming the field")
    code: str = Field(description="stable machine-readable code, e.g. not_found, invalid_payload")
    errors: list[ErrorItem] = Field(default_factory=list, description="one item per field")


class SearchValue(BaseModel):
    """One annotated value of a search hit: where it is, what it is, how much."""

    pointer: str = Field(description="JSON pointer into the result (/data/... or /parameters/...)")
    concept: str = Field(description="IRI of its ontology class")
    label: str = Field(description="the class's preferred label")
    value: float
    unit: str | None = Field(description="the unit as the capability states it (pint string)")
    chemical: str | None = Field(default=None, description="InChIKey, for a component's value")


class SearchHit(BaseModel):
    id: str
    request_id: str
    quantity: str
    method: str
    tenant_id: str
    tenant: str = Field(description="the posting tenant's name")
    created_at: datetime
    status: ResultStatus
    values: list[SearchValue] = Field(
        description="its values of the concepts asked about (its data values if none were)"
    )


class SearchConcept(BaseModel):
    asked: str = Field(description="the concept as given")
    labels: list[str] = Field(description="the classes it named (preferred labels)")
    classes: int = Field(description="how many classes it stands for, sub-classes included")


class SearchPage(Page[SearchHit]):
    concepts: list[SearchConcept] = Field(
        description="how each concept of the search (concept, where) was understood"
    )


class SparqlQuery(Strict):
    """A read-only SPARQL 1.1 query (SELECT, ASK, CONSTRUCT or DESCRIBE)."""

    query: str = Field(min_length=1, max_length=100_000)
    timeout_s: float | None = Field(
        default=None, gt=0, description="a shorter time limit than the server's (seconds)"
    )
