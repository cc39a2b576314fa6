"""The battery capability library: valid schemas, units and concepts on every physical field,
examples that validate, errors that name the field, and compatibility with the published
FINALES 2 catalogue and its example files (read in place, never copied)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from finales.capabilities import (
    CAPABILITIES,
    EXAMPLES,
    RENAMES,
    TERMS,
    annotations,
    canonical,
    get,
    request_schema,
    result_schema,
    to_finales,
    to_finales2,
)
from finales.capabilities.semantics import ECHEM, EMMO, QUDT_UNIT
from finales.cli.files import read_capabilities
from finales.domain.limitations import check_limitations
from finales.domain.validation import ValidatorCache, check_schema
from finales.errors import InvalidPayload, NotFound
from tests.conftest import FINALES2_EXAMPLES, require_finales2_examples

ROOT = Path(__file__).resolve().parents[2]
KEYS = [cap.key for cap in CAPABILITIES]
IDS = [f"{q}/{m}" for q, m in KEYS]
CACHE = ValidatorCache()
PUBLISHED_PAIRS = {
    ("capacity", "cycling"),
    ("cell_assembly", "autobass_assembly"),
    ("conductivity", "molecular_dynamics"),
    ("conductivity", "polynomial_interpolation"),
    ("conductivity", "two_electrode"),
    ("cycling_channel", "service"),
    ("degradationEOL", "degradation_model"),
    ("degradationEOL", "degradation_workflow"),
    ("density", "molecular_dynamics"),
    ("density", "vibrating_tube_densimetry"),
    ("electrolyte", "flow"),
    ("radial_density_function", "molacular_dynamics"),
    ("transport", "transport_service"),
}


def schema_of(key: tuple[str, str], which: str) -> dict[str, Any]:
    return request_schema(*key) if which == "request" else result_schema(*key)


def refusal(key: tuple[str, str], which: str, instance: Any) -> set[str]:
    """The pointers of the errors raised for ``instance`` (empty set: it is valid)."""
    try:
        CACHE.validate((*key, which), schema_of(key, which), instance, base="", what=which)
    except InvalidPayload as exc:
        return {e["pointer"] for e in exc.errors}
    return set()


def model_accepts(key: tuple[str, str], which: str, instance: Any) -> bool:
    """Does the pydantic model accept the JSON document? (It must agree with its schema.)"""
    cap = get(*key)
    model = cap.request_model if which == "request" else cap.result_model
    try:
        model.model_validate_json(json.dumps(instance))
    except ValidationError:
        return False
    return True


# ------------------------------------------------------------------------------ registry


def test_the_catalogue_plus_viscosity_with_the_rename_applied() -> None:
    expected = {canonical(q, m) for q, m in PUBLISHED_PAIRS} | {
        ("viscosity", "rolling_ball_viscometry"),
        ("archive", "deposit"),
    }
    assert set(KEYS) == expected and len(KEYS) == 15
    assert ("radial_distribution_function", "molecular_dynamics") in KEYS
    assert RENAMES == {
        ("radial_density_function", "molacular_dynamics"): (
            "radial_distribution_function",
            "molecular_dynamics",
        )
    }
    assert canonical("conductivity", "two_electrode") == ("conductivity", "two_electrode")
    with pytest.raises(NotFound, match="renamed to radial_distribution_function"):
        get("radial_density_function", "molacular_dynamics")
    with pytest.raises(NotFound):
        request_schema("conductivity", "guesswork")


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_every_schema_is_valid_2020_12_and_accepted_by_the_broker(key: tuple[str, str]) -> None:
    for which in ("request", "result"):
        schema = schema_of(key, which)
        Draft202012Validator.check_schema(schema)
        check_schema(schema, f"/{which}_schema")  # what register_capability runs
        assert schema["type"] == "object" and schema["additionalProperties"] is False


def test_schemas_are_fresh_copies() -> None:
    schema = request_schema("conductivity", "two_electrode")
    schema["properties"].clear()
    assert request_schema("conductivity", "two_electrode")["properties"]


def test_file_formats() -> None:
    cap = get("density", "vibrating_tube_densimetry")
    ours = to_finales(cap)
    assert set(ours) == {"quantity", "method", "request_schema", "result_schema", "description"}
    assert "mPa·s" in ours["description"]
    theirs = to_finales2(cap)
    assert theirs == {
        "quantity": "density",
        "method": "vibrating_tube_densimetry",
        "json_schema_specifications": ours["request_schema"],
        "json_schema_result_output": ours["result_schema"],
        "is_active": True,
    }


@pytest.mark.parametrize("fmt", [to_finales, to_finales2], ids=["finales", "finales2"])
def test_exported_files_are_read_back_unchanged(fmt: Any, tmp_path: Path) -> None:
    path = tmp_path / "caps.json"
    path.write_text(json.dumps([fmt(cap) for cap in CAPABILITIES], ensure_ascii=False), "utf-8")
    read = read_capabilities(path)
    assert [(c["quantity"], c["method"]) for c in read] == KEYS
    for cap, back in zip(CAPABILITIES, read, strict=True):
        assert back["request_schema"] == cap.request_schema()
        assert back["result_schema"] == cap.result_schema()
        assert back["active"] is True


# ------------------------------------------------------------------------------ examples


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_examples_validate_against_schema_and_model(key: tuple[str, str]) -> None:
    for which in ("request", "result"):
        example = copy.deepcopy(EXAMPLES[key][which])
        assert refusal(key, which, example) == set()
        assert model_accepts(key, which, example)


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_missing_required_fields_are_named(key: tuple[str, str]) -> None:
    for which in ("request", "result"):
        required = schema_of(key, which)["required"]
        assert required
        for field in required:
            example = copy.deepcopy(EXAMPLES[key][which])
            del example[field]
            assert f"/{field}" in refusal(key, which, example), (which, field)
            assert not model_accepts(key, which, example)


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_values_of_the_wrong_type_are_named(key: tuple[str, str]) -> None:
    for which in ("request", "result"):
        for field, sub in schema_of(key, which)["properties"].items():
            example = copy.deepcopy(EXAMPLES[key][which])
            # A boolean fits no field but a boolean one; a string fits no boolean field.
            example[field] = "yes" if sub.get("type") == "boolean" else True
            assert refusal(key, which, example) == {f"/{field}"}, (which, field)


@pytest.mark.parametrize(
    ("key", "which", "path", "value", "pointer"),
    [
        # Temperatures are numbers in K: a string with a unit, or a negative value, is refused.
        (("conductivity", "two_electrode"), "request", ["temperature"], "298 K", "/temperature"),
        (("density", "molecular_dynamics"), "request", ["temperature"], -5, "/temperature"),
        # Another kind of fraction is refused rather than misread as an amount fraction.
        (
            ("conductivity", "two_electrode"),
            "request",
            ["formulation", 1, "fraction_type"],
            "molar fraction",
            "/formulation/1/fraction_type",
        ),
        (
            ("conductivity", "two_electrode"),
            "request",
            ["formulation", 0, "fraction"],
            1.5,
            "/formulation/0/fraction",
        ),
        (
            ("electrolyte", "flow"),
            "request",
            ["electrolyte", "formulation", 0, "chemical", "InChIKey"],
            "ww",
            "/electrolyte/formulation/0/chemical/InChIKey",
        ),
        (("cell_assembly", "autobass_assembly"), "request", ["batch_volume"], 65, "/batch_volume"),
        (
            ("conductivity", "two_electrode"),
            "result",
            ["conductivity", "values", 0],
            "0.9 S/m",
            "/conductivity/values/0",
        ),
        (
            ("conductivity", "two_electrode"),
            "result",
            ["conductivity", "meta", "success"],
            "True",
            "/conductivity/meta/success",
        ),
        (
            ("viscosity", "rolling_ball_viscometry"),
            "result",
            ["viscosity", "values", 0],
            -3.4,
            "/viscosity/values/0",
        ),
        # Inside an optional (nullable) object the broker still names the leaf.
        (
            ("density", "vibrating_tube_densimetry"),
            "result",
            ["viscosity", "values", 0],
            "3.4",
            "/viscosity/values/0",
        ),
        (
            ("degradationEOL", "degradation_workflow"),
            "result",
            ["degradationEOL", 1, "meta", "rating"],
            10,
            "/degradationEOL/1/meta/rating",
        ),
        (
            ("conductivity", "molecular_dynamics"),
            "result",
            ["run_info", "chemicals_info", "LiPF6"],
            {"name": "LiPF6"},
            "/run_info/chemicals_info",
        ),
        # A misspelt optional field is refused, not silently dropped.
        (("conductivity", "two_electrode"), "request", ["temprature"], 298.15, "/temprature"),
    ],
)
def test_specific_defects_are_named(
    key: tuple[str, str], which: str, path: list[Any], value: Any, pointer: str
) -> None:
    example = copy.deepcopy(EXAMPLES[key][which])
    target = example
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert pointer in refusal(key, which, example)
    assert not model_accepts(key, which, example)


# ------------------------------------------------------------------------------ units, concepts


def _leaves(schema: dict[str, Any]) -> dict[str, set[str]]:
    """Every numeric leaf of a schema by pointer (``*`` for items), with its JSON types."""
    found: dict[str, set[str]] = {}

    def resolve(node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            node = {**schema["$defs"][node["$ref"].split("/")[-1]], **node}
            node.pop("$ref")
        return node

    def walk(node: Any, path: str) -> None:
        node = resolve(node)
        for branch in node.get("anyOf", []):
            walk(branch, path)
        if node.get("type") in ("number", "integer"):
            found.setdefault(path, set()).add(node["type"])
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{path}/{name}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                walk(node[key], f"{path}/*")
        for sub in node.get("prefixItems", []):
            walk(sub, f"{path}/*")

    walk(schema, "")
    return found


# Numbers that are not physical quantities: a rating, identifiers of cycler channels, the
# version index, file sizes and counts of an archive deposit.
NOT_QUANTITIES = {"rating", "channel_list", "version", "size", "bytes_uploaded", "snapshot_results"}


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_every_physical_field_states_unit_and_concept(key: tuple[str, str]) -> None:
    for which in ("request", "result"):
        schema = schema_of(key, which)
        annotated = annotations(schema)
        for path in _leaves(schema):
            parts = path.split("/")
            if NOT_QUANTITIES & set(parts):
                continue
            # The annotation sits on the field; list items and tuple members inherit it.
            owner = next(
                (p for p in (path, path.rsplit("/*", 1)[0], path.split("/*")[0]) if p in annotated),
                None,
            )
            assert owner is not None, f"{which} {path} has no unit"
        for path, note in annotated.items():
            assert {"unit", "x-unit-symbol", "x-concept", "x-concept-label"} <= set(note), path
            concept = urlparse(note["x-concept"])
            assert concept.scheme == "https" and concept.fragment, path
            assert note["x-concept"].startswith((EMMO, ECHEM)), path
            # A unit IRI, or a note saying why there is none (checked against the ontology
            # in test_semantic_terms.py).
            assert note.get("x-unit-iri") or "No unit IRI" in note["x-concept-note"], path


def test_descriptions_state_the_unit() -> None:
    for cap in CAPABILITIES:
        for schema in (cap.request_schema(), cap.result_schema()):
            for model in [schema, *schema.get("$defs", {}).values()]:
                for name, prop in model.get("properties", {}).items():
                    if "unit" in prop:
                        assert (
                            f"Unit: {prop['x-unit-symbol']} ({prop['unit']})."
                            in (prop["description"])
                        ), name


def _unit_at(key: tuple[str, str], which: str, pointer: str) -> str:
    return annotations(schema_of(key, which))[pointer]["unit"]


def test_corrected_units() -> None:
    vtd = ("density", "vibrating_tube_densimetry")
    assert _unit_at(vtd, "result", "/viscosity/values") == "millipascal * second"
    assert _unit_at(vtd, "result", "/density/values") == "gram / centimeter ** 3"
    density = _unit_at(vtd, "result", "/run_info/chemicals_info/*/density")
    assert density == "gram / centimeter ** 3"  # FINALES 2: "centimeter ** 3 * gram"
    rbv = ("viscosity", "rolling_ball_viscometry")
    assert _unit_at(rbv, "result", "/viscosity/values") == "millipascal * second"
    te = ("conductivity", "two_electrode")
    assert _unit_at(te, "result", "/conductivity/values") == "siemens / meter"
    notes = annotations(schema_of(te, "result"))["/conductivity/values"]
    assert notes["x-unit-iri"] == EMMO + "SiemensPerMetre"
    assert notes["x-concept-label"] == "IonicConductivity"
    rdf = ("radial_distribution_function", "molecular_dynamics")
    assert _unit_at(rdf, "request", "/estimated_density") == "gram / centimeter ** 3"
    batch = annotations(schema_of(("cell_assembly", "autobass_assembly"), "request"))
    assert batch["/batch_volume"]["unit"] == "dimensionless"  # FINALES 2: "parsec"


def test_terms_mapping_for_json_ld() -> None:
    assert TERMS["VISCOSITY"].unit_iri == EMMO + "MilliPascalSecond"
    assert TERMS["VOLUME_ML"].unit_iri == QUDT_UNIT + "MilliL"
    assert TERMS["TEMPERATURE"].concept == EMMO + "EMMO_affe07e4_e9bc_4852_86c6_69e26182a17f"
    assert TERMS["C_RATE"].concept.startswith(ECHEM + "electrochemistry_")
    used = {
        note["x-concept"]
        for cap in CAPABILITIES
        for schema in (cap.request_schema(), cap.result_schema())
        for note in annotations(schema).values()
    }
    assert used <= {term.concept for term in TERMS.values()}


# ------------------------------------------------------------------------------ FINALES 2


def _published(relative: str) -> Any:
    require_finales2_examples()
    return json.loads((FINALES2_EXAMPLES / relative).read_text(encoding="utf-8"))


def _published_capabilities() -> dict[tuple[str, str], dict[str, Any]]:
    require_finales2_examples()
    found = {}
    for path in sorted((FINALES2_EXAMPLES / "serialized_quantities").glob("*/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        found[(data["quantity"], data["method"])] = data
    return found


def _shape(schema: dict[str, Any]) -> dict[str, tuple[frozenset[str], bool]]:
    """Field paths with their JSON types and whether required: what the wire sees."""
    out: dict[str, tuple[frozenset[str], bool]] = {}

    def resolve(node: Any) -> Any:
        while isinstance(node, dict) and ("$ref" in node or len(node.get("allOf", [])) == 1):
            if "$ref" in node:
                target = schema["$defs"][node["$ref"].split("/")[-1]]
                node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            else:
                node = {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}
        return node

    def types(node: Any) -> frozenset[str]:
        node = resolve(node)
        if "anyOf" in node:
            return frozenset().union(*(types(b) for b in node["anyOf"]))
        return frozenset([node["type"]] if "type" in node else [])

    def walk(node: Any, path: str, depth: int) -> None:
        for branch in resolve(node).get("anyOf", [resolve(node)]):
            branch = resolve(branch)
            for name, sub in branch.get("properties", {}).items():
                out[f"{path}/{name}"] = (types(sub), name in branch.get("required", []))
                walk(sub, f"{path}/{name}", depth + 1)
            for key in ("items", "additionalProperties"):
                if isinstance(branch.get(key), dict):
                    out[f"{path}/*"] = (types(branch[key]), False)
                    walk(branch[key], f"{path}/*", depth + 1)
            for i, sub in enumerate(branch.get("prefixItems", [])):
                out[f"{path}/{i}"] = (types(sub), True)

    walk(schema, "", 0)
    return out


def test_same_fields_types_and_required_as_the_published_catalogue() -> None:
    published = _published_capabilities()
    assert set(published) == PUBLISHED_PAIRS
    for (q, m), data in published.items():
        key = canonical(q, m)
        theirs = _shape(data["json_schema_specifications"])
        assert _shape(request_schema(*key)) == theirs, key
        assert len(theirs) >= 2
        assert _shape(result_schema(*key)) == _shape(data["json_schema_result_output"]), key


def test_published_limitations_are_judged_as_by_the_published_schemas() -> None:
    """Tenant limitation files written for FINALES 2 fare the same against our schemas."""
    published = _published_capabilities()
    require_finales2_examples()
    files = sorted((FINALES2_EXAMPLES / "examples" / "limitations").glob("*/*.json"))
    assert len(files) == 7
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        for item in data if isinstance(data, list) else [data]:
            pair = (item["quantity"], item["method"])
            theirs = check_limitations(
                item["limitations"], published[pair]["json_schema_specifications"]
            )
            ours = check_limitations(item["limitations"], request_schema(*canonical(*pair)))
            assert [e["pointer"] for e in ours] == [e["pointer"] for e in theirs], path


VALID: frozenset[str] = frozenset()

# The published example files, part by part: the pointers our schema refuses (none: valid),
# those the published schema refuses, and the defect. The README's compatibility section
# shows this table.
PUBLISHED_EXAMPLES: list[tuple[str, str, frozenset[str], frozenset[str]]] = [
    ("requests/capacity/cycling.json", "parameters", VALID, VALID),
    # Placeholder electrode materials: SMILES "w", InChIKey "ww" is no InChIKey.
    (
        "requests/cell_assembly/autobass_assembly.json",
        "parameters",
        frozenset(
            {
                "/cell/battery_chemistry/anode/material/0/chemical/InChIKey",
                "/cell/battery_chemistry/cathode/material/0/chemical/InChIKey",
            }
        ),
        VALID,
    ),
    ("requests/conductivity/molecular_dynamics.json", "parameters", VALID, VALID),
    # fraction_type "molar fraction" instead of "molPerMol".
    (
        "requests/conductivity/polynomial_interpolation.json",
        "parameters",
        frozenset(f"/formulation/{i}/fraction_type" for i in range(3)),
        VALID,
    ),
    ("requests/conductivity/two_electrode.json", "parameters", VALID, VALID),
    ("requests/cycling_channel/service.json", "parameters", VALID, VALID),
    # Valid, although minimum_charging_rate (0.7) exceeds maximum_charging_rate (0.15).
    ("requests/degradationEOL/degradation_model.json", "parameters", VALID, VALID),
    ("requests/degradationEOL/degradation_workflow.json", "parameters", VALID, VALID),
    ("requests/electrolyte/flow.json", "parameters", VALID, VALID),
    ("requests/transport/transport_service.json", "parameters", VALID, VALID),
    ("results/capacity/cycling.json", "parameters", VALID, VALID),
    # Required channel_list and cell_info missing; three inputs of the degradation model
    # pasted into the result.
    (
        "results/capacity/cycling.json",
        "data",
        frozenset(
            {
                "/channel_list",
                "/cell_info",
                "/average_charging_rate",
                "/maximum_charging_rate",
                "/minimum_charging_rate",
            }
        ),
        frozenset({"/channel_list", "/cell_info"}),
    ),
    # Placeholder materials again, in the electrolyte too.
    (
        "results/cell_assembly/autobass_assembly.json",
        "parameters",
        frozenset(
            {
                "/cell/battery_chemistry/anode/material/0/chemical/InChIKey",
                "/cell/battery_chemistry/cathode/material/0/chemical/InChIKey",
                "/cell/battery_chemistry/electrolyte/0/chemical/InChIKey",
            }
        ),
        VALID,
    ),
    # Every assembled cell lacks the required "cell".
    (
        "results/cell_assembly/autobass_assembly.json",
        "data",
        frozenset(f"/batch_output/{i}/cell" for i in range(8)),
        frozenset(f"/batch_output/{i}/cell" for i in range(8)),
    ),
    # fraction_type "molar fraction"; moreover the conductivity (0.0083) is in S/cm, not S/m
    # (no schema can see that: the value is a plain number).
    (
        "results/conductivity/polynomial_interpolation.json",
        "parameters",
        frozenset(f"/formulation/{i}/fraction_type" for i in range(3)),
        VALID,
    ),
    (
        "results/conductivity/polynomial_interpolation.json",
        "data",
        frozenset(f"/run_info/formulation/{i}/fraction_type" for i in range(3)),
        VALID,
    ),
    ("results/conductivity/two_electrode.json", "parameters", VALID, VALID),
    ("results/conductivity/two_electrode.json", "data", VALID, VALID),
    ("results/cycling_channel/service.json", "parameters", VALID, VALID),
    ("results/cycling_channel/service.json", "data", VALID, VALID),
    ("results/degradationEOL/degradation_model.json", "parameters", VALID, VALID),
    # success is the string "True"; the prediction lacks the required cell_info.
    (
        "results/degradationEOL/degradation_model.json",
        "data",
        frozenset({"/degradationEOL/meta/success", "/degradationEOL/cell_info"}),
        frozenset({"/degradationEOL/meta/success", "/degradationEOL/cell_info"}),
    ),
    ("results/degradationEOL/degradation_workflow.json", "parameters", VALID, VALID),
    # The second cell: success is the string "True" and the rating 10 is outside 0-5.
    (
        "results/degradationEOL/degradation_workflow.json",
        "data",
        frozenset({"/degradationEOL/1/meta/success", "/degradationEOL/1/meta/rating"}),
        frozenset({"/degradationEOL/1/meta/success"}),
    ),
    ("results/electrolyte/flow.json", "parameters", VALID, VALID),
    ("results/electrolyte/flow.json", "data", VALID, VALID),
    ("results/transport/service.json", "parameters", VALID, VALID),
    # The location is wrapped in an extra {"Location": ...} object.
    (
        "results/transport/service.json",
        "data",
        frozenset({"/actual_new_location/Location", "/actual_new_location/address"}),
        frozenset({"/actual_new_location/address"}),
    ),
]


def test_the_table_covers_every_published_example() -> None:
    require_finales2_examples()
    on_disk = {
        str(p.relative_to(FINALES2_EXAMPLES / "examples"))
        for folder in ("requests", "results")
        for p in (FINALES2_EXAMPLES / "examples" / folder).glob("*/*.json")
    }
    assert {row[0] for row in PUBLISHED_EXAMPLES} == on_disk
    assert len(on_disk) == 19


@pytest.mark.parametrize(
    ("relative", "part", "ours", "theirs"),
    PUBLISHED_EXAMPLES,
    ids=[f"{row[0]}:{row[1]}" for row in PUBLISHED_EXAMPLES],
)
def test_published_examples(
    relative: str, part: str, ours: frozenset[str], theirs: frozenset[str]
) -> None:
    payload = _published(f"examples/{relative}")
    methods = payload.get("methods") or payload["method"]
    assert len(methods) == 1
    (method,) = methods
    key = canonical(payload["quantity"], method)
    which = "request" if part == "parameters" else "result"
    instance = payload["parameters"][method] if part == "parameters" else payload["data"]
    assert refusal(key, which, instance) == ours
    assert model_accepts(key, which, instance) == (not ours)
    published = _published_capabilities()[(payload["quantity"], method)]
    schema = published[
        "json_schema_specifications" if which == "request" else "json_schema_result_output"
    ]
    errors = Draft202012Validator(schema).iter_errors(instance)
    assert {_pointer_of(e) for e in errors} == theirs


def _pointer_of(error: Any) -> str:
    path = "".join(f"/{p}" for p in error.absolute_path)
    if error.validator == "required":
        return f"{path}/{error.message.split(chr(39))[1]}"
    return path


def test_docs_table_matches() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    for relative, part, ours, _ in PUBLISHED_EXAMPLES:
        matching = [r for r in rows if f"`{relative}`" in r and f"| {part} |" in r]
        assert len(matching) == 1, (relative, part)
        assert ("| refused |" in matching[0]) == bool(ours), matching[0]
        for pointer in ours:
            assert pointer.rsplit("/", 1)[-1] in matching[0], (relative, pointer)
