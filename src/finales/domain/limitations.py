"""Limitations: the sub-space of request parameters a tenant's offer covers.

Syntax (FINALES 2, see finales2-wire.md), per parameter, mirroring the request schema:

* a scalar means that value only;
* a list means any of its entries; an empty list means "no restriction" (the demonstrator's
  tenant files use ``[]`` that way);
* a numeric entry may be a range ``{"min": a, "max": b, "step": s}`` (every key optional);
* an object nests: each key limits that field of the parameter object;
* for an array-typed field the limitation is one alternative array (a list of element
  limitations) or a list of such lists (alternatives). A request array matches an alternative
  when every request element matches a *different* element limitation, in any order - so a
  formulation may list its components in any order and leave some out;
* a top-level list of limitation objects means alternatives.

``check_limitations`` validates a limitation strictly against the capability's request schema
(unknown keys are refused) and ``matches`` decides whether request parameters fall inside it.
"""

from __future__ import annotations

import math
from typing import Any

from finales.errors import pointer

RANGE_KEYS = frozenset({"min", "max", "step"})
NULLABLE = "x-finales-nullable"  # marks a schema whose Optional (anyOf null) wrapper was removed
_NUMERIC = ("number", "integer")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (NaN, infinities, integers beyond float range)."""
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def is_range(lim: Any) -> bool:
    return isinstance(lim, dict) and bool(lim) and lim.keys() <= RANGE_KEYS


# ---------------------------------------------------------------------------------------------
# matching


def matches(parameters: Any, limitations: Any) -> bool:
    """Does ``parameters`` (one method's parameter block) fall inside ``limitations``?"""
    if isinstance(limitations, list):
        if not limitations:
            return True
        return any(_match(parameters, alt) for alt in limitations)
    return _match(parameters, limitations)


def _match(value: Any, lim: Any) -> bool:
    if isinstance(lim, dict):
        if is_range(lim) and (_is_number(value) or not isinstance(value, dict)):
            return _in_range(value, lim)
        if not isinstance(value, dict):
            return False
        # Plain loops, not all()/any() over generators: matching runs for every waiting
        # long-poll on every new request, and the generators cost more than the comparisons.
        for key, sub in lim.items():
            if not _match(value.get(key), sub):
                return False
        return True
    if isinstance(lim, list):
        if not lim:
            return True
        if isinstance(value, list):
            if all(isinstance(alt, list) for alt in lim):
                return any(_match_array(value, alt) for alt in lim)
            if _match_array(value, lim):
                return True
        for entry in lim:
            if _match(value, entry):
                return True
        return False
    if _is_number(value) and _is_number(lim):
        a, b = _finite(value), _finite(lim)
        if a is None or b is None:
            return a is None and b is None and value == lim
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return type(value) is type(lim) and value == lim


def _in_range(value: Any, lim: dict[str, Any]) -> bool:
    # Non-finite values (NaN, +-inf, integers beyond float range) are inside no range: NaN
    # compares false both ways and would otherwise slip through every bound.
    x = _finite(value) if _is_number(value) else None
    if x is None:
        return False
    low, high, step = lim.get("min"), lim.get("max"), lim.get("step")
    for b in (low, high, step):
        if b is not None and (not _is_number(b) or _finite(b) is None):
            return False  # a malformed range (refused when offered) matches nothing
    tol = 1e-9 * max(1.0, abs(x))
    if low is not None and x < low - tol:
        return False
    if high is not None and x > high + tol:
        return False
    if step:
        origin = low if low is not None else 0.0
        n: float = (x - origin) / step  # every bound is a finite number (checked above)
        if not math.isfinite(n):
            return False
        return abs(n - round(n)) <= 1e-9 * max(1.0, abs(n))
    return True


def _match_array(values: list[Any], alternative: list[Any]) -> bool:
    """Can each value be assigned a *different* element limitation that it matches?

    A bipartite matching by augmenting paths (Kuhn): polynomial, unlike plain backtracking,
    which is factorial when no assignment exists.
    """
    if len(values) > len(alternative):
        return False
    fits = [[j for j, lim in enumerate(alternative) if _match(v, lim)] for v in values]
    owner: dict[int, int] = {}  # element limitation -> value index

    def augment(i: int, seen: set[int]) -> bool:
        for j in fits[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    return all(augment(i, set()) for i in range(len(values)))


# ---------------------------------------------------------------------------------------------
# validation against the request schema


class _Checker:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.errors: list[dict[str, str]] = []

    def fail(self, path: tuple[str | int, ...], message: str) -> None:
        self.errors.append({"pointer": pointer(*path), "message": message})

    def resolve(self, schema: Any) -> dict[str, Any]:
        """Follow local $refs and unwrap pydantic's single-item allOf and Optional anyOf."""
        for _ in range(50):
            if not isinstance(schema, dict):
                return {}
            if "$ref" in schema:
                ref = schema["$ref"]
                target: Any = self.root
                if not ref.startswith("#"):
                    return {}
                for part in [p for p in ref[1:].split("/") if p]:
                    target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
                schema = {**{k: v for k, v in schema.items() if k != "$ref"}, **target}
                continue
            if "allOf" in schema and len(schema["allOf"]) == 1:
                schema = {**{k: v for k, v in schema.items() if k != "allOf"}, **schema["allOf"][0]}
                continue
            if "anyOf" in schema:
                branches = [b for b in schema["anyOf"] if self.resolve(b).get("type") != "null"]
                if len(branches) == 1:
                    nullable = len(branches) < len(schema["anyOf"]) or schema.get(NULLABLE)
                    rest = {k: v for k, v in schema.items() if k != "anyOf"}
                    schema = {**rest, **branches[0], NULLABLE: bool(nullable)}
                    continue
            return schema
        # Every pass that continues leaves a dict in ``schema``; the check only tells mypy.
        return schema if isinstance(schema, dict) else {}

    @staticmethod
    def kind(schema: dict[str, Any]) -> str:
        t = schema.get("type")
        if isinstance(t, list):
            t = next((x for x in t if x != "null"), None)
        if t:
            return str(t)
        if "properties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        return "any"

    def check(self, lim: Any, schema: Any, path: tuple[str | int, ...]) -> None:
        s = self.resolve(schema)
        if lim is None and _allows_null(s):
            return
        if "anyOf" in s:
            self.check_any_of(lim, s, path)
            return
        kind = self.kind(s)
        if kind == "object":
            self.check_object(lim, s, path)
        elif kind == "array":
            self.check_array(lim, s, path)
        elif kind == "any":
            return
        else:
            self.check_scalar(lim, s, kind, path)

    def check_any_of(self, lim: Any, s: dict[str, Any], path: tuple[str | int, ...]) -> None:
        first: list[dict[str, str]] | None = None
        for branch in s["anyOf"]:
            sub = _Checker(self.root)
            sub.check(lim, branch, path)
            if not sub.errors:
                return
            first = first if first is not None else sub.errors
        self.errors.extend(first or [])

    def check_object(self, lim: Any, s: dict[str, Any], path: tuple[str | int, ...]) -> None:
        if lim is None and _allows_null(s):
            return
        if isinstance(lim, list):
            for i, entry in enumerate(lim):
                self.check_object(entry, s, (*path, i))
            return
        if not isinstance(lim, dict):
            self.fail(path, "expected an object limitation or a list of them")
            return
        props = s.get("properties")
        if props is None:
            return  # a free-form object: nothing to check keys against
        for key, sub in lim.items():
            if key not in props:
                known = ", ".join(sorted(props))
                self.fail((*path, key), f"unknown key {key!r} (the schema has: {known})")
            else:
                self.check(sub, props[key], (*path, key))

    def check_array(self, lim: Any, s: dict[str, Any], path: tuple[str | int, ...]) -> None:
        if not isinstance(lim, list):
            self.fail(path, "an array field is limited by a list (or a list of lists)")
            return
        alternatives = lim if lim and all(isinstance(a, list) for a in lim) else [lim]
        nested = alternatives is lim
        prefix = s.get("prefixItems")
        for a, alt in enumerate(alternatives):
            base = (*path, a) if nested else path
            for i, element in enumerate(alt):
                if prefix is not None:
                    item_schema = prefix[i] if i < len(prefix) else s.get("items", {})
                else:
                    item_schema = s.get("items", {})
                if item_schema is False:
                    self.fail((*base, i), "more elements than the schema allows")
                    continue
                self.check(element, item_schema, (*base, i))

    def check_scalar(
        self, lim: Any, s: dict[str, Any], kind: str, path: tuple[str | int, ...]
    ) -> None:
        if isinstance(lim, list):
            for i, entry in enumerate(lim):
                if entry is None and _allows_null(s):
                    continue
                if isinstance(entry, list):
                    self.fail((*path, i), f"expected a {kind} or a range, not a list")
                else:
                    self.check_scalar(entry, s, kind, (*path, i))
            return
        if isinstance(lim, dict):
            if kind not in _NUMERIC:
                self.fail(path, f"a range is only allowed for numbers, this field is a {kind}")
            elif not is_range(lim):
                extra = sorted(set(lim) - RANGE_KEYS) or ["(empty)"]
                self.fail(path, f"a range has only min, max and step; unknown: {extra[0]}")
            else:
                self.check_range(lim, path)
            return
        if not _scalar_fits(lim, s, kind):
            self.fail(path, f"{lim!r} is not a valid {kind} for this field")

    def check_range(self, lim: dict[str, Any], path: tuple[str | int, ...]) -> None:
        for key, value in lim.items():
            if not _is_number(value) or _finite(value) is None:
                self.fail((*path, key), "must be a finite number")
                return
        low, high, step = lim.get("min"), lim.get("max"), lim.get("step")
        if low is not None and high is not None and low > high:
            self.fail((*path, "min"), f"min {low} is greater than max {high}")
        if step is not None and step <= 0:
            self.fail((*path, "step"), "step must be positive")
        elif step is not None and step < MIN_STEP:
            self.fail((*path, "step"), f"step must be at least {MIN_STEP:g}")


MIN_STEP = 1e-12


def _allows_null(s: dict[str, Any]) -> bool:
    t = s.get("type")
    return bool(s.get(NULLABLE)) or t == "null" or (isinstance(t, list) and "null" in t)


def _scalar_fits(value: Any, s: dict[str, Any], kind: str) -> bool:
    if value is None:
        return _allows_null(s)
    if "const" in s and value != s["const"]:
        return False
    if "enum" in s and value not in s["enum"]:
        return False
    checks = {
        "number": _is_number(value) and _finite(value) is not None,
        "integer": (isinstance(value, int) and not isinstance(value, bool))
        or (_is_number(value) and float(value).is_integer()),
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "null": value is None,
    }
    return checks.get(kind, True)


def check_limitations(limitations: Any, request_schema: dict[str, Any]) -> list[dict[str, str]]:
    """Validate ``limitations`` against a capability's request schema.

    Returns a list of ``{"pointer", "message"}`` (empty when valid). Pointers are relative to
    the limitation object itself.
    """
    checker = _Checker(request_schema)
    if isinstance(limitations, list):
        if not limitations:
            checker.fail((), "a list of alternatives must not be empty")
        for i, alt in enumerate(limitations):
            if not isinstance(alt, dict):
                checker.fail((i,), "each alternative must be an object")
            else:
                checker.check_object(alt, checker.resolve(request_schema), (i,))
    elif isinstance(limitations, dict):
        checker.check_object(limitations, checker.resolve(request_schema), ())
    else:
        checker.fail((), "limitations must be an object or a list of alternative objects")
    return checker.errors
