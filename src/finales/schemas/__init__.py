"""Wire models shared by the server and the SDK: ``XCreate`` for bodies, ``X`` for reads,
``Page[X]`` for listings."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from finales.domain.principals import Role
from finales.domain.statuses import RequestStatus, ResultStatus

T = TypeVar("T")

NAME = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\- ]+$")


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
    name: str = NAME
    role: Role
    tenant_id: str | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)


class User(BaseModel):
    id: str
    name: str
    role: Role
    tenant_id: str | None
    created_at: datetime


class CapabilityCreate(Strict):
    quantity: str = NAME
    method: str = NAME
    request_schema: dict[str, Any]
    result_schema: dict[str, Any]
    description: str = ""


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


class CapabilityState(Strict):
    message: str = ""


class TenantCreate(Strict):
    name: str = NAME
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


class RequestCreate(Strict):
    quantity: str
    methods: list[str] = Field(min_length=1)
    parameters: dict[str, dict[str, Any]]
    parent_request_id: str | None = None


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


class WorkItem(Request):
    matching_methods: list[str] = Field(description="methods of this request you may serve")


class Claim(Strict):
    lease_seconds: float | None = Field(default=None, description="default: server setting")


class StatusChange(Strict):
    message: str = Field(default="", max_length=10_000, description="why; kept in the history")


class Event(BaseModel):
    seq: int
    at: datetime
    actor: str
    tenant_id: str | None = None
    from_status: str | None
    to_status: str
    message: str
    lease_expires_at: datetime | None = None


class ResultCreate(Strict):
    request_id: str | None = Field(default=None, description="omit for an unsolicited result")
    quantity: str
    method: str
    parameters: dict[str, Any]
    data: dict[str, Any]


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
