"""The workflow file: a YAML document modelled with pydantic.

A file names the capability it serves, its steps (a DAG through ``needs``), per-step
timeouts, retries with backoff and failure policy, and how the final result is assembled.
Every problem is a ``Problem`` naming the step and the field, so that ``finales workflow
validate`` can print one line per error and the orchestrator refuses a broken file before
it claims anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from finales.errors import InvalidPayload

# Step names are used as ``steps.NAME`` in expressions and as label values: identifiers.
STEP_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
MAX_STEPS = 200
MAX_RETRIES = 100
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> object:
    """Seconds from a number or a string such as ``"90"``, ``"30s"``, ``"5m"``, ``"2h"``,
    ``"7d"`` (cycling takes days: a file should say so plainly)."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError("a duration is a number of seconds or e.g. '30s', '5m', '2h', '7d'")
        return float(match.group(1)) * _UNIT_S[match.group(2)]
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
OnFailure = Literal["fail", "continue"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Served(_Strict):
    """The capability the workflow answers, and the limitations of the orchestrator's offer."""

    quantity: str = Field(min_length=1)
    method: str = Field(min_length=1)
    limitations: Any = Field(default_factory=dict)


class Backoff(_Strict):
    """The pause before retry ``k`` (1-based): ``min(max, initial * factor ** (k - 1))``."""

    initial: Duration = 1.0
    factor: float = Field(default=2.0, ge=1)
    max: Duration = 300.0

    def pause_s(self, retry: int) -> float:
        return float(min(self.max, self.initial * self.factor ** max(0, retry - 1)))


class Defaults(_Strict):
    """Settings every step takes unless it sets its own."""

    timeout: Duration | None = None
    retries: int = Field(default=0, ge=0, le=MAX_RETRIES)
    backoff: Backoff = Field(default_factory=Backoff)
    on_failure: OnFailure = "fail"


class Step(_Strict):
    """One sub-request (or one per element of ``for_each``)."""

    quantity: str = Field(min_length=1)
    methods: list[str] = Field(min_length=1)
    # One parameter block sent for each of ``methods``; strings holding ``{{ ... }}`` are
    # expressions. A whole block may be one expression.
    parameters: dict[str, Any] | str = Field(default_factory=dict)
    for_each: str | None = None
    needs: list[str] = Field(default_factory=list)
    timeout: Duration | None = None
    retries: int | None = Field(default=None, ge=0, le=MAX_RETRIES)
    backoff: Backoff | None = None
    on_failure: OnFailure | None = None
    # An expression over ``result`` (the data); false makes the attempt a failure. Default:
    # the result's top-level ``success`` when it has one.
    success: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Policy:
    """A step's timeout, retries, backoff and failure policy, defaults applied."""

    timeout_s: float | None
    retries: int
    backoff: Backoff
    on_failure: OnFailure

    @property
    def attempts(self) -> int:
        return 1 + self.retries


class Workflow(_Strict):
    """A whole workflow file."""

    version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    serves: Served
    defaults: Defaults = Field(default_factory=Defaults)
    # Constants the expressions read as ``vars.NAME`` (say, how many cells to build).
    vars: dict[str, Any] = Field(default_factory=dict)
    steps: dict[str, Step] = Field(min_length=1, max_length=MAX_STEPS)
    # The served capability's result data, from ``steps``, ``parameters`` and ``failures``.
    result: Any
    # The result posted when a step with ``on_failure: fail`` has spent its retries.
    failure: Any = None

    def policy(self, name: str) -> Policy:
        step, d = self.steps[name], self.defaults
        return Policy(
            timeout_s=step.timeout if step.timeout is not None else d.timeout,
            retries=step.retries if step.retries is not None else d.retries,
            backoff=step.backoff or d.backoff,
            on_failure=step.on_failure or d.on_failure,
        )


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a workflow file: the step (None: the workflow itself), the field
    (dotted, e.g. ``parameters.cell_info``) and what is wrong."""

    step: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"step {self.step!r}" if self.step is not None else "workflow"
        return f"{where}, field {self.field or '(whole)'}: {self.message}"

    @property
    def pointer(self) -> str:
        parts = ["steps", self.step] if self.step is not None else []
        parts += [p for p in re.split(r"[.\[\]]+", self.field) if p]
        return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class WorkflowInvalid(InvalidPayload):
    """A workflow file with problems; ``problems`` (and ``errors``) name step and field."""

    code = "invalid_workflow"

    def __init__(self, problems: list[Problem], *, source: str = "workflow") -> None:
        self.problems = problems
        lines = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(
            f"{source}: {lines}{more}",
            errors=[{"pointer": p.pointer, "message": p.message} for p in problems],
        )


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice (PyYAML keeps the last one silently, so
    a second step of the same name would replace the first without a word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                line = key_node.start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (line {line})", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(text: str) -> Any:
    """The document in ``text``; a one-problem WorkflowInvalid for a YAML syntax error."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise WorkflowInvalid([Problem(None, "", f"not valid YAML: {exc}")]) from None


def _problem_of(loc: tuple[int | str, ...], message: str) -> Problem:
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] == "steps":
        return Problem(parts[1], ".".join(parts[2:]), message)
    return Problem(None, ".".join(parts), message)


def parse(data: Any) -> Workflow:
    """The workflow of a parsed document, with the structural checks (names, the graph and
    the expressions are checked by ``finales.workflows.check``)."""
    if not isinstance(data, dict):
        raise WorkflowInvalid([Problem(None, "", "a workflow file is a mapping (YAML object)")])
    try:
        return Workflow.model_validate(data)
    except ValidationError as exc:
        problems = [_problem_of(e["loc"], e["msg"]) for e in exc.errors()]
        raise WorkflowInvalid(problems) from None


def load(path: Path | str) -> Workflow:
    """Read and parse a workflow file (structure only; see ``check.check_offline``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkflowInvalid([Problem(None, "", f"cannot read {path}: {exc}")]) from None
    return parse(read_yaml(text))
