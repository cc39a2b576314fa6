"""finales.semantics: requests, results, capabilities and tenants as JSON-LD, expanded offline
by pyld into the triples the ontology terms promise."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import rdflib
from pyld import jsonld
from rdflib.namespace import RDF, RDFS

from finales.capabilities import EXAMPLES, get
from finales.capabilities.semantics import (
    CHAMEO,
    CONDUCTIVITY,
    DENSITY,
    METHOD_TERMS,
    MOLAR_MASS,
    TEMPERATURE,
    TERMS,
)
from finales.semantics import (
    CONTEXT,
    Schemas,
    capability_to_jsonld,
    chemical_iri,
    document_loader,
    expand,
    graph_document,
    ontology_graph,
    request_to_jsonld,
    result_to_jsonld,
    tenant_to_jsonld,
    to_graph,
)

EMMO = rdflib.Namespace("https://w3id.org/emmo#")
FIN = rdflib.Namespace("urn:finales:vocab#")
PROV = rdflib.Namespace("http://www.w3.org/ns/prov#")
HAS_PROPERTY = EMMO.EMMO_e1097637_70d2_4895_973f_2396f04fa204
HAS_NUMERICAL_PART = EMMO.EMMO_8ef3cd6d_ae58_4a8d_9fc0_ad8f49015cd0
HAS_NUMBER_VALUE = EMMO.EMMO_faf79f53_749d_40b2_807c_d34244c192f4
HAS_UNIT = EMMO.EMMO_bed1d005_b04e_4a90_94cf_02bc678a8569
LIPF6 = "AXPLOJNSKRXQPA-UHFFFAOYSA-N"
# EMMO's relations by their opaque IRIs, bound into the queries below.
EMMO_RELATIONS = {
    "hasProperty": HAS_PROPERTY,
    "hasNumericalPart": HAS_NUMERICAL_PART,
    "hasNumberValue": HAS_NUMBER_VALUE,
    "hasMeasurementUnit": HAS_UNIT,
}

VALUES = """
SELECT ?pointer ?value ?unit WHERE {
    ?owner ?hasProperty ?node .
    ?node a ?concept ;
          finales:pointer ?pointer ;
          ?hasNumericalPart ?part .
    ?part ?hasNumberValue ?value .
    OPTIONAL { ?node ?hasMeasurementUnit ?unit }
}
"""


def wire_result(quantity: str, method: str, **extra: Any) -> dict[str, Any]:
    example = copy.deepcopy(EXAMPLES[(quantity, method)])
    return {
        "id": "res-1",
        "request_id": "req-1",
        "quantity": quantity,
        "method": method,
        "parameters": example["request"],
        "data": example["result"],
        "tenant_id": "ten-1",
        "capability_id": "cap-1",
        "status": "original",
        "supersedes": None,
        "superseded_by": None,
        "created_at": "2026-03-01T12:00:00+00:00",
        "inputs": [],
        **extra,
    }


def values_of(graph: rdflib.Graph, concept: str) -> dict[str, tuple[float, str | None]]:
    rows = graph.query(
        VALUES,
        initNs={"emmo": EMMO, "finales": FIN},
        initBindings={"concept": rdflib.URIRef(concept), **EMMO_RELATIONS},
    )
    return {
        str(r[0]): (r[1].toPython(), str(r[2]) if r[2] else None)  # type: ignore[index]
        for r in rows
    }


def test_a_result_s_values_expand_to_their_concepts_and_units() -> None:
    result = wire_result("conductivity", "two_electrode")
    doc = result_to_jsonld(result)
    assert doc["@context"] == CONTEXT
    graph = to_graph(doc)
    owner = rdflib.URIRef("urn:finales:result:res-1")
    assert (owner, RDF.type, FIN.Result) in graph
    assert (owner, PROV.wasGeneratedBy, rdflib.URIRef("urn:finales:request:req-1")) in graph
    conductometry = rdflib.URIRef(CHAMEO + "Conductometry")
    assert (owner, FIN.methodConcept, conductometry) in graph

    found = values_of(graph, CONDUCTIVITY.concept)
    expected = result["data"]["conductivity"]["values"]
    assert found == {
        f"/data/conductivity/values/{i}": (v, CONDUCTIVITY.unit_iri) for i, v in enumerate(expected)
    }
    # Parameters are values too: the temperature asked for, in kelvin.
    temps = values_of(graph, TEMPERATURE.concept)
    assert temps["/parameters/temperature"] == (
        result["parameters"]["temperature"],
        TEMPERATURE.unit_iri,
    )
    assert "/data/conductivity/temperature" in temps


def test_formulation_values_name_their_chemical() -> None:
    doc = result_to_jsonld(wire_result("conductivity", "two_electrode"))
    mentions = [v["finales:chemical"] for v in doc["hasProperty"] if "finales:chemical" in v]
    described = [m for m in mentions if m["@id"].endswith(LIPF6) and "finales:smiles" in m]
    assert len(described) == 1 and len([m for m in mentions if m["@id"].endswith(LIPF6)]) > 1
    graph = to_graph(doc)
    lipf6 = rdflib.URIRef(chemical_iri(LIPF6))
    pointers = {str(graph.value(node, FIN.pointer)) for node in graph.subjects(FIN.chemical, lipf6)}
    assert "/parameters/formulation/0/fraction" in pointers
    assert "/data/run_info/formulation/0/fraction" in pointers
    assert str(graph.value(lipf6, FIN.inchikey)) == LIPF6


def test_value_and_uncertainty_pairs_and_keyed_chemicals() -> None:
    result = wire_result("density", "vibrating_tube_densimetry")
    info = result["data"]["run_info"].setdefault("chemicals_info", {})
    info[LIPF6] = {"name": "LiPF6", "molar_mass": [151.9, 0.1], "density": [2.84, 0.02]}
    graph = to_graph(result_to_jsonld(result))
    pointer = f"/data/run_info/chemicals_info/{LIPF6}/molar_mass"
    assert values_of(graph, MOLAR_MASS.concept)[pointer] == (151.9, MOLAR_MASS.unit_iri)
    node = rdflib.URIRef(f"urn:finales:result:res-1#{pointer}")
    assert graph.value(node, FIN.uncertainty).toPython() == 0.1  # type: ignore[union-attr]
    assert graph.value(node, FIN.chemical) == rdflib.URIRef(chemical_iri(LIPF6))
    assert f"/data/run_info/chemicals_info/{LIPF6}/density" in values_of(graph, DENSITY.concept)


def test_fields_without_a_concept_stay_out_and_unknown_pairs_give_no_values() -> None:
    result = wire_result("conductivity", "two_electrode")
    graph = to_graph(result_to_jsonld(result))
    pointers = {str(p) for p in graph.objects(None, FIN.pointer)}
    assert not any("rating" in p or "internal_reference" in p for p in pointers)

    custom = {**result, "quantity": "colour", "method": "eyeball"}
    doc = result_to_jsonld(custom)
    assert "hasProperty" not in doc and doc["finales:quantity"] == "colour"
    # A runtime capability that carries the keys is annotated like a built-in one.
    cap = {
        "id": "cap-9",
        "quantity": "colour",
        "method": "eyeball",
        "version": 1,
        "request_schema": {"type": "object"},
        "result_schema": {
            "type": "object",
            "properties": {"t": TERMS["TEMPERATURE"].schema_extra() | {"type": "number"}},
        },
    }
    custom["data"] = {"t": 300.5}
    custom["capability_id"] = "cap-9"
    graph = to_graph(result_to_jsonld(custom, capabilities=[cap]))
    assert values_of(graph, TEMPERATURE.concept) == {"/data/t": (300.5, TEMPERATURE.unit_iri)}


def test_a_request_has_values_per_method_and_links_like_the_provenance() -> None:
    example = EXAMPLES[("conductivity", "two_electrode")]["request"]
    request = {
        "id": "req-2",
        "quantity": "conductivity",
        "methods": ["two_electrode", "molecular_dynamics"],
        "parameters": {"two_electrode": example, "molecular_dynamics": example},
        "parent_request_id": "req-1",
        "requester": "bot-a",
        "requester_tenant_id": "ten-1",
        "status": "pending",
        "created_at": "2026-03-01T12:00:00Z",
        "labels": {"campaign": "c1"},
        "inputs": ["res-0"],
    }
    graph = to_graph(request_to_jsonld(request))
    me = rdflib.URIRef("urn:finales:request:req-2")
    assert (me, RDF.type, PROV.Activity) in graph
    assert (me, FIN.requestedBy, rdflib.URIRef("urn:finales:tenant:ten-1")) in graph
    dcterms = rdflib.Namespace("http://purl.org/dc/terms/")
    assert (me, dcterms.isPartOf, rdflib.URIRef("urn:finales:request:req-1")) in graph
    assert (me, PROV.used, rdflib.URIRef("urn:finales:result:res-0")) in graph
    temps = values_of(graph, TEMPERATURE.concept)
    assert set(temps) == {
        "/parameters/two_electrode/temperature",
        "/parameters/molecular_dynamics/temperature",
    }
    methods = {str(c) for c in graph.objects(me, FIN.methodConcept)}
    assert methods == {
        METHOD_TERMS[("conductivity", m)].concept for m in ("two_electrode", "molecular_dynamics")
    }


def test_capability_and_tenant_documents() -> None:
    cap = get("conductivity", "two_electrode")
    wire = {
        "id": "cap-1",
        "quantity": cap.quantity,
        "method": cap.method,
        "version": 3,
        "active": True,
        "request_schema": cap.request_schema(),
        "result_schema": cap.result_schema(),
        "description": "two-electrode cell",
        "created_at": "2026-01-01T00:00:00Z",
    }
    graph = to_graph(capability_to_jsonld(wire))
    fields = {
        str(graph.value(f, FIN.pointer)): str(graph.value(f, FIN.concept))
        for f in graph.subjects(RDF.type, FIN.Field)
    }
    assert fields["/conductivity/values"] == CONDUCTIVITY.concept
    assert fields["/temperature"] == TEMPERATURE.concept

    tenant = {
        "id": "ten-1",
        "name": "robot",
        "description": "a robot",
        "contact": "someone@example.org",
        "created_at": "2026-01-01T00:00:00Z",
        "offers": [{"quantity": "conductivity", "method": "two_electrode", "limitations": {}}],
    }
    doc = tenant_to_jsonld(tenant)
    assert "someone@example.org" not in str(doc)
    graph = to_graph(doc)
    me = rdflib.URIRef("urn:finales:tenant:ten-1")
    assert str(graph.value(me, RDFS.label)) == "robot"
    assert (me, RDF.type, PROV.SoftwareAgent) in graph
    offer = graph.value(me, FIN.offer)
    assert str(graph.value(offer, FIN.method)) == "two_electrode"


def test_schemas_are_reused_and_a_graph_document_merges_nodes() -> None:
    schemas = Schemas()  # built-ins only
    nodes = [
        result_to_jsonld(
            wire_result("conductivity", "two_electrode", id=f"r{i}"),
            capabilities=schemas,
            context=False,
        )
        for i in range(3)
    ]
    assert all("@context" not in n for n in nodes)
    graph = to_graph(graph_document(nodes))
    assert len(set(graph.subjects(RDF.type, FIN.Result))) == 3


def test_the_loader_serves_the_vendored_contexts_only() -> None:
    served = document_loader("https://w3id.org/emmo/domain/battery/context")
    assert served["document"]["@context"]["IonicConductivity"].endswith(
        "electrochemistry_25dabdc2_68bf_4a38_8cbe_11be017358bc"
    )
    assert document_loader("https://w3id.org/emmo/domain/electrochemistry/context.json")
    with pytest.raises(jsonld.JsonLdError) as refused:
        document_loader("https://w3id.org/emmo/domain/chemical-substance/context")
    assert "does not ship" in str(refused.value)
    # pyld reports it as a failed load, naming the URL; the global loader is untouched.
    doc = {"@context": "https://example.org/other-context", "@id": "urn:x", "urn:p": 1}
    with pytest.raises(jsonld.JsonLdError) as failed:
        expand(doc)
    assert "https://example.org/other-context" in repr(failed.value.__dict__) + str(failed.value)
    assert jsonld.get_document_loader() is not document_loader


def test_keys_that_are_no_iri_characters_are_escaped_in_the_value_iri() -> None:
    result = wire_result("conductivity", "molecular_dynamics")
    result["data"]["number_molecules_per_component"] = {"ethylene carbonate": 600, "a/b": 3}
    graph = to_graph(result_to_jsonld(result))
    found = {
        str(graph.value(node, FIN.pointer)): str(node)
        for node in graph.subjects(RDF.type, rdflib.URIRef(TERMS["COUNT"].concept))
    }
    base = "urn:finales:result:res-1#/data/number_molecules_per_component/"
    assert found == {
        "/data/number_molecules_per_component/ethylene carbonate": base + "ethylene%20carbonate",
        "/data/number_molecules_per_component/a~1b": base + "a~1b",
    }


GENERAL = """
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?result ?label ?value WHERE {
    ?general skos:prefLabel ?wanted .
    ?class rdfs:subClassOf* ?general ; skos:prefLabel ?label .
    ?node a ?class ; ?hasNumericalPart ?part .
    ?part ?hasNumberValue ?value .
    ?result ?hasProperty ?node .
}
"""


def test_a_general_class_finds_the_values_of_its_sub_classes() -> None:
    """What docs/semantics.md shows a search doing: the result documents and the vendored
    ontology in one graph, a general class, every value of a class below it."""
    conductivity = result_to_jsonld(wire_result("conductivity", "two_electrode"))
    cycling = result_to_jsonld(wire_result("capacity", "cycling", id="res-2"))
    graph = ontology_graph() + to_graph(conductivity) + to_graph(cycling)

    def found(label: str) -> set[tuple[str, str]]:
        rows = graph.query(
            GENERAL,
            initBindings={"wanted": rdflib.Literal(label, lang="en"), **EMMO_RELATIONS},
        )
        return {(str(r[0]), str(r[1])) for r in rows}  # type: ignore[index]

    electrochemical = found("ElectrochemicalQuantity")
    assert ("urn:finales:result:res-1", "IonicConductivity") in electrochemical
    assert ("urn:finales:result:res-2", "ChargingCRate") in electrochemical
    assert not any(label == "ThermodynamicTemperature" for _, label in electrochemical)
    assert {r for r, _ in found("ElectricConductivity")} == {"urn:finales:result:res-1"}
    # BattINFO's ElectrochemicalProperty is a nominal property: no measured value below it.
    assert found("ElectrochemicalProperty") == set()
