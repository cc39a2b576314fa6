"""Limitations: matching request parameters against an offer, and strict validation of offers."""

from __future__ import annotations

import copy
import math
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pydantic import BaseModel

from finales.domain.limitations import check_limitations, matches
from finales.domain.validation import ValidatorCache

# ------------------------------------------------------------------------------ building blocks

EC = {"SMILES": "C1COC(=O)O1", "InChIKey": "KMTRUDSVKNLOMY-UHFFFAOYSA-N"}
EMC = {"SMILES": "CCOC(=O)OC", "InChIKey": "JBTWLSYIZRCDFO-UHFFFAOYSA-N"}
DMC = {"SMILES": "COC(=O)OC", "InChIKey": "IEJIGPNLZYLLBP-UHFFFAOYSA-N"}
LIPF6 = {"SMILES": "[Li+].F[P-](F)(F)(F)(F)F", "InChIKey": "AXPLOJNSKRXQPA-UHFFFAOYSA-N"}


def component(chemical: dict[str, str], fraction: float) -> dict[str, Any]:
    return {"chemical": chemical, "fraction": fraction, "fraction_type": "molPerMol"}


def element(chemical: dict[str, str] | None, low: float = 0.0, high: float = 1.0) -> dict[str, Any]:
    """An element limitation: that chemical (any when None) with a fraction in [low, high]."""
    lim: dict[str, Any] = {"fraction": [{"min": low, "max": high}], "fraction_type": ["molPerMol"]}
    if chemical is not None:
        lim["chemical"] = chemical
    return lim


# A hand-written request schema in the shape pydantic produces: $defs, $ref wrapped in a
# one-item allOf, Optional fields as anyOf with null.
SCHEMA: dict[str, Any] = {
    "$defs": {
        "Chemical": {
            "type": "object",
            "properties": {"SMILES": {"type": "string"}, "InChIKey": {"type": "string"}},
            "required": ["SMILES", "InChIKey"],
        },
        "Component": {
            "type": "object",
            "properties": {
                "chemical": {"allOf": [{"$ref": "#/$defs/Chemical"}]},
                "fraction": {"type": "number"},
                "fraction_type": {"type": "string"},
            },
            "required": ["chemical", "fraction", "fraction_type"],
        },
        "Location": {
            "type": "object",
            "properties": {
                "address": {"type": "string"},
                "detail": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
        },
    },
    "type": "object",
    "properties": {
        "formulation": {"type": "array", "items": {"$ref": "#/$defs/Component"}},
        "temperature": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None},
        "solvent": {"type": "string"},
        "cycles": {"type": "integer"},
        "mode": {"type": "string", "enum": ["fast", "slow"]},
        "location": {"anyOf": [{"$ref": "#/$defs/Location"}, {"type": "null"}]},
    },
    "required": ["formulation"],
}


def pointers(errors: list[dict[str, str]]) -> list[str]:
    return [e["pointer"] for e in errors]


# ------------------------------------------------------------------------------ scalars


def test_scalar_limitation_means_that_value_only() -> None:
    assert matches({"solvent": "water"}, {"solvent": "water"})
    assert not matches({"solvent": "ethanol"}, {"solvent": "water"})


def test_scalar_numbers_compare_by_value_not_by_type() -> None:
    assert matches({"cycles": 3}, {"cycles": 3.0})
    assert matches({"temperature": 298.15}, {"temperature": 298.15})
    assert not matches({"temperature": 298.16}, {"temperature": 298.15})


@pytest.mark.parametrize(
    ("value", "lim"),
    [(True, 1), (1, True), (0, False), ("1", 1), (1, "1"), (None, 0), (None, "")],
)
def test_scalar_limitation_does_not_coerce_types(value: Any, lim: Any) -> None:
    assert not matches({"x": value}, {"x": lim})


def test_list_means_any_of_its_entries() -> None:
    lim = {"solvent": ["water", "ethanol"]}
    assert matches({"solvent": "water"}, lim)
    assert matches({"solvent": "ethanol"}, lim)
    assert not matches({"solvent": "acetone"}, lim)


def test_list_may_mix_values_and_ranges() -> None:
    lim = {"temperature": [0, {"min": 10, "max": 20}]}
    assert matches({"temperature": 0}, lim)
    assert matches({"temperature": 15}, lim)
    assert not matches({"temperature": 5}, lim)


def test_empty_list_is_unconstrained() -> None:
    lim = {"solvent": [], "temperature": {"min": 0, "max": 10}}
    assert matches({"solvent": "anything", "temperature": 5}, lim)
    assert matches({"temperature": 5}, lim)
    assert not matches({"solvent": "anything", "temperature": 50}, lim)


def test_empty_limitations_accept_everything() -> None:
    assert matches({"solvent": "x", "temperature": 1e6}, {})
    assert matches({"solvent": "x"}, [])


# ------------------------------------------------------------------------------ ranges


@pytest.mark.parametrize(("value", "expected"), [(1, True), (1.5, True), (2, True)])
def test_range_bounds_are_inclusive(value: float, expected: bool) -> None:
    assert matches({"t": value}, {"t": {"min": 1, "max": 2}}) is expected


@pytest.mark.parametrize("value", [0.999, 2.001, -1.5, 1e9])
def test_range_refuses_values_outside(value: float) -> None:
    assert not matches({"t": value}, {"t": {"min": 1, "max": 2}})


def test_range_with_one_bound_is_open_on_the_other_side() -> None:
    assert matches({"t": 1e12}, {"t": {"min": 0}})
    assert not matches({"t": -0.5}, {"t": {"min": 0}})
    assert matches({"t": -1e12}, {"t": {"max": 0}})
    assert not matches({"t": 0.5}, {"t": {"max": 0}})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (10, True),
        (12.5, True),
        (17.5, True),
        (20, True),
        (11, False),
        (13.75, False),
        (22.5, False),
    ],
)
def test_range_step_is_a_grid_from_min(value: float, expected: bool) -> None:
    assert matches({"t": value}, {"t": {"min": 10, "max": 20, "step": 2.5}}) is expected


def test_range_step_tolerates_float_noise() -> None:
    lim = {"t": {"min": 0, "max": 1, "step": 0.1}}
    assert matches({"t": 0.1 + 0.2}, lim)  # 0.30000000000000004
    assert matches({"t": 0.7}, lim)
    assert not matches({"t": 0.35}, lim)


def test_range_step_without_min_counts_from_zero() -> None:
    lim = {"t": {"max": 1, "step": 0.25}}
    assert matches({"t": 0.75}, lim)
    assert matches({"t": -0.5}, lim)
    assert not matches({"t": 0.8}, lim)


@pytest.mark.parametrize("value", ["1.5", True, None, [1.5], {"value": 1.5}])
def test_range_refuses_non_numbers(value: Any) -> None:
    assert not matches({"t": value}, {"t": {"min": 1, "max": 2}})


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, 10**400], ids=["nan", "inf", "-inf", "10**400"]
)
def test_values_beyond_floats_are_not_inside_a_bounded_range(value: float) -> None:
    # Python's json module (and so a request body) can carry NaN, Infinity and huge integers.
    # None of them lies in [0, 1]; the matcher must say so rather than match or crash.
    assert not matches({"t": value}, {"t": {"min": 0, "max": 1}})
    assert not matches({"t": value}, {"t": {"min": 0, "max": 1, "step": 0.5}})
    assert not matches({"t": value}, {"t": 0.5})


def test_tiny_step_does_not_crash_matching() -> None:
    # A denormal step is refused when the offer is made; matching (which may see limitations
    # stored before that rule) must not crash on it either: (value - min) / step overflows.
    lim = {"t": {"min": 0, "max": 2, "step": 5e-324}}
    errors = check_limitations(lim, {"type": "object", "properties": {"t": {"type": "number"}}})
    assert [e["pointer"] for e in errors] == ["/t/step"]
    assert matches({"t": 1.0}, lim) is False


# ------------------------------------------------------------------------------ objects


def test_objects_nest_and_unmentioned_keys_are_free() -> None:
    lim = {"location": {"address": "KIT HIU Ulm", "detail": ["ASAB", "AutoBASS"]}}
    assert matches({"location": {"address": "KIT HIU Ulm", "detail": "ASAB", "x": 1}}, lim)
    assert not matches({"location": {"address": "KIT HIU Ulm", "detail": "Cycler"}}, lim)
    assert not matches({"location": {"address": "DTU", "detail": "ASAB"}}, lim)


def test_object_limitation_refuses_a_non_object_value() -> None:
    lim = {"location": {"address": "KIT HIU Ulm"}}
    assert not matches({"location": "KIT HIU Ulm"}, lim)
    assert not matches({"location": ["KIT HIU Ulm"]}, lim)


def test_list_of_objects_means_any_of_them() -> None:
    lim = {"origin": [{"address": "A", "detail": "1"}, {"address": "B", "detail": "2"}]}
    assert matches({"origin": {"address": "B", "detail": "2"}}, lim)
    assert not matches({"origin": {"address": "A", "detail": "2"}}, lim)


def test_a_key_named_like_a_range_key_nests_when_the_value_is_an_object() -> None:
    assert matches({"window": {"min": 3, "max": 9}}, {"window": {"min": 3}})
    assert not matches({"window": {"min": 4}}, {"window": {"min": 3}})


# ------------------------------------------------------------------------------ missing keys


def test_missing_parameter_is_treated_as_none() -> None:
    assert matches({}, {"temperature": None})
    assert matches({"solvent": "water"}, {"temperature": [None, 298.15]})
    assert not matches({}, {"temperature": 298.15})
    assert not matches({}, {"temperature": {"min": 0}})
    assert not matches({}, {"location": {"address": "A"}})


def test_explicit_none_matches_a_none_limitation() -> None:
    assert matches({"temperature": None}, {"temperature": None})
    assert not matches({"temperature": 300}, {"temperature": None})


# ------------------------------------------------------------------------------ arrays

ONE_ALTERNATIVE = {"formulation": [element(EC, 0, 0.5), element(EMC, 0.3, 1)]}


def test_array_elements_match_distinct_element_limitations_in_any_order() -> None:
    assert matches({"formulation": [component(EC, 0.2), component(EMC, 0.8)]}, ONE_ALTERNATIVE)
    assert matches({"formulation": [component(EMC, 0.8), component(EC, 0.2)]}, ONE_ALTERNATIVE)


def test_array_subset_of_the_alternative_is_allowed() -> None:
    assert matches({"formulation": [component(EMC, 1.0)]}, ONE_ALTERNATIVE)


def test_array_element_outside_its_limitation_is_refused() -> None:
    assert not matches({"formulation": [component(EC, 0.6), component(EMC, 0.4)]}, ONE_ALTERNATIVE)


def test_array_element_without_any_fitting_limitation_is_refused() -> None:
    request = {"formulation": [component(EC, 0.2), component(DMC, 0.8)]}
    assert not matches(request, ONE_ALTERNATIVE)


def test_array_elements_cannot_share_one_element_limitation() -> None:
    assert not matches({"formulation": [component(EC, 0.1), component(EC, 0.2)]}, ONE_ALTERNATIVE)


def test_array_with_more_elements_than_the_alternative_is_refused() -> None:
    lim = {"formulation": [element(None), element(None)]}  # two components of anything
    two = [component(EC, 0.5), component(EMC, 0.5)]
    assert matches({"formulation": two}, lim)
    assert not matches({"formulation": [*two, component(LIPF6, 0.1)]}, lim)


def test_array_assignment_is_not_greedy() -> None:
    # The first element fits both limitations; only giving it the specific one leaves the
    # generic one for the second element.
    lim = {"formulation": [element(None), element(EC)]}
    assert matches({"formulation": [component(EC, 0.5), component(DMC, 0.5)]}, lim)
    assert matches({"formulation": [component(DMC, 0.5), component(EC, 0.5)]}, lim)


def test_list_of_lists_lists_alternative_arrays() -> None:
    lim = {"formulation": [[element(EC)], [element(DMC), element(LIPF6)]]}
    assert matches({"formulation": [component(EC, 1.0)]}, lim)
    assert matches({"formulation": [component(LIPF6, 0.1), component(DMC, 0.9)]}, lim)
    # elements may not be picked from two different alternatives
    assert not matches({"formulation": [component(EC, 0.5), component(DMC, 0.5)]}, lim)


def test_array_of_scalars_matches_distinct_entries() -> None:
    lim = {"tags": [["a", "b", "c"]]}
    assert matches({"tags": ["c", "a"]}, lim)
    assert not matches({"tags": ["a", "d"]}, lim)
    assert not matches({"tags": ["a", "a"]}, lim)


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except TimeoutError as exc:
        # a fresh exception: the interrupted frames deep in the matcher are not reported
        raise AssertionError(str(exc)) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_array_matching_is_not_exponential_when_no_assignment_exists() -> None:
    # Twelve components of anything fit eleven generic element limitations; the twelfth
    # limitation fits none of them. A bipartite matching answers "no" at once; trying every
    # permutation takes 11! steps.
    n = 12
    lim = {"formulation": [[element(None)] * (n - 1) + [element(DMC)]]}
    request = {"formulation": [component(EC, 1 / n)] * n}
    with time_limit(1.0):
        assert not matches(request, lim)


# ------------------------------------------------------------------------------ alternatives


def test_top_level_list_means_alternative_limitation_objects() -> None:
    lim = [
        {"solvent": "water", "temperature": {"min": 0, "max": 10}},
        {"solvent": "ethanol"},
    ]
    assert matches({"solvent": "water", "temperature": 5}, lim)
    assert not matches({"solvent": "water", "temperature": 20}, lim)
    assert matches({"solvent": "ethanol", "temperature": 20}, lim)
    assert not matches({"solvent": "acetone", "temperature": 5}, lim)


# ------------------------------------------------------------------------------ validation


VALID_LIMITATION: dict[str, Any] = {
    "formulation": [[element(EC, 0, 0.5), element(EMC, 0.35, 1)], [element(None)]],
    "temperature": [{"min": 273.15, "max": 313.15, "step": 5}, 350],
    "solvent": ["water", "ethanol"],
    "cycles": [1, 2, {"min": 10, "max": 20}],
    "mode": "fast",
    "location": [{"address": "KIT HIU Ulm", "detail": ["ASAB", "AutoBASS"]}],
}


def test_valid_limitation_has_no_errors() -> None:
    assert check_limitations(VALID_LIMITATION, SCHEMA) == []


@pytest.mark.parametrize("limitation", [{}, {"solvent": []}, {"formulation": []}])
def test_unconstrained_limitations_are_valid(limitation: dict[str, Any]) -> None:
    assert check_limitations(limitation, SCHEMA) == []


def test_unknown_top_level_key_is_refused() -> None:
    errors = check_limitations({"solvnet": "water"}, SCHEMA)
    assert pointers(errors) == ["/solvnet"]
    assert "solvnet" in errors[0]["message"]


def test_unknown_key_inside_an_array_element_is_named_by_its_pointer() -> None:
    lim = {"formulation": [{"chemical": {"SMILEZ": "CCO"}, "fraction": {"min": 0}}]}
    errors = check_limitations(lim, SCHEMA)
    assert pointers(errors) == ["/formulation/0/chemical/SMILEZ"]
    assert "SMILEZ" in errors[0]["message"]


def test_unknown_key_inside_an_alternative_array_is_named_by_its_pointer() -> None:
    lim = {"formulation": [[element(EC)], [element(EMC), {"fractoin": 0.5}]]}
    assert pointers(check_limitations(lim, SCHEMA)) == ["/formulation/1/1/fractoin"]


def test_every_error_is_reported() -> None:
    lim = {"solvnet": 1, "formulation": [{"chemical": {"SMILEZ": "x"}}], "cycles": "many"}
    found = set(pointers(check_limitations(lim, SCHEMA)))
    assert found == {"/solvnet", "/formulation/0/chemical/SMILEZ", "/cycles"}


@pytest.mark.parametrize(
    ("lim", "where"),
    [
        ({"solvent": {"min": 0, "max": 1}}, "/solvent"),
        ({"solvent": ["water", {"min": 0}]}, "/solvent/1"),
        ({"formulation": [{"fraction_type": [{"min": 0}]}]}, "/formulation/0/fraction_type/0"),
    ],
)
def test_range_on_a_string_field_is_refused(lim: dict[str, Any], where: str) -> None:
    errors = check_limitations(lim, SCHEMA)
    assert pointers(errors) == [where]
    assert "range" in errors[0]["message"]


@pytest.mark.parametrize("temperature", [{"min": 400, "max": 300}, [{"min": 1.5, "max": -1.5}]])
def test_range_with_min_above_max_is_refused(temperature: Any) -> None:
    errors = check_limitations({"temperature": temperature}, SCHEMA)
    assert len(errors) == 1
    assert errors[0]["pointer"].endswith("/min")
    assert errors[0]["pointer"].startswith("/temperature")


def test_range_with_min_equal_max_is_valid() -> None:
    assert check_limitations({"temperature": {"min": 301.15, "max": 301.15}}, SCHEMA) == []


@pytest.mark.parametrize(
    ("rng", "bad_key"),
    [
        ({"min": "cold"}, "min"),
        ({"min": 0, "max": "300"}, "max"),
        ({"min": True, "max": 2}, "min"),
        ({"min": 0, "max": None}, "max"),
        ({"min": 0, "max": 1, "step": [0.1]}, "step"),
    ],
)
def test_non_number_in_a_range_is_refused(rng: dict[str, Any], bad_key: str) -> None:
    assert pointers(check_limitations({"temperature": rng}, SCHEMA)) == [f"/temperature/{bad_key}"]


def test_nan_in_a_range_is_refused() -> None:
    # NaN compares false with everything, so a NaN bound would silently mean "no bound".
    errors = check_limitations({"temperature": {"min": math.nan, "max": 300}}, SCHEMA)
    assert pointers(errors) == ["/temperature/min"]


@pytest.mark.parametrize("step", [0, -0.5])
def test_range_step_must_be_positive(step: float) -> None:
    errors = check_limitations({"temperature": {"min": 0, "max": 1, "step": step}}, SCHEMA)
    assert pointers(errors) == ["/temperature/step"]


def test_range_with_an_unknown_key_is_refused() -> None:
    errors = check_limitations({"temperature": {"min": 0, "maximum": 1}}, SCHEMA)
    assert pointers(errors) == ["/temperature"]
    assert "maximum" in errors[0]["message"]


@pytest.mark.parametrize(
    ("lim", "where"),
    [
        ({"cycles": "three"}, "/cycles"),
        ({"cycles": 2.5}, "/cycles"),
        ({"temperature": "hot"}, "/temperature"),
        ({"solvent": 3}, "/solvent"),
        ({"solvent": ["water", 3]}, "/solvent/1"),
        ({"mode": "medium"}, "/mode"),
        ({"temperature": [[300, 310]]}, "/temperature/0"),
    ],
)
def test_scalar_of_the_wrong_type_is_refused(lim: dict[str, Any], where: str) -> None:
    assert pointers(check_limitations(lim, SCHEMA)) == [where]


def test_whole_number_float_is_a_valid_integer() -> None:
    assert check_limitations({"cycles": 2.0}, SCHEMA) == []


@pytest.mark.parametrize(
    ("lim", "where"),
    [
        ({"formulation": {"fraction": 0.5}}, "/formulation"),
        ({"formulation": "EC"}, "/formulation"),
        ({"location": "KIT"}, "/location"),
        ({"formulation": [{"chemical": "EC"}]}, "/formulation/0/chemical"),
    ],
)
def test_structure_that_does_not_mirror_the_schema_is_refused(
    lim: dict[str, Any], where: str
) -> None:
    assert pointers(check_limitations(lim, SCHEMA)) == [where]


def test_anyof_wrapper_is_an_unknown_key() -> None:
    errors = check_limitations({"anyOf": [{"solvent": "water"}]}, SCHEMA)
    assert pointers(errors) == ["/anyOf"]
    assert "unknown key 'anyOf'" in errors[0]["message"]


def test_refs_and_optional_anyof_are_resolved() -> None:
    # location is anyOf[$ref Location, null]; chemical is allOf[$ref Chemical]
    assert pointers(check_limitations({"location": {"adress": "x"}}, SCHEMA)) == [
        "/location/adress"
    ]
    lim = {"formulation": [{"chemical": {"SMILES": "CCO", "Inchikey": "x"}}]}
    assert pointers(check_limitations(lim, SCHEMA)) == ["/formulation/0/chemical/Inchikey"]
    assert check_limitations({"temperature": {"min": 0}, "location": {"detail": "A"}}, SCHEMA) == []


def test_none_is_a_valid_limitation_for_an_optional_field() -> None:
    # The schema allows null there, and matching treats a missing parameter as None, so
    # "temperature: null" / "detail: [null, ...]" are meaningful limitations.
    assert check_limitations({"temperature": None}, SCHEMA) == []
    assert check_limitations({"location": {"detail": ["ASAB", None]}}, SCHEMA) == []
    assert pointers(check_limitations({"solvent": None}, SCHEMA)) == ["/solvent"]


def test_ref_at_the_top_of_the_schema_is_resolved() -> None:
    schema = {"$ref": "#/$defs/Chemical", "$defs": SCHEMA["$defs"]}
    assert check_limitations({"SMILES": "CCO"}, schema) == []
    assert pointers(check_limitations({"smiles": "CCO"}, schema)) == ["/smiles"]


class _Chemical(BaseModel):
    SMILES: str
    InChIKey: str


class _Component(BaseModel):
    chemical: _Chemical
    fraction: float
    fraction_type: str = "molPerMol"


class _Params(BaseModel):
    formulation: list[_Component]
    temperature: float | None = None
    origin: _Chemical | None = None
    repeats: int = 1


def test_pydantic_generated_schema_is_understood() -> None:
    schema = _Params.model_json_schema()
    good = {
        "formulation": [[element(EC)]],
        "temperature": [{"min": 290, "max": 310}],
        "origin": [EC, LIPF6],
        "repeats": [1, 2, 3],
    }
    assert check_limitations(good, schema) == []
    bad = {"formulation": [{"chemical": {"SMILEZ": "x"}}], "origin": {"smiles": "x"}}
    assert set(pointers(check_limitations(bad, schema))) == {
        "/formulation/0/chemical/SMILEZ",
        "/origin/smiles",
    }
    errors = check_limitations({"temperature": {"min": "low"}, "repeats": 1.5}, schema)
    assert set(pointers(errors)) == {"/temperature/min", "/repeats"}


def test_union_field_accepts_a_limitation_that_fits_any_branch() -> None:
    schema = {
        "type": "object",
        "properties": {"amount": {"anyOf": [{"type": "number"}, {"type": "string"}]}},
    }
    assert check_limitations({"amount": {"min": 0, "max": 1}}, schema) == []
    assert check_limitations({"amount": "a lot"}, schema) == []
    assert pointers(check_limitations({"amount": {"min": "x"}}, schema)) == ["/amount/min"]


def test_top_level_alternatives_are_checked_one_by_one() -> None:
    errors = check_limitations([{"solvent": "water"}, {"bogus": 1}], SCHEMA)
    assert pointers(errors) == ["/1/bogus"]


@pytest.mark.parametrize(
    ("limitations", "where"),
    [([], ""), (["water"], "/0"), ("water", ""), (None, ""), (42, "")],
)
def test_limitations_must_be_an_object_or_non_empty_list_of_objects(
    limitations: Any, where: str
) -> None:
    assert pointers(check_limitations(limitations, SCHEMA)) == [where]


def test_free_form_object_accepts_any_keys() -> None:
    schema = {"type": "object", "properties": {"extra": {"type": "object"}}}
    assert check_limitations({"extra": {"whatever": [1, 2]}}, schema) == []


def test_check_limitations_does_not_modify_its_inputs() -> None:
    schema = copy.deepcopy(SCHEMA)
    lim = copy.deepcopy(VALID_LIMITATION)
    check_limitations(lim, schema)
    assert schema == SCHEMA
    assert lim == VALID_LIMITATION


# ------------------------------------------------------------------------------ FINALES 2 files

SchemaOf = Callable[[str, str], dict[str, Any]]
Loader = Callable[[str], Any]


@pytest.fixture
def asab(finales2: Loader) -> list[dict[str, Any]]:
    offers: list[dict[str, Any]] = finales2("examples/tenants/conductivity/ASAB.json")[
        "limitations"
    ]
    assert [(o["quantity"], o["method"]) for o in offers] == [
        ("conductivity", "two_electrode"),
        ("electrolyte", "flow"),
    ]
    return offers


def test_finales2_asab_conductivity_offer_is_valid(
    asab: list[dict[str, Any]], request_schema_of: SchemaOf
) -> None:
    schema = request_schema_of("conductivity", "two_electrode")
    assert check_limitations(asab[0]["limitations"], schema) == []


def test_finales2_asab_flow_offer_with_unknown_key_is_refused(
    asab: list[dict[str, Any]], request_schema_of: SchemaOf
) -> None:
    # electrolyte/flow takes {electrolyte: {formulation}, volume}; ASAB put formulation on top
    errors = check_limitations(asab[1]["limitations"], request_schema_of("electrolyte", "flow"))
    assert pointers(errors) == ["/formulation"]
    assert "formulation" in errors[0]["message"]


def test_finales2_degradation_model_anyof_wrapper_is_refused(
    finales2: Loader, request_schema_of: SchemaOf
) -> None:
    offer = finales2("examples/tenants/degradationEOL/degradation_model.json")["limitations"][0]
    schema = request_schema_of(offer["quantity"], offer["method"])
    errors = check_limitations(offer["limitations"], schema)
    assert pointers(errors) == ["/anyOf"]
    assert "unknown key 'anyOf'" in errors[0]["message"]
    # the content of the wrapper itself is a valid limitation
    assert check_limitations(offer["limitations"]["anyOf"], schema) == []


def test_finales2_transport_offer_is_valid_and_matches_the_example_request(
    finales2: Loader, request_schema_of: SchemaOf
) -> None:
    offer = finales2("examples/tenants/transport/Transportation_tenant_tenant.json")
    offer = offer["limitations"][0]
    assert (offer["quantity"], offer["method"]) == ("transport", "transport_service")
    schema = request_schema_of("transport", "transport_service")
    assert check_limitations(offer["limitations"], schema) == []
    request = finales2("examples/requests/transport/transport_service.json")
    params = request["parameters"]["transport_service"]
    assert matches(params, offer["limitations"])
    params["destination"]["detail_2"] = "Tray: 99"
    assert not matches(params, offer["limitations"])


def asab_request(**fractions: float) -> dict[str, Any]:
    chemicals = {"EC": EC, "EMC": EMC, "LiPF6": LIPF6, "DMC": DMC}
    return {
        "formulation": [component(chemicals[name], f) for name, f in fractions.items()],
        "temperature": 301.15,
    }


def test_finales2_example_request_does_not_match_asab(
    finales2: Loader, asab: list[dict[str, Any]]
) -> None:
    request = finales2("examples/requests/conductivity/two_electrode.json")
    params = request["parameters"]["two_electrode"]
    assert {c["chemical"]["SMILES"] for c in params["formulation"]} >= {DMC["SMILES"]}
    assert not matches(params, asab[0]["limitations"])


def test_finales2_request_inside_asab_ranges_matches(
    asab: list[dict[str, Any]], request_schema_of: SchemaOf
) -> None:
    lim = asab[0]["limitations"]
    params = asab_request(EC=0.3, EMC=0.6, LiPF6=0.1)
    # a well-formed request for the capability, and inside every ASAB range
    schema = request_schema_of("conductivity", "two_electrode")
    ValidatorCache().validate("c2e", schema, params, base="/parameters/two_electrode", what="x")
    assert matches(params, lim)
    assert matches({**params, "formulation": params["formulation"][::-1]}, lim)
    assert matches(asab_request(EMC=0.9, LiPF6=0.1), lim)  # EC left out


@pytest.mark.parametrize(
    ("params", "why"),
    [
        (asab_request(EC=0.3, EMC=0.5, LiPF6=0.1, DMC=0.1), "DMC is not in the offer"),
        (asab_request(EC=0.6, EMC=0.35, LiPF6=0.05), "EC above 0.542"),
        (asab_request(EC=0.3, EMC=0.3, LiPF6=0.1), "EMC below 0.35"),
        (asab_request(EC=0.3, EMC=0.5, LiPF6=0.2), "LiPF6 above 0.153"),
        ({**asab_request(EC=0.3, EMC=0.6, LiPF6=0.1), "temperature": 298.15}, "temperature"),
        ({"formulation": asab_request(EC=0.3, EMC=0.6, LiPF6=0.1)["formulation"]}, "no temp"),
    ],
)
def test_finales2_requests_outside_asab_do_not_match(
    asab: list[dict[str, Any]], params: dict[str, Any], why: str
) -> None:
    assert not matches(params, asab[0]["limitations"]), why
