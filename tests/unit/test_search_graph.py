"""The search graph without a server: its projection equals the triples the store holds, the
SPARQL guard's keyword reading, unit conversion, labels and removal."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pyoxigraph as ox
import pytest

from finales.capabilities.examples import EXAMPLES
from finales.errors import InvalidPayload
from finales.semantics import result_to_jsonld
from finales.semantics.search_graph import (
    Entry,
    SearchGraph,
    SearchQuery,
    _context_head,
    _ntriples,
    _terms,
    facts_of,
)
from finales.semantics.sparql import check_read_only
from finales.semantics.units import convert
from finales.semantics.vocab import INCHIKEY, VOCAB, result_iri

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def _entry(seq: int, pair: tuple[str, str]) -> Entry:
    example = EXAMPLES[pair]
    parameters = example["request"]
    wire = {
        "id": f"r{seq}",
        "request_id": f"q{seq}",
        "tenant_id": "t",
        "quantity": pair[0],
        "method": pair[1],
        "created_at": "2026-01-01T00:00:00+00:00",
        "status": "original",
        "capability_id": None,
        "parameters": parameters,
        "data": example["result"],
    }
    node = result_to_jsonld(wire, context=False)
    return Entry(
        seq,
        f"r{seq}",
        f"q{seq}",
        *pair,
        "t",
        "lab",
        f"2026-01-0{seq % 9 + 1}T00:00:00.000000Z",
        "original",
        node,
    )


def _facts_from_triples(quads: list[ox.Quad], owners: dict[str, int]) -> set[tuple[Any, ...]]:
    """The reference: value nodes read from the parsed triples (what SPARQL sees)."""
    t = _terms()
    nodes: dict[str, dict[str, Any]] = defaultdict(dict)
    numbers: dict[str, float] = {}
    parts: dict[str, str] = {}
    for q in quads:
        s, p, o = q.subject, q.predicate.value, q.object
        if isinstance(s, ox.BlankNode):
            if p == t["hasNumberValue"]:
                numbers[s.value] = float(o.value)  # type: ignore[union-attr]
            continue
        owner = s.value.partition("#")[0]  # type: ignore[union-attr]
        if "#" not in s.value or owner not in owners:  # type: ignore[union-attr]
            continue
        n = nodes[s.value]  # type: ignore[union-attr]
        n["seq"] = owners[owner]
        key = {
            RDF_TYPE: "concept",
            VOCAB + "pointer": "pointer",
            VOCAB + "unit": "unit",
            t["hasMeasurementUnit"]: "unit_iri",
            VOCAB + "chemical": "chemical",
        }.get(p)
        if key:
            n[key] = o.value  # type: ignore[union-attr]
        elif p == t["hasNumericalPart"]:
            parts[o.value] = s.value  # type: ignore[union-attr]
    for blank, subject in parts.items():
        nodes[subject]["value"] = numbers[blank]
    return {
        (
            n["seq"],
            n["pointer"],
            n["concept"],
            n.get("unit"),
            n.get("unit_iri"),
            n["chemical"].removeprefix(INCHIKEY) if "chemical" in n else None,
            n["value"],
        )
        for n in nodes.values()
    }


def test_the_projection_is_what_the_triples_say_for_every_library_example() -> None:
    entries = [_entry(i + 1, pair) for i, pair in enumerate(EXAMPLES)]
    text = _context_head() + json.dumps([e.node for e in entries]) + "}"
    quads = list(ox.parse(text, format=ox.RdfFormat.JSON_LD))
    expected = _facts_from_triples(quads, {result_iri(e.id): e.seq for e in entries})
    got = {f for e in entries for f in facts_of(e.seq, e.node)}
    assert len(got) > 100  # every example has annotated values
    assert got == expected


def test_put_search_and_remove() -> None:
    graph = SearchGraph()
    before = graph.triple_count()
    entries = [
        _entry(1, ("conductivity", "two_electrode")),
        _entry(2, ("density", "vibrating_tube_densimetry")),
    ]
    graph.put(entries)
    assert graph.count() == 2
    quantity = graph.concept("electrochemical quantity", parameter="/concept")
    assert [h.id for h in graph.search(SearchQuery(concept=quantity))] == ["r1"]
    assert [h.id for h in graph.search(SearchQuery())] == ["r2", "r1"]  # newest first
    graph.put([entries[0]])  # the same result again: replaced, not doubled
    assert graph.count() == 2
    graph.remove(["r1", "r2"])
    assert graph.count() == 0
    # What stays: the ontology, and the chemicals' nodes (shared between results).
    left = graph.triple_count() - before
    assert 0 <= left < 20


def test_labels_and_their_refusal() -> None:
    graph = SearchGraph()
    a = graph.concept("ionic conductivity", parameter="/concept")
    b = graph.concept("IonicConductivity", parameter="/concept")
    assert a.classes == b.classes and a.labels == ("IonicConductivity",)
    assert graph.concept("ElectrochemicalQuantity", parameter="/c").classes > a.classes
    with pytest.raises(InvalidPayload) as caught:
        graph.concept("ionic conductivty", parameter="/concept")
    assert caught.value.errors[0]["pointer"] == "/concept"
    assert "IonicConductivity" in caught.value.detail


@pytest.mark.parametrize(
    "query",
    [
        "INSERT DATA { <urn:a> <urn:b> <urn:c> }",
        "insert data { <urn:a> <urn:b> <urn:c> }",
        "PREFIX x: <urn:x#>\nDELETE WHERE { ?s ?p ?o }",
        "# SELECT in a comment\nDROP ALL",
        "BASE <urn:x> WITH <urn:g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }",
        "LOAD <http://example.org/x.ttl>",
        "CLEAR DEFAULT",
        "SELECT * { SERVICE <http://example.org/sparql> { ?s ?p ?o } }",
        "select * { service silent <http://x> { ?s ?p ?o } }",
        "",
        "   ",
    ],
)
def test_updates_and_federation_are_refused_by_keyword(query: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        check_read_only(query)
    assert caught.value.errors[0]["pointer"] == "/query"


@pytest.mark.parametrize(
    ("query", "form"),
    [
        ("SELECT * WHERE { ?s ?p ?o }", "SELECT"),
        ("PREFIX delete: <urn:x#> SELECT ?insert { ?insert delete:load ?drop }", "SELECT"),
        ('ASK { ?s ?p "DELETE DATA" }', "ASK"),
        ("CONSTRUCT { ?s ?p ?o } WHERE { ?s <urn:service> ?o }", "CONSTRUCT"),
        ("# INSERT\nDESCRIBE <urn:x>", "DESCRIBE"),
        ("SELECT * { ?s ?p ?o FILTER(?o < 3 && ?o > 1) }", "SELECT"),
        ("SELECT * { ?s ?p '''a 'quoted' SERVICE''' }", "SELECT"),
    ],
)
def test_queries_pass_the_keyword_guard(query: str, form: str) -> None:
    assert check_read_only(query) == form


def test_unit_conversion() -> None:
    assert convert(25, "degC", "kelvin") == pytest.approx(298.15)
    assert convert(10, "%", "mole / mole") == pytest.approx(0.1)
    assert convert(8.6, "mS/cm", "siemens / meter") == pytest.approx(0.86)
    assert convert(1.2, "g/cm³", "kg/m3") == pytest.approx(1200)
    assert convert(3.4, "mPa·s", "millipascal * second") == pytest.approx(3.4)
    assert convert(1, "S/m", "kelvin") is None
    assert convert(1, "furlong", "kelvin") is None


def _isomorphic(a: str, b: str) -> bool:
    import rdflib
    from rdflib.compare import isomorphic

    return isomorphic(
        rdflib.Graph().parse(data=a, format="nt"), rdflib.Graph().parse(data=b, format="nt")
    )


def test_the_n_triples_writer_gives_the_json_ld_parsers_graph() -> None:
    entries = [_entry(i + 1, pair) for i, pair in enumerate(EXAMPLES)]
    # Values the canonical forms of JSON-LD must agree on: a third, an integral float, a big
    # number, a string to escape, and a typed value object.
    node = dict(entries[0].node)
    node["finales:note"] = 'a "quoted"\nline \\ here'
    node["finales:extra"] = [1 / 3, 2.0, 1.5e300, -7, True, {"@value": 3, "@type": "xsd:double"}]
    entries[0] = Entry(*[getattr(entries[0], f) for f in Entry.__slots__[:-1]], node)
    text = _context_head() + json.dumps([e.node for e in entries]) + "}"
    parsed = ox.serialize(
        ox.parse(text, format=ox.RdfFormat.JSON_LD), format=ox.RdfFormat.N_TRIPLES
    ).decode()
    written, by_parser = _ntriples(entries)
    assert by_parser == []
    assert written.count("\n") == parsed.count("\n") > 1000
    assert _isomorphic(written, parsed)


def test_a_node_the_writer_does_not_handle_goes_to_the_json_ld_parser() -> None:
    entry = _entry(1, ("conductivity", "two_electrode"))
    odd = Entry(*[getattr(entry, f) for f in Entry.__slots__[:-1]], {**entry.node, "@reverse": {}})
    written, by_parser = _ntriples([odd, _entry(2, ("conductivity", "two_electrode"))])
    assert by_parser == [odd.node]
    assert "urn:finales:result:r2" in written and "urn:finales:result:r1" not in written
