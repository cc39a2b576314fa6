"""What finales emits conforms to its SHACL shapes (pyshacl), a broken document does not, and
rdflib reads every document to the same triples as pyld expands."""

from __future__ import annotations

import copy
import json
from typing import Any

import pyshacl
import pytest
import rdflib
from rdflib.compare import isomorphic, to_isomorphic

from finales.capabilities import EXAMPLES, get
from finales.domain.statuses import RequestStatus, ResultStatus
from finales.semantics import (
    capability_to_jsonld,
    graph_document,
    inline_contexts,
    request_to_jsonld,
    result_to_jsonld,
    shapes_graph,
    tenant_to_jsonld,
    to_graph,
)
from tests.unit.test_semantics_jsonld import LIPF6, wire_result

# rdflib 7's own JSON-LD parser builds a ConjunctiveGraph internally and warns about itself.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")

SH = rdflib.Namespace("http://www.w3.org/ns/shacl#")


def wire_request() -> dict[str, Any]:
    example = EXAMPLES[("density", "vibrating_tube_densimetry")]["request"]
    return {
        "id": "req-9",
        "quantity": "density",
        "methods": ["vibrating_tube_densimetry"],
        "parameters": {"vibrating_tube_densimetry": example},
        "parent_request_id": "req-1",
        "requester": "bot-a",
        "requester_tenant_id": "ten-1",
        "status": "reserved",
        "created_at": "2026-03-01T12:00:00Z",
        "labels": {"campaign": "c1"},
        "inputs": ["res-0"],
    }


def wire_capability() -> dict[str, Any]:
    cap = get("capacity", "cycling")
    return {
        "id": "cap-2",
        "quantity": cap.quantity,
        "method": cap.method,
        "version": 1,
        "active": True,
        "request_schema": cap.request_schema(),
        "result_schema": cap.result_schema(),
        "description": "",
        "created_at": "2026-01-01T00:00:00Z",
    }


def wire_tenant() -> dict[str, Any]:
    return {
        "id": "ten-1",
        "name": "robot",
        "description": "",
        "contact": "",
        "created_at": "2026-01-01T00:00:00Z",
        "offers": [{"quantity": "density", "method": "vibrating_tube_densimetry"}],
    }


def every_document() -> dict[str, dict[str, Any]]:
    density = wire_result("density", "vibrating_tube_densimetry", supersedes="res-0")
    density["data"]["run_info"]["chemicals_info"] = {LIPF6: {"molar_mass": [151.9, 0.1]}}
    docs = {
        f"result {q}/{m}": result_to_jsonld(wire_result(q, m, id=f"r-{q}-{m}")) for q, m in EXAMPLES
    }
    docs["result with pairs and a revision"] = result_to_jsonld(density)
    docs["request"] = request_to_jsonld(wire_request())
    docs["capability"] = capability_to_jsonld(wire_capability())
    docs["tenant"] = tenant_to_jsonld(wire_tenant())
    docs["graph"] = graph_document(
        [
            result_to_jsonld(wire_result("conductivity", "two_electrode"), context=False),
            tenant_to_jsonld(wire_tenant(), context=False),
        ]
    )
    return docs


DOCS = every_document()


def violations(doc: dict[str, Any]) -> list[tuple[str, str]]:
    conforms, report, _ = pyshacl.validate(
        to_graph(doc), shacl_graph=shapes_graph(), allow_warnings=False
    )
    assert isinstance(report, rdflib.Graph)
    found = [
        (str(report.value(r, SH.resultPath)), str(report.value(r, SH.focusNode)))
        for r in report.subjects(rdflib.RDF.type, SH.ValidationResult)
    ]
    assert conforms == (not found)
    return found


@pytest.mark.parametrize("name", sorted(DOCS))
def test_every_emitted_document_conforms(name: str) -> None:
    assert violations(DOCS[name]) == []


@pytest.mark.parametrize("name", sorted(DOCS))
def test_rdflib_reads_the_same_triples_as_pyld_expands(name: str) -> None:
    by_pyld = to_graph(DOCS[name])
    by_rdflib = rdflib.Graph().parse(data=json.dumps(inline_contexts(DOCS[name])), format="json-ld")
    assert len(by_pyld) >= 8
    assert isomorphic(by_pyld, by_rdflib), sorted(
        set(to_isomorphic(by_pyld)) ^ set(to_isomorphic(by_rdflib))
    )[:5]


HAS_NUMBER = "https://w3id.org/emmo#EMMO_faf79f53_749d_40b2_807c_d34244c192f4"
HAS_PART = "https://w3id.org/emmo#EMMO_8ef3cd6d_ae58_4a8d_9fc0_ad8f49015cd0"
HAS_PROPERTY = "https://w3id.org/emmo#EMMO_e1097637_70d2_4895_973f_2396f04fa204"


def test_a_broken_document_is_caught() -> None:
    good = DOCS["result conductivity/two_electrode"]
    broken = copy.deepcopy(good)
    value = broken["hasProperty"][0]
    del value["hasNumericalPart"]["hasNumberValue"]  # a value without its number
    found = violations(broken)
    # On its RealData node, and so on the value and the result that hold it.
    assert {path for path, _ in found} <= {HAS_NUMBER, HAS_PART, HAS_PROPERTY}, found
    assert HAS_NUMBER in {path for path, _ in found}

    late = copy.deepcopy(good)
    late["prov:generatedAtTime"] = "yesterday"  # not an xsd:dateTime
    assert ("http://www.w3.org/ns/prov#generatedAtTime", good["@id"]) in violations(late)

    stranger = copy.deepcopy(good)
    stranger["prov:wasAttributedTo"] = {"@id": "https://example.org/someone"}
    assert ("http://www.w3.org/ns/prov#wasAttributedTo", good["@id"]) in violations(stranger)

    status = copy.deepcopy(good)
    status["finales:status"] = "lost"
    assert ("urn:finales:vocab#status", good["@id"]) in violations(status)

    no_pointer = copy.deepcopy(good)
    del no_pointer["hasProperty"][1]["finales:pointer"]
    assert any(p == "urn:finales:vocab#pointer" for p, _ in violations(no_pointer))


def test_the_shapes_know_every_status() -> None:
    shapes = shapes_graph()
    listed: dict[str, set[str]] = {}
    for name in ("Result", "Request"):
        shape = rdflib.URIRef(f"urn:finales:shapes#{name}")
        for prop in shapes.objects(shape, SH.property):
            if shapes.value(prop, SH.path) == rdflib.URIRef("urn:finales:vocab#status"):
                items = rdflib.collection.Collection(shapes, shapes.value(prop, SH["in"]))
                listed[name] = {str(i) for i in items}
    assert listed["Result"] == {s.value for s in ResultStatus}
    assert listed["Request"] == {s.value for s in RequestStatus}
