"""Properties of limitation matching, checked on generated parameters and limitations."""

from __future__ import annotations

from itertools import permutations
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from finales.domain.limitations import check_limitations, matches

# No example database: the unit tier writes nothing outside the temporary directories.
PROPERTY = settings(deadline=None, database=None, max_examples=60)

KEYS = ("a", "b", "c")
SAFE_INT = 2**53
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
small_ints = st.integers(min_value=-1000, max_value=1000)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-SAFE_INT, max_value=SAFE_INT),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)


@st.composite
def ranges(draw: st.DrawFn) -> dict[str, Any]:
    low, high = sorted((draw(small_ints), draw(small_ints)))
    rng: dict[str, Any] = {}
    if draw(st.booleans()):
        rng["min"] = low
    if draw(st.booleans()):
        rng["max"] = high
    if not rng or draw(st.booleans()):
        rng["step"] = draw(st.sampled_from([1, 2, 5]))
    return rng


entry_limits = st.one_of(small_ints, st.sampled_from(["x", "y", None]), ranges())
field_limits = st.one_of(entry_limits, st.lists(entry_limits, max_size=3))
flat_limitations = st.dictionaries(st.sampled_from(KEYS), field_limits, max_size=3)
FREE_KEY = "z"  # never limited by the generated limitations
flat_params = st.dictionaries(
    st.sampled_from((*KEYS, FREE_KEY)),
    st.one_of(small_ints, st.sampled_from(["x", "y", None])),
    max_size=3,
)


# ------------------------------------------------------------------------------ ranges


@PROPERTY
@given(small_ints, small_ints, st.integers(min_value=-2000, max_value=2000))
def test_integer_range_is_exactly_the_closed_interval(a: int, b: int, value: int) -> None:
    low, high = sorted((a, b))
    assert matches({"t": value}, {"t": {"min": low, "max": high}}) == (low <= value <= high)


@PROPERTY
@given(finite, finite, finite)
def test_float_range_is_the_closed_interval_away_from_the_edges(
    a: float, b: float, value: float
) -> None:
    low, high = sorted((a, b))
    margin = 1e-6 * max(1.0, abs(value))  # far above the matcher's tolerance
    assume(abs(value - low) > margin and abs(value - high) > margin)
    assert matches({"t": value}, {"t": {"min": low, "max": high}}) == (low <= value <= high)


@PROPERTY
@given(finite)
def test_degenerate_range_contains_its_point(value: float) -> None:
    assert matches({"t": value}, {"t": {"min": value, "max": value}})
    assert matches({"t": value}, {"t": [{"min": value, "max": value}]})


@PROPERTY
@given(
    small_ints,
    st.sampled_from([0.1, 0.25, 0.5, 1, 2.5, 3]),
    st.integers(min_value=0, max_value=999),
)
def test_step_grid_contains_grid_points_and_not_midpoints(low: int, step: float, k: int) -> None:
    lim = {"t": {"min": low, "max": low + 1000 * step, "step": step}}
    assert matches({"t": low + k * step}, lim)
    assert not matches({"t": low + (k + 0.5) * step}, lim)


# ------------------------------------------------------------------------------ structure


@PROPERTY
@given(flat_params, flat_limitations, flat_limitations)
def test_top_level_alternatives_are_a_logical_or(
    params: dict[str, Any], first: dict[str, Any], second: dict[str, Any]
) -> None:
    expected = matches(params, first) or matches(params, second)
    assert matches(params, [first, second]) == expected
    assert matches(params, [first]) == matches(params, first)


@PROPERTY
@given(flat_params, flat_limitations)
def test_an_unconstrained_key_never_changes_the_outcome(
    params: dict[str, Any], lim: dict[str, Any]
) -> None:
    assert matches(params, {**lim, FREE_KEY: []}) == matches(params, lim)


@PROPERTY
@given(flat_params, flat_limitations, field_limits)
def test_adding_a_constraint_never_widens(
    params: dict[str, Any], lim: dict[str, Any], extra: Any
) -> None:
    if matches(params, {**lim, FREE_KEY: extra}):
        assert matches(params, lim)


@PROPERTY
@given(scalars)
def test_a_scalar_matches_itself_and_a_list_holding_it(value: Any) -> None:
    assert matches({"x": value}, {"x": value})
    assert matches({"x": value}, {"x": [value]})
    assert matches({"x": value}, {"x": ["never-this-one", value]})


@PROPERTY
@given(st.dictionaries(st.text(max_size=5), scalars, max_size=4))
def test_an_object_of_scalars_matches_itself(obj: dict[str, Any]) -> None:
    assert matches({"o": obj}, {"o": obj})
    assert matches(obj, obj)


# ------------------------------------------------------------------------------ arrays

CHEMICALS = ("EC", "EMC", "DMC", "LiPF6")
elements = st.fixed_dictionaries(
    {"chemical": st.sampled_from(CHEMICALS), "fraction": st.integers(min_value=0, max_value=10)}
)


@st.composite
def element_limits(draw: st.DrawFn) -> dict[str, Any]:
    lim: dict[str, Any] = {}
    if draw(st.booleans()):
        lim["chemical"] = draw(st.sampled_from(CHEMICALS))
    if draw(st.booleans()):
        low, high = sorted(draw(st.lists(st.integers(0, 10), min_size=2, max_size=2)))
        lim["fraction"] = [{"min": low, "max": high}]
    return lim


@PROPERTY
@given(
    st.lists(elements, max_size=5).flatmap(lambda xs: st.tuples(st.just(xs), st.permutations(xs))),
    st.lists(element_limits(), max_size=5),
)
def test_order_of_a_request_array_does_not_matter(
    arrays: tuple[list[dict[str, Any]], list[dict[str, Any]]], alternative: list[dict[str, Any]]
) -> None:
    original, permuted = arrays
    lim = {"formulation": [alternative]}
    assert matches({"formulation": permuted}, lim) == matches({"formulation": original}, lim)


@PROPERTY
@given(st.lists(elements, min_size=1, max_size=5), st.lists(element_limits(), max_size=5))
def test_dropping_a_request_element_never_loses_a_match(
    values: list[dict[str, Any]], alternative: list[dict[str, Any]]
) -> None:
    lim = {"formulation": [alternative]}
    if matches({"formulation": values}, lim):
        assert matches({"formulation": values[1:]}, lim)


@PROPERTY
@given(st.lists(elements, max_size=5), st.lists(element_limits(), max_size=5))
def test_array_matches_only_with_a_distinct_limitation_per_element(
    values: list[dict[str, Any]], alternative: list[dict[str, Any]]
) -> None:
    lim = {"formulation": [alternative]}
    result = matches({"formulation": values}, lim)
    if len(values) > len(alternative):
        assert not result
    # brute force: some injective assignment of elements to element limitations fits
    expected = any(
        all(matches(v, alternative[j]) for v, j in zip(values, chosen, strict=True))
        for chosen in permutations(range(len(alternative)), len(values))
    )
    assert result == expected


@PROPERTY
@given(st.lists(elements, max_size=4), st.lists(st.lists(element_limits(), max_size=4), max_size=3))
def test_alternative_arrays_are_a_logical_or(
    values: list[dict[str, Any]], alternatives: list[list[dict[str, Any]]]
) -> None:
    assume(alternatives)
    expected = any(matches({"f": values}, {"f": [alt]}) for alt in alternatives)
    assert matches({"f": values}, {"f": alternatives}) == expected


# ------------------------------------------------------------------------------ robustness

# Moderate magnitudes only: overflowing values are covered by explicit tests in
# test_limitations.py, and a random search here must not turn into a flaky duplicate of them.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    small_ints,
    finite.filter(lambda v: v == 0 or abs(v) > 1e-6),
    st.text(max_size=4),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(["a", "b", "min", "max", "step", "formulation"]), children, max_size=3
        ),
    ),
    max_leaves=12,
)
SCHEMA = {
    "type": "object",
    "properties": {
        "a": {"type": "number"},
        "b": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "formulation": {
            "type": "array",
            "items": {"type": "object", "properties": {"a": {"type": "integer"}}},
        },
    },
}


@PROPERTY
@given(json_values, json_values)
def test_matching_arbitrary_json_answers_a_bool(params: Any, lim: Any) -> None:
    assert matches(params, lim) in (True, False)


@PROPERTY
@given(json_values)
def test_checking_arbitrary_json_returns_pointer_errors(lim: Any) -> None:
    errors = check_limitations(lim, SCHEMA)
    assert isinstance(errors, list)
    for error in errors:
        assert set(error) == {"pointer", "message"}
        assert error["pointer"] == "" or error["pointer"].startswith("/")
        assert error["message"]
    if not isinstance(lim, dict | list) or lim == []:
        assert errors
