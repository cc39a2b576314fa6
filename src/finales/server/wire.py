"""Views to the clean API's wire models (``finales.schemas``), as JSON-ready values.

The response models validate the views by attribute, so a field the wire model declares but
a view lacks fails here, in one place, and not in a client.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from finales import schemas
from finales.domain.views import (
    ApiKeyView,
    CapabilityView,
    EventView,
    NewApiKey,
    PrincipalEventView,
    RequestDetailView,
    RequestView,
    ResultView,
    SubmittedRequestView,
    TenantView,
    TreeNodeView,
    UserView,
    WorkItemView,
)


def _json(model: type[BaseModel], view: object) -> Any:
    return model.model_validate(view, from_attributes=True).model_dump(mode="json")


def request(view: RequestView) -> Any:
    return _json(schemas.Request, view)


def request_created(view: SubmittedRequestView) -> Any:
    return _json(schemas.RequestCreated, view)


def request_detail(view: RequestDetailView) -> Any:
    return _json(schemas.RequestDetail, view)


def work_items(views: Iterable[WorkItemView]) -> list[Any]:
    return [_json(schemas.WorkItem, v) for v in views]


def tree_nodes(views: Iterable[TreeNodeView]) -> list[Any]:
    return [_json(schemas.TreeNode, v) for v in views]


def result(view: ResultView) -> Any:
    return _json(schemas.Result, view)


def events(views: Iterable[EventView]) -> list[Any]:
    return [_json(schemas.Event, v) for v in views]


def capability(view: CapabilityView) -> Any:
    return _json(schemas.Capability, view)


def tenant(view: TenantView) -> Any:
    return _json(schemas.Tenant, view)


def user(view: UserView) -> Any:
    return _json(schemas.User, view)


def api_key(view: NewApiKey) -> Any:
    return _json(schemas.ApiKey, view)


def api_key_info(view: ApiKeyView) -> Any:
    return _json(schemas.ApiKeyInfo, view)


def principal_events(views: Iterable[PrincipalEventView]) -> list[Any]:
    return [_json(schemas.PrincipalEvent, v) for v in views]


def page(items: list[Any], cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": cursor}
