"""A person's tenant file: what a person serves, and how tasks and answers are worded.

    tenant: transport
    offers:
      - quantity: transport
        method: transport_service
        limitations: {}
        task: "Carry {{ origin.detail_2 }} from {{ origin.detail_1 }} to {{ destination.detail_1 }}"
        done: {success: true, actual_new_location: "{{ destination }}", executant: "{{ person }}"}
        failed: {success: false, actual_new_location: "{{ origin }}", executant: "{{ person }}"}

``task`` is rendered from the request's parameter block (its fields are variables, e.g.
``origin``) into the text the person reads. ``done`` and ``failed`` build the result data
from the answer: a string that is exactly one ``{{ expression }}`` takes the expression's
value as it is (an object, a number, a boolean), any other string is rendered as text, and
everything else is copied. So what a person types only ever becomes a string value, never
structure. Templates run in Jinja2's immutable sandbox (no attribute access to internals,
no mutation, no imports), and a string filter ``number`` / ``integer`` that refuses garbage
(Jinja's own ``float`` silently gives 0.0) turns a typed value into a number.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2 import ChainableUndefined, StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from finales.errors import FinalesError, InvalidPayload
from finales.schemas import WorkItem

# A template string that is one expression and nothing else: its value is kept as it is.
_ONE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\{\{|\}\}).)*)\}\}\s*$", re.DOTALL)

Builder = Callable[[Mapping[str, Any]], Any]


class TaskFileError(FinalesError):
    """The person's tenant file cannot be used: unreadable, not the format, a bad template."""

    code = "invalid_task_file"


class AnswerError(InvalidPayload):
    """An answer does not make a result (a template failed on it, or the result breaks the
    capability's result schema); ``errors`` name the fields."""

    code = "invalid_answer"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class OfferEntry(_Strict):
    """One offer of the file: what the tenant publishes, plus its templates."""

    quantity: str = Field(min_length=1)
    method: str = Field(min_length=1)
    limitations: Any = Field(default_factory=dict)
    task: str = Field(min_length=1, description="the task in plain words (Jinja2)")
    done: dict[str, Any] = Field(description="result data for 'done [note]'")
    failed: dict[str, Any] = Field(description="result data for 'failed REASON'")


class TaskFileModel(_Strict):
    tenant: str | None = Field(default=None, description="the tenant's name (--tenant wins)")
    description: str | None = None
    offers: list[OfferEntry] = Field(min_length=1)


def _environment(undefined: type[Undefined]) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=undefined, autoescape=False)
    env.filters["number"] = _number
    env.filters["integer"] = _integer
    return env


def _number(value: Any) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"{str(value)!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{str(value)!r} is not a finite number")
    return number


def _integer(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"{str(value)!r} is not a whole number") from None


# Task text: a missing optional field reads as nothing rather than stopping the task.
_TEXT_ENV = _environment(ChainableUndefined)
# Results: a name the template does not know is a mistake, never an empty value.
_DATA_ENV = _environment(StrictUndefined)


def _compile_value(value: Any, where: str) -> Builder:
    """A builder of the value ``value`` stands for (strings are templates)."""
    try:
        if isinstance(value, str):
            match = _ONE_EXPRESSION.match(value)
            if match:
                expression = _DATA_ENV.compile_expression(
                    match["expr"].strip(), undefined_to_none=False
                )
                return lambda ctx: _defined(expression(**ctx))
            template = _DATA_ENV.from_string(value)
            return lambda ctx: template.render(**ctx)
    except TemplateError as exc:
        raise TaskFileError(f"{where}: {exc}") from None
    if isinstance(value, dict):
        fields = {k: _compile_value(v, f"{where}/{k}") for k, v in value.items()}
        return lambda ctx: {k: build(ctx) for k, build in fields.items()}
    if isinstance(value, list):
        items = [_compile_value(v, f"{where}/{i}") for i, v in enumerate(value)]
        return lambda ctx: [build(ctx) for build in items]
    return lambda _ctx: value


def _defined(value: Any) -> Any:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return value


@dataclass(frozen=True)
class PersonOffer:
    """One offer with its compiled templates."""

    entry: OfferEntry
    where: str  # "FILE: /offers/0", for messages
    _task: Callable[..., str]
    _done: Builder
    _failed: Builder

    @property
    def quantity(self) -> str:
        return self.entry.quantity

    @property
    def method(self) -> str:
        return self.entry.method

    def task_text(self, context: Mapping[str, Any]) -> str:
        """The task in plain words; if the template fails on this request, the parameters
        as JSON with the reason (the person still sees what is asked)."""
        try:
            return self._task(**context).strip()
        except (TemplateError, ValueError, TypeError) as exc:
            raw = json.dumps(context.get("parameters"), indent=2, default=str)
            return f"(the task template failed: {exc})\nparameters: {raw}"

    def result_data(self, answer: str, context: Mapping[str, Any], *, note: str) -> Any:
        """The result data for ``answer`` (``done`` or ``failed``) with ``note`` as the
        note (done) or the reason (failed). Raises AnswerError when a template fails."""
        build = self._done if answer == "done" else self._failed
        try:
            data = build({**context, "note": note, "reason": note})
            return json.loads(json.dumps(data, allow_nan=False))
        except (TemplateError, ValueError, TypeError) as exc:
            raise AnswerError(
                f"the {answer} template of {self.where} cannot make a result from this "
                f"answer: {exc}",
                errors=[{"pointer": f"/offers/{answer}", "message": str(exc)}],
            ) from None


@dataclass(frozen=True)
class TaskFile:
    """A loaded person's tenant file."""

    path: Path
    tenant: str | None
    offers: tuple[PersonOffer, ...]


def load_task_file(path: Path) -> TaskFile:
    """Read, check and compile ``path``; TaskFileError names the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TaskFileError(f"cannot read {path}: {exc}") from None
    try:
        model = TaskFileModel.model_validate(raw)
    except ValidationError as exc:
        errors = [
            {"pointer": "/" + "/".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors()
        ]
        first = errors[0]
        raise TaskFileError(
            f"{path}: {first['pointer']}: {first['message']}", errors=errors
        ) from None
    seen: set[tuple[str, str]] = set()
    offers = []
    for i, entry in enumerate(model.offers):
        where = f"{path}: /offers/{i}"
        if (entry.quantity, entry.method) in seen:
            raise TaskFileError(f"{where}: {entry.quantity}/{entry.method} is offered twice")
        seen.add((entry.quantity, entry.method))
        try:
            task = _TEXT_ENV.from_string(entry.task).render
        except TemplateError as exc:
            raise TaskFileError(f"{where}/task: {exc}") from None
        done = _compile_value(entry.done, f"{where}/done")
        failed = _compile_value(entry.failed, f"{where}/failed")
        offers.append(PersonOffer(entry, where, task, done, failed))
    return TaskFile(path=path, tenant=model.tenant, offers=tuple(offers))


def task_context(item: WorkItem, method: str, *, tenant: str, person: str) -> dict[str, Any]:
    """The variables of the templates for one request: the fields of the chosen method's
    parameter block, plus ``parameters``, ``request``, ``tenant`` and ``person``."""
    block = item.parameters.get(method, {})
    request = {
        "id": item.id,
        "quantity": item.quantity,
        "method": method,
        "methods": list(item.methods),
        "requester": item.requester,
        "parent_request_id": item.parent_request_id,
        "labels": dict(item.labels),
        "created_at": item.created_at.isoformat(),
    }
    return {
        **block,
        "parameters": block,
        "request": request,
        "tenant": tenant,
        "person": person,
    }
