"""FINALES 2 wire payloads. Unknown keys are ignored, as FINALES 2's pydantic models did."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Request(Lenient):
    quantity: str
    methods: list[str] = Field(min_length=1)
    parameters: dict[str, dict[str, Any]]
    tenant_uuid: str


class RequestInfo(BaseModel):
    uuid: str
    ctime: str
    status: str
    request: Request


class Result(Lenient):
    data: dict[str, Any]
    quantity: str
    method: list[str] = Field(min_length=1, max_length=1, description="exactly one method")
    parameters: dict[str, dict[str, Any]]
    tenant_uuid: str
    request_uuid: str = ""


class ResultInfo(BaseModel):
    uuid: str
    ctime: str
    status: str
    result: Result


class CapabilityInfo(BaseModel):
    quantity: str
    method: str
    json_schema_specifications: dict[str, Any]
    json_schema_result_output: dict[str, Any]


class LimitationsInfo(BaseModel):
    quantity: str
    method: str
    limitations: list[Any]


class TenantInfo(BaseModel):
    tenant_uuid: str
    name: str
    limitations: list[dict[str, Any]]
    contact_person: str
    is_active: bool


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
