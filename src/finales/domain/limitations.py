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
(unknown keys are refused) and within the size bounds below; ``compile_limitations`` turns a
limitation into a ``Matcher`` that decides whether request parameters fall inside it.
``reference_matches`` is the same rule written as plainly as possible: the specification the
compiled matcher is property-tested against (and the "before" of the benchmark), not used to
serve requests.

Why bounds and a compiler. A limitation is matched against every pending request a ``GET /work``
scans and against every new request a waiting long-poll might want, so its cost multiplies. The
plain matcher walks every entry of every list for each request: a 100k-entry list cost seconds
per ``GET /work``. The bounds (``MAX_LIST_ENTRIES``, ``MAX_DEPTH``, ``MAX_OFFER_ENTRIES``) cap
what a tenant can register, far above what the FINALES 2 demonstrator's tenant files use (at most
88 entries in a list, nesting depth 9, 642 entries in an offer); the compiled matcher looks
discrete values up in sets, finds numeric ranges by bisection over sorted bounds and narrows lists
of alternative objects by an index on one discriminating key, so a match costs about the depth of
the limitation, not its size.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

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
    """Does ``parameters`` (one method's parameter block) fall inside ``limitations``?

    Compiles ``limitations`` for this one call: to match many requests, compile once with
    ``compile_limitations`` and keep the matcher.
    """
    return compile_limitations(limitations).matches(parameters)


def reference_matches(parameters: Any, limitations: Any) -> bool:
    """The specification of matching: plain recursion over the limitation, linear in its
    size. ``Matcher`` must agree with it on every input (tests/unit/test_limitations_compiled)."""
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
# the compiled matcher

_EXACT_TYPES = (str, bool, type(None))  # hashable, compared by type and equality
_INDEX_MIN = 8  # fewer alternative objects than this are tried one by one
_ISCLOSE_WINDOW = 4e-12  # > rel_tol / (1 - rel_tol): every isclose partner lies in the window


class Matcher:
    """A limitation compiled once for many matches; ``matches`` == ``reference_matches``."""

    __slots__ = ("_match",)

    def __init__(self, limitations: Any) -> None:
        root: _Node
        if isinstance(limitations, list) and limitations:
            # Top-level alternatives: any entry matches (no array matching at this level).
            root = _AnyOf(limitations, [_node(e) for e in limitations])
        else:
            root = _node(limitations)
        self._match: Callable[[Any], bool] = root.match

    def matches(self, parameters: Any) -> bool:
        """Does ``parameters`` (one method's parameter block) fall inside the limitation?"""
        return self._match(parameters)


def compile_limitations(limitations: Any) -> Matcher:
    """Compile ``limitations`` (any value: a malformed one matches what the reference does)."""
    return Matcher(limitations)


class _Node(Protocol):
    def match(self, value: Any) -> bool: ...


def _node(lim: Any) -> _Node:
    """Each part of a limitation is compiled exactly once (a list's entries serve both its
    array alternatives and its any-entry half: compiling them twice would double the work at
    every level of nested lists)."""
    if isinstance(lim, dict):
        return _Range(lim) if is_range(lim) else _Object(lim)
    if isinstance(lim, list):
        return _List(lim) if lim else _Always()
    return _Scalar(lim)


class _Always:
    __slots__ = ()

    def match(self, _value: Any) -> bool:
        return True


class _Scalar:
    __slots__ = ("lim", "number", "point")

    def __init__(self, lim: Any) -> None:
        self.lim = lim
        self.number = _is_number(lim)
        self.point = _finite(lim) if self.number else None

    def match(self, value: Any) -> bool:
        if self.number and _is_number(value):
            a, b = _finite(value), self.point
            if a is None or b is None:
                return a is None and b is None and value == self.lim
            return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
        return type(value) is type(self.lim) and value == self.lim


class _Object:
    __slots__ = ("fields",)

    def __init__(self, lim: dict[str, Any]) -> None:
        self.fields = tuple((key, _node(sub).match) for key, sub in lim.items())

    def match(self, value: Any) -> bool:
        if not isinstance(value, dict):
            return False
        # Plain loops, not all()/any() over generators: the generators cost more than the
        # comparisons on the hot path.
        for key, sub in self.fields:
            if not sub(value.get(key)):
                return False
        return True


class _Range:
    """One range: an interval (and step) for numbers; for an object value, the reference
    matches the range's keys as fields, and so does this."""

    __slots__ = ("_as_object", "high", "lim", "low", "step", "valid")

    def __init__(self, lim: dict[str, Any]) -> None:
        self.lim = lim
        bounds = [lim.get(k) for k in ("min", "max", "step")]
        self.valid = all(b is None or (_is_number(b) and _finite(b) is not None) for b in bounds)
        low, high, step = bounds
        self.low = -math.inf if low is None or not self.valid else float(low)
        self.high = math.inf if high is None or not self.valid else float(high)
        self.step = step
        self._as_object: _Object | None = None

    def match(self, value: Any) -> bool:
        if _is_number(value) or not isinstance(value, dict):
            return _in_range(value, self.lim)
        return self.object_match(value)

    def object_match(self, value: Any) -> bool:
        """The range's keys as fields; compiled on first use (a request schema rarely lets an
        object meet a range, and a thousand ranges would otherwise carry a thousand objects)."""
        if self._as_object is None:
            self._as_object = _Object(self.lim)
        return self._as_object.match(value)


class _Intervals:
    """Valid ranges without a step: is ``x`` inside any, in O(log n).

    The reference tests ``not (x < low - tol) and not (x > high + tol)`` with ``tol`` depending
    on ``x``. Both sides are monotone in the bound (float addition is), so over ranges sorted by
    ``low`` the ones whose low side holds form a prefix, found by bisection with the very same
    expression as key; within it the range with the greatest ``high`` decides the high side.
    Exact, not approximately equal: the same float operations as the reference.
    """

    __slots__ = ("lows", "max_highs")

    def __init__(self, ranges: Sequence[_Range]) -> None:
        ordered = sorted(ranges, key=lambda r: r.low)
        self.lows = [r.low for r in ordered]
        self.max_highs: list[float] = []
        top = -math.inf
        for r in ordered:
            top = max(top, r.high)
            self.max_highs.append(top)

    def contains(self, x: float) -> bool:
        tol = 1e-9 * max(1.0, abs(x))
        k = bisect.bisect_right(self.lows, x, key=lambda low: low - tol)
        return k > 0 and not x > self.max_highs[k - 1] + tol


class _AnyOf:
    """Any of a list's entries matches (the entry-wise half of a list limitation).

    Entries are sorted by kind: strings, booleans and nulls into a set; finite numbers into a
    sorted list (``isclose`` partners are found by bisection in a window, then checked exactly);
    step-less ranges into ``_Intervals``; objects into an index on one key whose limitation is a
    plain string, boolean or null in most of them. What fits none of these (ranges with a step,
    non-finite numbers, nested lists, objects the index cannot place) is tried one by one.
    """

    __slots__ = ("exact", "index", "index_key", "intervals", "objects", "points", "ranges", "rest")

    def __init__(self, entries: Sequence[Any], nodes: Sequence[_Node]) -> None:
        self.exact: set[tuple[type, Any]] = set()
        points: list[float] = []
        stepless: list[_Range] = []
        self.ranges: list[_Range] = []  # every range: objects match them as fields
        objects: list[tuple[dict[str, Any], _Object]] = []
        self.rest: list[Callable[[Any], bool]] = []
        for e, n in zip(entries, nodes, strict=True):
            if type(e) in _EXACT_TYPES:
                self.exact.add((type(e), e))
            elif _is_number(e) and _finite(e) is not None:
                points.append(float(e))
            elif isinstance(n, _Range):
                self.ranges.append(n)
                if n.valid and not n.step:
                    stepless.append(n)
            elif isinstance(n, _Object):
                objects.append((e, n))
            else:
                self.rest.append(n.match)
        self.points = sorted(points)
        self.intervals = _Intervals(stepless) if stepless else None
        stepped = [r for r in self.ranges if r.valid and r.step]
        self.index_key, self.index, self.objects = _index_objects(objects)
        # Numbers try the ranges with a step one by one (the step test needs each origin).
        self.rest.extend(r.match for r in stepped)

    def match(self, value: Any) -> bool:
        if type(value) in _EXACT_TYPES:
            if (type(value), value) in self.exact:
                return True
        elif _is_number(value):
            if self._number(value):
                return True
        elif isinstance(value, dict):
            if self._object(value):
                return True
        for entry in self.rest:
            if entry(value):
                return True
        return False

    def _number(self, value: Any) -> bool:
        x = _finite(value)
        if x is None:
            return False  # only non-finite entries (in ``rest``) can match it
        if self.points:
            w = _ISCLOSE_WINDOW * max(1.0, abs(x))
            i = bisect.bisect_left(self.points, x - w)
            while i < len(self.points) and self.points[i] <= x + w:
                if math.isclose(x, self.points[i], rel_tol=1e-12, abs_tol=1e-12):
                    return True
                i += 1
        return self.intervals is not None and self.intervals.contains(x)

    def _object(self, value: dict[str, Any]) -> bool:
        if self.index_key is not None:
            probe = value.get(self.index_key)
            if type(probe) in _EXACT_TYPES:
                for candidate in self.index.get((type(probe), probe), ()):
                    if candidate.match(value):
                        return True
        for obj in self.objects:
            if obj.match(value):
                return True
        for r in self.ranges:
            if r.object_match(value):
                return True
        return False


def _index_objects(
    objects: list[tuple[dict[str, Any], _Object]],
) -> tuple[str | None, dict[tuple[type, Any], list[_Object]], list[_Object]]:
    """Index alternative objects on the key that places the most of them (by a plain string,
    boolean or null limitation): a value can only match the objects filed under its own value
    for that key (a string limitation matches only that very string), or the unplaced ones."""
    if len(objects) < _INDEX_MIN:
        return None, {}, [c for _, c in objects]
    counts: dict[str, int] = {}
    for o, _ in objects:
        for key, sub in o.items():
            if type(sub) in _EXACT_TYPES:
                counts[key] = counts.get(key, 0) + 1
    if not counts:
        return None, {}, [c for _, c in objects]
    key = max(counts, key=lambda k: (counts[k], k))
    index: dict[tuple[type, Any], list[_Object]] = {}
    unplaced: list[_Object] = []
    for o, c in objects:
        sub = o.get(key, _UNPLACED)
        if type(sub) in _EXACT_TYPES:
            index.setdefault((type(sub), sub), []).append(c)
        else:
            unplaced.append(c)
    return key, index, unplaced


_UNPLACED = object()


class _List:
    """A list limitation inside an object: array alternatives for a list value, any entry
    otherwise (and for a list value that no array alternative takes)."""

    __slots__ = ("all_lists", "any_of", "arrays", "elements")

    def __init__(self, lim: list[Any]) -> None:
        nodes = [_node(e) for e in lim]
        self.elements: list[Callable[[Any], bool]] = [n.match for n in nodes]
        self.all_lists = all(isinstance(alt, list) for alt in lim)
        if self.all_lists:  # alternative arrays: each entry's own elements
            self.arrays = [n.elements if isinstance(n, _List) else [] for n in nodes]
        else:
            self.arrays = [self.elements]
        self.any_of = _AnyOf(lim, nodes)

    def match(self, value: Any) -> bool:
        if isinstance(value, list):
            if self.all_lists:
                return any(_assign(value, alt) for alt in self.arrays)
            if _assign(value, self.arrays[0]):
                return True
        return self.any_of.match(value)


def _assign(values: list[Any], alternative: Sequence[Callable[[Any], bool]]) -> bool:
    """``_match_array`` over compiled element limitations (Kuhn's augmenting paths)."""
    if len(values) > len(alternative):
        return False
    fits = [[j for j, lim in enumerate(alternative) if lim(v)] for v in values]
    owner: dict[int, int] = {}

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
# size bounds

MAX_LIST_ENTRIES = 1000  # entries in any one list of a limitation (the demonstrator's most: 88)
MAX_DEPTH = 32  # nested lists and objects, the limitation itself counting 1 (demonstrator: 9)
MAX_OFFER_ENTRIES = 10_000  # list entries and object members in one offer (demonstrator: 642)
_MAX_BOUND_ERRORS = 10  # a refusal names this many fields at most


def check_bounds(limitations: Any) -> list[dict[str, str]]:
    """The size bounds of one offer's limitations, as ``{"pointer", "message"}`` errors
    (pointers relative to the limitation). Iterative, so a refused structure of any depth
    costs no recursion, and it stops at the first bound the whole offer exceeds."""
    errors: list[dict[str, str]] = []
    total = 0
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(limitations, ())]
    while stack and len(errors) < _MAX_BOUND_ERRORS:
        value, path = stack.pop()
        if not isinstance(value, dict | list):
            continue
        if len(path) >= MAX_DEPTH:
            errors.append(
                {
                    "pointer": pointer(*path),
                    "message": f"nested deeper than {MAX_DEPTH} levels (MAX_DEPTH)",
                }
            )
            continue
        if isinstance(value, list) and len(value) > MAX_LIST_ENTRIES:
            errors.append(
                {
                    "pointer": pointer(*path),
                    "message": f"{len(value)} entries; a list in a limitation has at most "
                    f"{MAX_LIST_ENTRIES} (MAX_LIST_ENTRIES)",
                }
            )
            continue
        total += len(value)
        if total > MAX_OFFER_ENTRIES:
            errors.append(
                {
                    "pointer": "",
                    "message": f"more than {MAX_OFFER_ENTRIES} entries in all (list entries and "
                    "object members, at every level; MAX_OFFER_ENTRIES)",
                }
            )
            break
        children = value.items() if isinstance(value, dict) else enumerate(value)
        stack.extend(((sub, (*path, key)) for key, sub in children))
    return errors


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
    the limitation object itself. The size bounds (``check_bounds``) are checked first.
    """
    bounds = check_bounds(limitations)
    if bounds:  # the schema walk below is as large as the limitation: not for a refused one
        return bounds
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
