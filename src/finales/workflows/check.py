"""Checking a workflow before it runs: the graph, the expressions, and the capabilities.

``compile_workflow`` checks what the file alone can tell (step names, ``needs`` naming steps
that exist and forming no cycle, expressions that compile and read only what they may, a
``failure`` result when a step may fail the workflow) and returns the compiled workflow the
orchestrator runs. ``check_capabilities`` checks it against a capability catalogue (a
broker's, or the built-in library offline): every step's capability exists, and the
parameters known before the run (constants) can satisfy its request schema; the same for the
result templates against the served capability's result schema.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from finales.workflows.expressions import (
    ENV,
    Expression,
    ExpressionError,
    compile_expression,
    compile_tree,
    expressions_in,
)
from finales.workflows.model import STEP_NAME, Problem, Workflow, WorkflowInvalid

# What each kind of expression may read.
BASE_NAMES = frozenset({"parameters", "steps", "request_id", "workflow", "vars"})
FAN_OUT_NAMES = frozenset({"item", "index"})
RESULT_NAMES = BASE_NAMES | {"failures", "partial"}
JINJA_GLOBALS = frozenset(ENV.globals)
# jsonschema errors that stay true whatever the unknown (computed) values turn out to be.
DEFINITE = frozenset(
    {"required", "additionalProperties", "propertyNames", "dependentRequired", "minProperties"}
)


@dataclass(frozen=True)
class CompiledStep:
    name: str
    parameters: Any  # a tree with Expression leaves, or one Expression
    for_each: Expression | None
    success: Expression | None
    needs: tuple[str, ...]
    upstream: frozenset[str]  # every step it needs, directly or not


@dataclass(frozen=True)
class CompiledWorkflow:
    """A checked workflow: its steps in an order where each comes after those it needs."""

    workflow: Workflow
    steps: dict[str, CompiledStep]
    order: tuple[str, ...]
    result: Any
    failure: Any

    @property
    def name(self) -> str:
        return self.workflow.name


@dataclass
class Catalogue:
    """Capabilities to check against: (quantity, method) -> (request schema, result schema,
    active). ``authoritative``: a capability missing here does not exist (a broker's
    catalogue); otherwise it is only not known (the built-in library, offline)."""

    entries: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any], bool]]
    authoritative: bool
    source: str
    unknown: list[str] = field(default_factory=list)  # offline: pairs not checked


def compile_workflow(wf: Workflow) -> CompiledWorkflow:
    """The compiled workflow; raises WorkflowInvalid listing every problem found."""
    problems: list[Problem] = []
    steps: dict[str, CompiledStep] = {}
    for name, step in wf.steps.items():
        if not STEP_NAME.match(name):
            problems.append(
                Problem(name, "", "a step name is a letter then letters, digits or _ (max 64)")
            )
        if name == "steps" or name in BASE_NAMES | RESULT_NAMES:
            problems.append(Problem(name, "", "this name is reserved"))
        for i, need in enumerate(step.needs):
            if need not in wf.steps:
                problems.append(Problem(name, f"needs[{i}]", f"unknown step {need!r}"))
            elif need == name:
                problems.append(Problem(name, f"needs[{i}]", "a step cannot need itself"))
        if step.quantity == wf.serves.quantity and wf.serves.method in step.methods:
            problems.append(
                Problem(name, "quantity", "requests the workflow's own capability (a loop)")
            )
    cycle = _find_cycle(wf)
    if cycle:
        problems.append(Problem(cycle[0], "needs", "cycle: " + " -> ".join(cycle)))
    order = () if cycle else _topological(wf)
    upstream = {n: _upstream(wf, n) for n in wf.steps} if not cycle else {}
    for name in wf.steps:
        compiled = _compile_step(wf, name, upstream.get(name, frozenset()), problems)
        if compiled is not None:
            steps[name] = compiled
    result = _compile_result(wf, "result", problems)
    failure = _compile_result(wf, "failure", problems)
    fails = [n for n in wf.steps if wf.policy(n).on_failure == "fail"]
    if fails and wf.failure is None:
        problems.append(
            Problem(
                None,
                "failure",
                f"steps {', '.join(fails)} may fail the workflow (on_failure: fail): say what "
                "the parent request gets then with a 'failure' result",
            )
        )
    if problems:
        raise WorkflowInvalid(problems, source=wf.name)
    return CompiledWorkflow(wf, steps, order, result, failure)


def _compile_step(
    wf: Workflow, name: str, upstream: frozenset[str], problems: list[Problem]
) -> CompiledStep | None:
    step = wf.steps[name]
    allowed = BASE_NAMES | (FAN_OUT_NAMES if step.for_each else frozenset())
    before = len(problems)
    parameters = _compiled(step.parameters, "parameters", name, problems)
    if isinstance(step.parameters, str) and not isinstance(parameters, Expression):
        problems.append(Problem(name, "parameters", "a parameter block or one {{ expression }}"))
    for_each = None
    if step.for_each is not None:
        for_each = _one_expression(step.for_each, name, "for_each", problems)
    success = None
    if step.success is not None:
        success = _one_expression(step.success, name, "success", problems)
    for where, tree, names in (
        ("parameters", parameters, allowed),
        ("for_each", for_each, BASE_NAMES),
        ("success", success, allowed | {"result"}),
    ):
        for path, expr in expressions_in(tree, where if not isinstance(tree, Expression) else ""):
            _check_reads(wf, name, path or where, expr, names, upstream, problems)
    if len(problems) > before:
        return None
    return CompiledStep(name, parameters, for_each, success, tuple(step.needs), upstream)


def _compiled(value: Any, where: str, step: str | None, problems: list[Problem]) -> Any:
    try:
        return compile_tree(value, where)
    except ExpressionError as exc:
        problems.append(Problem(step, exc.path, exc.message))
        return None


def _one_expression(
    source: str, step: str, where: str, problems: list[Problem]
) -> Expression | None:
    try:
        expr = compile_expression(source, where)
    except ExpressionError as exc:
        problems.append(Problem(step, where, exc.message))
        return None
    if expr is None or not expr.whole:
        problems.append(Problem(step, where, "must be one {{ expression }}"))
        return None
    return expr


def _check_reads(
    wf: Workflow,
    step: str | None,
    path: str,
    expr: Expression,
    allowed: frozenset[str],
    upstream: frozenset[str] | None,
    problems: list[Problem],
) -> None:
    for unknown in sorted(expr.names() - allowed - JINJA_GLOBALS):
        problems.append(
            Problem(step, path, f"unknown name {unknown!r} (may use {', '.join(sorted(allowed))})")
        )
    for ref in sorted(expr.step_refs()):
        if ref not in wf.steps:
            problems.append(Problem(step, path, f"reads steps.{ref}: no such step"))
        elif upstream is not None and ref not in upstream:
            problems.append(
                Problem(step, path, f"reads steps.{ref} but does not need it (add it to needs)")
            )
    if upstream is not None and expr.reads_steps_dynamically():
        problems.append(
            Problem(step, path, "read a step as steps.NAME, so that its needs can be checked")
        )


def _compile_result(wf: Workflow, where: str, problems: list[Problem]) -> Any:
    value = getattr(wf, where)
    tree = _compiled(value, where, None, problems)
    for path, expr in expressions_in(tree, where):
        _check_reads(wf, None, path, expr, RESULT_NAMES, None, problems)
    return tree


def _find_cycle(wf: Workflow) -> list[str] | None:
    """One cycle of ``needs`` as a path that returns to its first step, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for need in wf.steps[name].needs:
            if need not in wf.steps or need == name:
                continue  # reported on their own
            if state.get(need) == 1:
                return [*path[path.index(need) :], need]
            if need not in state:
                found = visit(need)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for name in wf.steps:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def _topological(wf: Workflow) -> tuple[str, ...]:
    done: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for need in wf.steps[name].needs:
            if need in wf.steps and need != name:
                visit(need)
        done.append(name)

    for name in wf.steps:
        visit(name)
    return tuple(done)


def _upstream(wf: Workflow, name: str) -> frozenset[str]:
    found: set[str] = set()
    todo = [n for n in wf.steps[name].needs if n in wf.steps and n != name]
    while todo:
        n = todo.pop()
        if n not in found:
            found.add(n)
            todo.extend(x for x in wf.steps[n].needs if x in wf.steps and x != n)
    return frozenset(found)


# ------------------------------------------------------------------ capabilities


def builtin_catalogue() -> Catalogue:
    """The built-in capability library (``finales.capabilities``), for offline checks."""
    from finales.capabilities import CAPABILITIES

    entries = {c.key: (c.request_schema(), c.result_schema(), True) for c in CAPABILITIES}
    return Catalogue(entries, authoritative=False, source="the built-in capability library")


def check_capabilities(compiled: CompiledWorkflow, catalogue: Catalogue) -> list[Problem]:
    """Problems of the steps' and the served capability against ``catalogue``; pairs it does
    not know (offline) are listed in ``catalogue.unknown`` instead."""
    wf = compiled.workflow
    problems: list[Problem] = []
    for name in compiled.order:
        step = wf.steps[name]
        for i, method in enumerate(step.methods):
            entry = _lookup(catalogue, step.quantity, method, name, f"methods[{i}]", problems)
            if entry is None:
                continue
            tree = compiled.steps[name].parameters
            for path, message in constant_problems(tree, entry[0]):
                field = f"parameters.{path}" if path else "parameters"
                problems.append(Problem(name, field, f"{message} (for {step.quantity}/{method})"))
    served = _lookup(catalogue, wf.serves.quantity, wf.serves.method, None, "serves", problems)
    if served is not None:
        for where, tree in (("result", compiled.result), ("failure", compiled.failure)):
            if where == "failure" and wf.failure is None:
                continue
            for path, message in constant_problems(tree, served[1]):
                problems.append(Problem(None, f"{where}.{path}" if path else where, message))
    return problems


def _lookup(
    catalogue: Catalogue,
    quantity: str,
    method: str,
    step: str | None,
    where: str,
    problems: list[Problem],
) -> tuple[dict[str, Any], dict[str, Any], bool] | None:
    entry = catalogue.entries.get((quantity, method))
    if entry is None:
        if catalogue.authoritative:
            problems.append(
                Problem(step, where, f"unknown capability {quantity}/{method} ({catalogue.source})")
            )
        else:
            catalogue.unknown.append(f"{quantity}/{method}")
        return None
    if not entry[2]:
        problems.append(Problem(step, where, f"capability {quantity}/{method} is deactivated"))
    return entry


class _Unknown:
    """Stands for a value computed at run time: no JSON type matches it, and an error about
    a value holding one is dropped (it may not be an error once the value is known)."""

    def __repr__(self) -> str:
        return "<computed>"


def _with_unknowns(tree: Any) -> Any:
    if isinstance(tree, Expression):
        return _Unknown()
    if isinstance(tree, dict):
        return {k: _with_unknowns(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_with_unknowns(v) for v in tree]
    return tree


def _holds_unknown(value: Any) -> bool:
    if isinstance(value, _Unknown):
        return True
    if isinstance(value, dict):
        return any(_holds_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_unknown(v) for v in value)
    return False


def constant_problems(tree: Any, schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(dotted path, message) of what is surely wrong in a compiled tree for ``schema``:
    constants that break it, required keys missing, unknown keys. Whatever depends on a
    computed value is left to the run (and the broker's own check)."""
    instance = _with_unknowns(tree)
    if isinstance(instance, _Unknown):
        return []
    validator = Draft202012Validator(dict(schema))
    out: list[tuple[str, str]] = []
    for err in validator.iter_errors(instance):
        out.extend(_definite(err))
    return sorted(set(out))


def _definite(err: ValidationError) -> Iterable[tuple[str, str]]:
    if err.validator in ("anyOf", "oneOf") and err.context:
        if _holds_unknown(err.instance):
            return []
        branches = [
            e for e in err.context if not (e.validator == "type" and e.validator_value == "null")
        ]
        if branches:
            best = max(branches, key=lambda e: len(e.absolute_path))
            return _definite(best)
    if _holds_unknown(err.instance) and err.validator not in DEFINITE:
        return []
    parts = [str(p) for p in err.absolute_path]
    message = err.message
    instance = err.instance
    if (
        err.validator == "required"
        and isinstance(err.validator_value, list)
        and isinstance(instance, dict)
    ):
        missing = [k for k in err.validator_value if k not in instance]
        if missing:
            parts.append(str(missing[0]))
            message = "required, missing"
    elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
        schema = err.schema if isinstance(err.schema, dict) else {}
        allowed = set(schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        return [(_dotted([*parts, k]), f"unexpected field {k!r}") for k in extra]
    return [(_dotted(parts), message.replace("<computed>", "a computed value"))]


def _dotted(parts: list[str]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out
