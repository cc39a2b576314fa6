"""JSON Schema checks: errors named by JSON pointer, validators compiled once per key."""

from __future__ import annotations

from typing import Any

import pytest

from finales.domain.validation import (
    MAX_ERRORS,
    ValidatorCache,
    check_schema,
    raise_if_invalid,
)
from finales.errors import InvalidPayload

BASE = "/parameters/two_electrode"
SCHEMA: dict[str, Any] = {
    "$defs": {
        "Component": {
            "type": "object",
            "properties": {"smiles": {"type": "string"}, "fraction": {"type": "number"}},
            "required": ["smiles", "fraction"],
            "additionalProperties": False,
        }
    },
    "type": "object",
    "properties": {
        "formulation": {"type": "array", "items": {"$ref": "#/$defs/Component"}},
        "temperature": {"type": "number", "minimum": 0},
    },
    "required": ["formulation", "temperature"],
    "additionalProperties": False,
}
GOOD = {"formulation": [{"smiles": "CCO", "fraction": 1.0}], "temperature": 298.15}


def errors_of(instance: Any, schema: dict[str, Any] = SCHEMA) -> InvalidPayload:
    with pytest.raises(InvalidPayload) as caught:
        ValidatorCache().validate("k", schema, instance, base=BASE, what="parameters")
    return caught.value


def pointers(exc: InvalidPayload) -> list[str]:
    return [e["pointer"] for e in exc.errors]


# ------------------------------------------------------------------------------ check_schema


def test_check_schema_accepts_an_object_schema() -> None:
    check_schema(SCHEMA, "/request_schema")
    check_schema({}, "/request_schema")  # no type: an object is allowed


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        ({"type": "object", "properties": {"a": {"type": "nope"}}}, "/properties/a/type"),
        ({"type": "object", "required": "a"}, "/required"),
        ({"type": "object", "properties": {"a": {"minLength": -1}}}, "/properties/a/minLength"),
    ],
)
def test_check_schema_names_the_invalid_part_under_the_base(
    schema: dict[str, Any], where: str
) -> None:
    with pytest.raises(InvalidPayload) as caught:
        check_schema(schema, "/request_schema")
    assert pointers(caught.value) == ["/request_schema" + where]
    assert caught.value.detail.startswith("/request_schema" + where)


@pytest.mark.parametrize("type_", ["array", "string", "number"])
def test_check_schema_refuses_a_non_object_top_level(type_: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        check_schema({"type": type_}, "/result_schema")
    assert pointers(caught.value) == ["/result_schema/type"]


@pytest.mark.parametrize("schema", [[], "object", None, 3, True])
def test_check_schema_refuses_a_non_mapping(schema: Any) -> None:
    with pytest.raises(InvalidPayload) as caught:
        check_schema(schema, "/request_schema")
    assert pointers(caught.value) == ["/request_schema"]


# ------------------------------------------------------------------------------ validate


def test_valid_instance_passes() -> None:
    ValidatorCache().validate("k", SCHEMA, GOOD, base=BASE, what="parameters")


def test_missing_required_field_is_named() -> None:
    exc = errors_of({"formulation": []})
    assert pointers(exc) == [f"{BASE}/temperature"]
    assert exc.status_code == 422
    assert f"{BASE}/temperature" in exc.detail


def test_every_missing_required_field_is_named() -> None:
    assert sorted(pointers(errors_of({}))) == [f"{BASE}/formulation", f"{BASE}/temperature"]


def test_extra_field_is_named_for_additional_properties() -> None:
    exc = errors_of({**GOOD, "temprature": 300})
    assert pointers(exc) == [f"{BASE}/temprature"]


def test_every_extra_field_is_named() -> None:
    # jsonschema reports all unexpected keys in one error; the client must see each of them
    exc = errors_of({**GOOD, "zeta": 1, "alpha": 2})
    assert sorted(pointers(exc)) == [f"{BASE}/alpha", f"{BASE}/zeta"]


def test_extra_field_next_to_pattern_properties_is_named() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "patternProperties": {"^x_": {}},
        "additionalProperties": False,
    }
    # x_1 is allowed by the pattern; zzz is the offending key
    exc = errors_of({"a": 1, "x_1": 2, "zzz": 3}, schema)
    assert pointers(exc) == [f"{BASE}/zzz"]


def test_nested_array_index_is_in_the_pointer() -> None:
    instance = {
        "formulation": [
            {"smiles": "CCO", "fraction": 0.5},
            {"smiles": "O", "fraction": "half"},
        ],
        "temperature": 298.15,
    }
    assert pointers(errors_of(instance)) == [f"{BASE}/formulation/1/fraction"]


def test_nested_missing_and_extra_fields_are_named() -> None:
    instance = {"formulation": [{"smiles": "CCO"}, {**GOOD["formulation"][0], "x": 1}]}
    instance["temperature"] = -1
    assert sorted(pointers(errors_of(instance))) == [
        f"{BASE}/formulation/0/fraction",
        f"{BASE}/formulation/1/x",
        f"{BASE}/temperature",
    ]


def test_root_type_error_points_at_the_base() -> None:
    assert pointers(errors_of(["not", "an", "object"])) == [BASE]


def test_pointer_escapes_special_characters() -> None:
    schema = {"type": "object", "properties": {"a/b": {"type": "number"}, "c~d": {}}}
    assert pointers(errors_of({"a/b": "x"}, schema)) == [f"{BASE}/a~1b"]


def test_errors_are_capped() -> None:
    schema = {"type": "object", "additionalProperties": {"type": "number"}}
    exc = errors_of({f"k{i}": "x" for i in range(MAX_ERRORS + 10)}, schema)
    assert len(exc.errors) == MAX_ERRORS


def test_raise_if_invalid_summarises_the_first_error() -> None:
    raise_if_invalid([], "parameters")  # nothing to raise
    errs = [{"pointer": "/a", "message": "bad"}, {"pointer": "/b", "message": "worse"}]
    with pytest.raises(InvalidPayload) as caught:
        raise_if_invalid(errs, "parameters")
    assert caught.value.detail == "parameters invalid at /a: bad (and 1 more)"
    assert caught.value.errors == errs


# ------------------------------------------------------------------------------ the cache


def test_cache_returns_the_same_compiled_validator_for_the_same_key() -> None:
    cache = ValidatorCache()
    first = cache.get(("conductivity", "two_electrode", 1), SCHEMA)
    assert cache.get(("conductivity", "two_electrode", 1), SCHEMA) is first
    assert cache.get(("conductivity", "two_electrode", 2), SCHEMA) is not first


def test_cache_keys_by_key_not_by_schema() -> None:
    # capability versions are immutable, so the key alone identifies the schema
    cache = ValidatorCache()
    cache.get("v1", SCHEMA)
    cache.validate("v1", {"type": "object", "required": ["never"]}, GOOD, base=BASE, what="p")


def test_cache_evicts_the_least_recently_used() -> None:
    cache = ValidatorCache(maxsize=2)
    a = cache.get("a", SCHEMA)
    b = cache.get("b", SCHEMA)
    assert cache.get("a", SCHEMA) is a  # "a" is now the most recent
    cache.get("c", SCHEMA)  # evicts "b"
    assert cache.get("a", SCHEMA) is a
    assert cache.get("b", SCHEMA) is not b
