"""The compiled matcher agrees with the reference semantics, and the size bounds refuse what
they should (and pass the FINALES 2 demonstrator's tenant files)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finales.domain.limitations import (
    MAX_DEPTH,
    MAX_LIST_ENTRIES,
    MAX_OFFER_ENTRIES,
    check_bounds,
    check_limitations,
    compile_limitations,
    reference_matches,
)
from tests.conftest import require_finales2_examples

# No example database: the unit tier writes nothing outside the temporary directories.
PROPERTY = settings(deadline=None, database=None, max_examples=400)

# Numbers near each other and near range bounds at the scales where the tolerances act
# (isclose: 1e-12 relative; ranges and steps: 1e-9): the compiled matcher's bisection windows
# must reproduce the reference's edges exactly, not approximately.
BASES = (0, 1, -1, 2.5, 1000, -1e6, 1e6, 0.1, 2**53)
JITTER = (0, 1e-13, -1e-13, 9e-13, -9e-13, 1.1e-12, -1.1e-12, 9e-10, -9e-10, 1.1e-9, -1.1e-9, 0.5)
near = st.builds(
    lambda b, j: b + j * max(1, abs(b)), st.sampled_from(BASES), st.sampled_from(JITTER)
)
numbers = st.one_of(
    st.sampled_from(BASES), near, st.integers(-5, 5), st.sampled_from([10**400, math.inf])
)
scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(["x", "y", "z", ""]), numbers, st.just(math.nan)
)


@st.composite
def ranges(draw: st.DrawFn) -> dict[str, Any]:
    rng: dict[str, Any] = {}
    for key, values in (("min", near), ("max", near), ("step", st.sampled_from([0, 1, 0.5, 2]))):
        if draw(st.booleans()):
            rng[key] = draw(values)
    if not rng or draw(st.integers(0, 9)) == 0:  # now and then malformed
        rng[draw(st.sampled_from(["min", "max"]))] = draw(st.sampled_from(["1", True, math.inf]))
    return rng


KEYS = st.sampled_from(["a", "b", "c", "min", "max"])
limitations = st.recursive(
    st.one_of(scalars, ranges()),
    lambda children: st.one_of(
        st.lists(children, max_size=12),
        st.dictionaries(KEYS, children, max_size=3),
    ),
    max_leaves=30,
)
parameters = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=3)
    ),
    max_leaves=10,
)


@PROPERTY
@given(parameters, limitations)
def test_compiled_matching_equals_the_reference(params: Any, lim: Any) -> None:
    matcher = compile_limitations(lim)
    assert matcher.matches(params) == reference_matches(params, lim)
    nested = compile_limitations({"a": lim})
    assert nested.matches({"a": params}) == reference_matches({"a": params}, {"a": lim})


# Lists of alternative objects long enough to be indexed, values drawn from the same pool.
locations = st.fixed_dictionaries(
    {"address": st.sampled_from(["Ulm", "Kiel", None])},
    optional={
        "detail": st.one_of(st.sampled_from(["v1", "v2", "v3"]), st.lists(st.just("v1"))),
        "slot": st.one_of(st.integers(0, 3), ranges()),
    },
)


@PROPERTY
@given(
    st.lists(locations, min_size=8, max_size=30),
    st.one_of(locations, st.dictionaries(KEYS, scalars), scalars),
)
def test_indexed_alternative_objects_equal_the_reference(lim: list[Any], value: Any) -> None:
    assert compile_limitations(lim).matches(value) == reference_matches(value, lim)
    field = {"origin": lim}
    assert compile_limitations(field).matches({"origin": value}) == reference_matches(
        {"origin": value}, field
    )


@PROPERTY
@given(st.lists(st.one_of(numbers, ranges()), min_size=1, max_size=40), numbers)
def test_number_lists_and_ranges_equal_the_reference(lim: list[Any], value: Any) -> None:
    field = {"t": lim}
    assert compile_limitations(field).matches({"t": value}) == reference_matches(
        {"t": value}, field
    )


jitters = st.sampled_from(JITTER).flatmap(lambda j: st.sampled_from([j, -j]))


@PROPERTY
@given(
    st.sampled_from(BASES),
    st.lists(st.tuples(st.one_of(st.none(), jitters), st.one_of(st.none(), jitters)), max_size=6),
    jitters,
    st.booleans(),
)
def test_values_at_range_edges_equal_the_reference(
    base: float, bounds: list[tuple[float | None, float | None]], at: float, point: bool
) -> None:
    scale = max(1, abs(base))
    lim: list[Any] = [base + at * scale] if point else []
    for low, high in bounds:
        rng = {} if low is None else {"min": base + low * scale}
        rng |= {} if high is None else {"max": base + high * scale}
        lim.append(rng or {"step": 1})
    for value in (base, base + at * scale, base - at * scale):
        field = {"t": lim}
        assert compile_limitations(field).matches({"t": value}) == reference_matches(
            {"t": value}, field
        )


def test_compiled_matcher_edges() -> None:
    tol = 1e-9
    cases: list[tuple[Any, Any, bool]] = [
        ({"t": 5 + 0.9 * tol * 5}, {"t": [{"min": 0, "max": 5}, 7]}, True),
        ({"t": 5 + 1.1 * tol * 5}, {"t": [{"min": 0, "max": 5}, 7]}, False),
        ({"t": -1.1 * tol}, {"t": [{"min": 0, "max": 5}, {"min": 10}]}, False),
        ({"t": 1e6 * (1 + 1e-13)}, {"t": [3, 1e6]}, True),  # isclose, not ==
        ({"t": 1}, {"t": [True, "1"]}, False),  # no coercion between types
        ({"t": True}, {"t": [1, {"min": 0}]}, False),
        ({"t": math.inf}, {"t": [math.inf]}, True),
        ({"t": math.nan}, {"t": [math.nan, {"min": 0}]}, False),
        ({"t": 10**400}, {"t": [10**400]}, True),
        ({"t": {"min": 1}}, {"t": [{"min": 1, "max": 2}, {"min": 1}]}, True),  # fields, not a range
        ({"f": [{"a": 1}, {"a": 2}]}, {"f": [[{"a": 2}, {"a": 1}], [{"a": 3}]]}, True),
        ({"f": "x"}, {"f": [["y"], ["x"]]}, True),  # a scalar against alternative arrays
    ]
    for params, lim, expected in cases:
        assert reference_matches(params, lim) is expected, (params, lim)
        assert compile_limitations(lim).matches(params) is expected, (params, lim)


def test_many_alternatives_at_the_bound_answer_like_the_reference() -> None:
    sites = [{"address": "Ulm", "detail_1": f"vial_{i}"} for i in range(MAX_LIST_ENTRIES)]
    temps = [{"min": 10.0 * i, "max": 10.0 * i + 5} for i in range(MAX_LIST_ENTRIES)]
    names = [f"name-{i}" for i in range(MAX_LIST_ENTRIES)]
    lim = {"origin": sites, "temperature": temps, "name": names}
    assert check_bounds(lim) == []
    matcher = compile_limitations(lim)
    for params in (
        {
            "origin": {"address": "Ulm", "detail_1": "vial_999"},
            "temperature": 9995,
            "name": "name-0",
        },
        {"origin": {"address": "Ulm", "detail_1": "vial_7"}, "temperature": 9996, "name": "name-0"},
        {"origin": {"address": "Kiel", "detail_1": "vial_7"}, "temperature": 5, "name": "name-3"},
        {"origin": {"address": "Ulm", "detail_1": "vial_7"}, "temperature": 7.5, "name": "name-3"},
        {"origin": {"address": "Ulm", "detail_1": "vial_7"}, "temperature": 15, "name": "x"},
    ):
        assert matcher.matches(params) == reference_matches(params, lim)
    assert matcher.matches({"origin": sites[5], "temperature": 50, "name": "name-9"})


# ------------------------------------------------------------------------------ bounds


def nested(depth: int) -> Any:
    lim: Any = {"a": 1}
    for _ in range(depth - 1):
        lim = {"a": lim}
    return lim


def test_bounds_refuse_a_long_list_naming_it() -> None:
    lim = {"a": {"b": list(range(MAX_LIST_ENTRIES + 1))}}
    errors = check_bounds(lim)
    assert [e["pointer"] for e in errors] == ["/a/b"]
    assert str(MAX_LIST_ENTRIES + 1) in errors[0]["message"]
    assert "MAX_LIST_ENTRIES" in errors[0]["message"]
    assert check_bounds({"a": {"b": list(range(MAX_LIST_ENTRIES))}}) == []


def test_bounds_refuse_deep_nesting_naming_the_first_level_too_deep() -> None:
    assert check_bounds(nested(MAX_DEPTH)) == []
    errors = check_bounds(nested(MAX_DEPTH + 1))
    assert [e["pointer"] for e in errors] == ["/a" * MAX_DEPTH]
    assert "MAX_DEPTH" in errors[0]["message"]
    # far deeper than Python's recursion limit: refused, not a RecursionError
    assert check_bounds(nested(5000))[0]["pointer"] == "/a" * MAX_DEPTH


def test_bounds_refuse_too_many_entries_in_all() -> None:
    per_list = MAX_LIST_ENTRIES
    fields = MAX_OFFER_ENTRIES // per_list
    at_bound = {f"f{i}": list(range(per_list - 1)) for i in range(fields)}
    assert sum(len(v) + 1 for v in at_bound.values()) <= MAX_OFFER_ENTRIES
    assert check_bounds(at_bound) == []
    over = {**at_bound, "extra": list(range(per_list))}
    errors = check_bounds(over)
    assert [e["pointer"] for e in errors] == [""]
    assert "MAX_OFFER_ENTRIES" in errors[0]["message"]


def test_check_limitations_reports_bounds_before_the_schema() -> None:
    schema = {"type": "object", "properties": {"t": {"type": "number"}}}
    errors = check_limitations({"t": list(range(MAX_LIST_ENTRIES + 1))}, schema)
    assert [e["pointer"] for e in errors] == ["/t"]
    errors = check_limitations([{"t": 1}, {"t": list(range(MAX_LIST_ENTRIES + 1))}], schema)
    assert [e["pointer"] for e in errors] == ["/1/t"]


def test_the_demonstrator_tenant_files_are_well_inside_the_bounds() -> None:
    files = sorted((require_finales2_examples() / "examples" / "tenants").rglob("*.json"))
    assert files
    offers = 0
    for path in files:
        for offer in json.loads(path.read_text())["limitations"]:
            assert check_bounds(offer["limitations"]) == [], path
            offers += 1
            # ten of it side by side, two levels deeper, still passes
            assert check_bounds({"x": [offer["limitations"]] * 10}) == [], path
    assert offers >= 5


@pytest.mark.parametrize("bad", [None, 3, "x", [], {}])
def test_bounds_accept_trivial_values(bad: Any) -> None:
    assert check_bounds(bad) == []
