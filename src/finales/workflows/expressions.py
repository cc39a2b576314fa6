"""Computed values in workflow files: Jinja2 expressions in its immutable sandbox, never eval.

A string that is one ``{{ expression }}`` evaluates to the expression's value (a number stays
a number, a list a list); a string with other text around ``{{ }}`` renders to a string; any
other value is a constant. Expressions see only what the orchestrator passes (the parent's
``parameters``, ``steps``, ``item``/``index`` in a fan-out, ``result`` in a success test,
``failures`` in the result): the sandbox refuses private attributes and changing objects,
and an undefined name or key is an error (``StrictUndefined``), never a silent empty value.

``data.values`` reads the key ``values`` of a result, not the dict method: keys win over
attributes for mappings, so that result fields named like dict methods read as expected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_WHOLE = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)
MAX_RENDERED_CHARS = 1_000_000


class ExpressionError(Exception):
    """An expression that could not be compiled or evaluated; ``path`` is the dotted field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '(whole)'}: {message}")
        self.path = path
        self.message = message


class _Environment(ImmutableSandboxedEnvironment):
    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


ENV = _Environment(undefined=StrictUndefined, autoescape=False)


@dataclass(frozen=True)
class Expression:
    """One compiled expression or template string, with the names it reads."""

    source: str
    whole: bool  # one {{ }}: the value itself; else a string template
    ast: nodes.Template
    compiled: Any

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        if self.whole:
            value = self.compiled(**context)
            if isinstance(value, Undefined):
                str(value)  # raises UndefinedError with Jinja's message
            return value
        return self.compiled.render(**context)

    def names(self) -> set[str]:
        """Top-level names read (``steps``, ``parameters``, ``item``, ...)."""
        from jinja2 import meta

        return set(meta.find_undeclared_variables(self.ast))

    def step_refs(self) -> set[str]:
        """The steps read as ``steps.NAME`` or ``steps['NAME']``."""
        found = set()
        for node in self.ast.find_all(nodes.Getattr):
            if isinstance(node.node, nodes.Name) and node.node.name == "steps":
                found.add(node.attr)
        for item in self.ast.find_all(nodes.Getitem):
            if isinstance(item.node, nodes.Name) and item.node.name == "steps":
                if isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str):
                    found.add(item.arg.value)
        return found

    def reads_steps_dynamically(self) -> bool:
        """True when ``steps`` is used other than ``steps.NAME`` (then the steps it reads
        cannot be known before it runs)."""
        named = sum(
            1
            for node in self.ast.find_all(nodes.Getattr)
            if isinstance(node.node, nodes.Name) and node.node.name == "steps"
        )
        named += sum(
            1
            for item in self.ast.find_all(nodes.Getitem)
            if isinstance(item.node, nodes.Name)
            and item.node.name == "steps"
            and isinstance(item.arg, nodes.Const)
        )
        uses = sum(1 for n in self.ast.find_all(nodes.Name) if n.name == "steps")
        return uses > named


def compile_expression(source: str, path: str) -> Expression | None:
    """The compiled expression of a string (None for a constant string)."""
    if "{{" not in source and "{%" not in source:
        return None
    match = _WHOLE.match(source)
    whole = match is not None and "{{" not in match.group("expr") and "}}" not in match["expr"]
    try:
        if whole:
            inner = match.group("expr") if match else source
            ast = ENV.parse("{{" + inner + "}}")
            compiled: Any = ENV.compile_expression(inner, undefined_to_none=False)
        else:
            ast = ENV.parse(source)
            compiled = ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise ExpressionError(path, f"expression syntax error: {exc.message}") from None
    return Expression(source=source, whole=whole, ast=ast, compiled=compiled)


def compile_tree(value: Any, path: str = "") -> Any:
    """``value`` with each expression string replaced by its ``Expression`` (raises
    ExpressionError naming the field of the first bad one)."""
    if isinstance(value, str):
        expr = compile_expression(value, path)
        return value if expr is None else expr
    if isinstance(value, dict):
        return {k: compile_tree(v, _join(path, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [compile_tree(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def expressions_in(tree: Any, path: str = "") -> Iterator[tuple[str, Expression]]:
    """Every (dotted path, expression) of a compiled tree."""
    if isinstance(tree, Expression):
        yield path, tree
    elif isinstance(tree, dict):
        for k, v in tree.items():
            yield from expressions_in(v, _join(path, str(k)))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from expressions_in(v, f"{path}[{i}]")


def render(tree: Any, context: Mapping[str, Any], path: str = "") -> Any:
    """The JSON value of a compiled tree in ``context``; ExpressionError names the field."""
    if isinstance(tree, Expression):
        try:
            value = tree.evaluate(context)
        except (TemplateError, SecurityError, TypeError, ValueError, ArithmeticError) as exc:
            raise ExpressionError(path, f"{type(exc).__name__}: {exc}") from None
        return to_json(value, path)
    if isinstance(tree, dict):
        return {k: render(v, context, _join(path, str(k))) for k, v in tree.items()}
    if isinstance(tree, list):
        return [render(v, context, f"{path}[{i}]") for i, v in enumerate(tree)]
    return tree


def to_json(value: Any, path: str) -> Any:
    """A plain JSON value from what an expression returned (tuples and Jinja's generators
    become lists); anything else is an error naming the field."""
    if value is None or isinstance(value, bool | int | str):
        if isinstance(value, str) and len(value) > MAX_RENDERED_CHARS:
            raise ExpressionError(path, f"the value has over {MAX_RENDERED_CHARS} characters")
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ExpressionError(path, "the value is not a finite number")
        return value
    if isinstance(value, Mapping):
        return {str(k): to_json(v, _join(path, str(k))) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [to_json(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise ExpressionError(path, f"the value is a {type(value).__name__}, not JSON")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
