"""The capability library's concepts and units are real terms of the vendored ontology.

Reads only what the package ships (``finales/semantics/vendor``): every ``x-concept`` is an
``owl:Class`` there with the label the library gives it, every unit IRI is known to it, and
a term that stands in for a missing one says so.
"""

from __future__ import annotations

import gzip
import json
import re
from importlib import resources
from typing import Any

import pytest
import rdflib
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from finales.capabilities import CAPABILITIES, TERMS, annotations
from finales.capabilities.semantics import (
    CHAMEO,
    CONDUCTIVITY,
    ECHEM,
    EMMO,
    METHOD_TERMS,
    QUDT_UNIT,
    UNIT_ONE,
    Term,
)
from finales.semantics import ontology_graph

TYPICAL_UNIT = rdflib.URIRef(EMMO + "EMMO_cc65321f_1964_4f16_aea3_2a8edf2f3394")
QUDT_UNIT_CLASS = rdflib.URIRef("http://qudt.org/schema/qudt/Unit")
OPAQUE = re.compile(
    r"^(https://w3id\.org/emmo#EMMO|https://w3id\.org/emmo/domain/electrochemistry#"
    r"electrochemistry)_[0-9a-f]{8}(_[0-9a-f]{4}){3}_[0-9a-f]{12}$"
)


@pytest.fixture(scope="module")
def graph() -> rdflib.Graph:
    return ontology_graph()


def _context_iris() -> set[str]:
    iris: set[str] = set()
    for name in ("battery", "electrochemistry"):
        raw = resources.files("finales.semantics").joinpath(f"vendor/{name}-context.json.gz")
        ctx = json.loads(gzip.decompress(raw.read_bytes()))["@context"]
        iris |= {v if isinstance(v, str) else v.get("@id", "") for v in ctx.values()}
    return iris


def _used_notes() -> list[dict[str, Any]]:
    return [
        note
        for cap in CAPABILITIES
        for schema in (cap.request_schema(), cap.result_schema())
        for note in annotations(schema).values()
    ]


@pytest.mark.parametrize("name", sorted(TERMS))
def test_every_concept_is_a_class_with_its_label(name: str, graph: rdflib.Graph) -> None:
    term = TERMS[name]
    concept = rdflib.URIRef(term.concept)
    assert (concept, RDF.type, OWL.Class) in graph, f"{name}: {term.concept} is no class"
    labels = {str(label) for label in graph.objects(concept, SKOS.prefLabel)}
    assert labels == {term.label}, name
    # The ontologies' own identifiers, not readable stand-ins such as emmo#Density.
    assert OPAQUE.match(term.concept), term.concept


def test_the_schemas_carry_the_terms(graph: rdflib.Graph) -> None:
    by_concept = {(t.concept, t.label) for t in TERMS.values()}
    notes = _used_notes()
    assert len(notes) > 50
    for note in notes:
        assert (note["x-concept"], note["x-concept-label"]) in by_concept
        label = graph.value(rdflib.URIRef(note["x-concept"]), SKOS.prefLabel)
        assert str(label) == note["x-concept-label"]


def test_every_unit_iri_is_known(graph: rdflib.Graph) -> None:
    """EMMO units: a class of the vendored Turtle, a name of a vendored context, or a
    ``typicalUnit`` the Turtle gives; QUDT units: in the vendored QUDT excerpt."""
    in_context = _context_iris()
    typical = {str(o) for o in graph.objects(None, TYPICAL_UNIT)}
    qudt = {str(s) for s in graph.subjects(RDF.type, QUDT_UNIT_CLASS)}
    units = {t.unit_iri for t in TERMS.values() if t.unit_iri}
    assert len(units) >= 15
    for iri in units:
        if iri.startswith(QUDT_UNIT):
            assert iri in qudt, iri
            continue
        assert iri.startswith((EMMO, ECHEM)), iri
        is_class = (rdflib.URIRef(iri), RDF.type, OWL.Class) in graph
        assert is_class or iri in in_context or iri in typical, iri
    # EMMO first: QUDT only where the vendored EMMO files have no such unit.
    assert EMMO + "MilliLitre" not in in_context and EMMO + "MicroLitre" not in in_context


def test_a_missing_term_or_unit_is_declared() -> None:
    stand_ins = [t for t in TERMS.values() if t.nearest_parent]
    assert {t.label for t in stand_ins} == {"RatioQuantity", "PureNumberQuantity"}
    assert all(t.note for t in stand_ins)
    no_unit = [t for t in TERMS.values() if t.unit_iri is None]
    assert [t.symbol for t in no_unit] == ["mAh/cm²"]
    assert all("No unit IRI" in t.note for t in no_unit)
    extra = TERMS["RDF"].schema_extra()
    assert extra["x-nearest-parent"] is True and "radial distribution" in extra["x-concept-note"]
    assert "x-unit-iri" not in TERMS["AREAL_CAPACITY"].schema_extra()


def _ancestors(graph: rdflib.Graph, iri: str) -> set[str]:
    query = "SELECT ?p WHERE { ?c rdfs:subClassOf+ ?p }"
    rows = graph.query(query, initNs={"rdfs": RDFS}, initBindings={"c": rdflib.URIRef(iri)})
    return {str(row[0]) for row in rows}  # type: ignore[index]


def test_ionic_conductivity_and_the_parents_a_search_needs(graph: rdflib.Graph) -> None:
    assert CONDUCTIVITY == Term(
        "IonicConductivity",
        ECHEM + "electrochemistry_25dabdc2_68bf_4a38_8cbe_11be017358bc",
        "siemens / meter",
        "S/m",
        EMMO + "SiemensPerMetre",
    )
    names = {
        str(graph.value(rdflib.URIRef(p), SKOS.prefLabel))
        for p in _ancestors(graph, CONDUCTIVITY.concept)
    }
    assert {
        "ElectrochemicalTransportQuantity",
        "ElectrochemicalQuantity",
        "ElectricConductivity",
        "CategorizedPhysicalQuantity",
    } <= names
    # C-rates of charging are C-rates; a nominal capacity is a capacity.
    assert TERMS["C_RATE"].concept in _ancestors(graph, TERMS["CHARGING_RATE"].concept)
    assert TERMS["CAPACITY_AH"].concept in _ancestors(graph, TERMS["NOMINAL_CAPACITY"].concept)


def test_method_classes_are_real_and_say_when_they_are_parents(graph: rdflib.Graph) -> None:
    builtin = {cap.key for cap in CAPABILITIES}
    assert set(METHOD_TERMS) <= builtin
    for key, term in METHOD_TERMS.items():
        concept = rdflib.URIRef(term.concept)
        assert (concept, RDF.type, OWL.Class) in graph, key
        assert {str(x) for x in graph.objects(concept, SKOS.prefLabel)} == {term.label}, key
        assert bool(term.note) == term.nearest_parent, key
    # Measuring conductivity and cycling a cell are both electrochemical testing (CHAMEO).
    testing = CHAMEO + "ElectrochemicalTesting"
    assert testing in _ancestors(graph, METHOD_TERMS[("conductivity", "two_electrode")].concept)
    assert testing in _ancestors(graph, METHOD_TERMS[("capacity", "cycling")].concept)


def test_the_vendored_subset_stays_small() -> None:
    vendor = resources.files("finales.semantics").joinpath("vendor")
    total = sum(f.stat().st_size for f in vendor.iterdir())  # type: ignore[attr-defined]
    assert total < 1_000_000, total
    readme = vendor.joinpath("README.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in readme and "emmo-repo" in readme


def test_docs_list_every_term() -> None:
    """docs/semantics.md's table is the library's: each term with its class and unit."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "semantics.md").read_text()
    short = {EMMO: "emmo:", ECHEM: "echem:", QUDT_UNIT: "unit:"}

    def compact(iri: str) -> str:
        for ns, prefix in short.items():
            iri = iri.replace(ns, prefix)
        return iri

    rows = {line.split("|")[1].strip(" `"): line for line in doc.splitlines() if "| `" in line}
    for name, term in TERMS.items():
        row = rows[name]
        assert f"`{compact(term.concept)}`" in row and term.label in row, name
        unit = "none" if term.unit_iri is None else compact(term.unit_iri)
        assert unit in row or (term.unit_iri == UNIT_ONE and "UnitOne" in row), name
    short[CHAMEO] = "chameo:"
    short["https://w3id.org/emmo/domain/manufacturing#"] = "manufacturing:"
    for (quantity, method), method_term in METHOD_TERMS.items():
        row = next(line for line in doc.splitlines() if f"`{compact(method_term.concept)}`" in line)
        assert method_term.label in row and (f"{quantity} / {method}" in row or method in row)
        assert ("nearest parent" in row) == method_term.nearest_parent, (quantity, method)
