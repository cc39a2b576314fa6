"""JSON-LD over the API (both databases): ?format=jsonld and Accept: application/ld+json on
the single-item GETs, 406/422 for what cannot be served, auth as before; every answer and the
snapshot and provenance documents conform to the shapes."""

from __future__ import annotations

import json
from typing import Any

import pyshacl
import pytest
import rdflib
from rdflib.compare import isomorphic
from rdflib.namespace import RDF

from finales.capabilities import EXAMPLES
from finales.capabilities.semantics import DENSITY, TEMPERATURE
from finales.semantics import inline_contexts, shapes_graph, snapshot_to_jsonld, to_graph
from tests.conftest import ErrorCheck, Lab
from tests.integration.semantic_lab import QM, measured, register_builtin

# rdflib 7's own JSON-LD parser builds a ConjunctiveGraph internally and warns about itself.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")

FIN = rdflib.Namespace("urn:finales:vocab#")
LD = "application/ld+json"


def conforms(doc: dict[str, Any]) -> bool:
    ok, _, text = pyshacl.validate(to_graph(doc), shacl_graph=shapes_graph())
    assert ok, text
    return bool(ok)


def typed_values(doc: dict[str, Any], concept: str) -> dict[str, float]:
    graph = to_graph(doc)
    out = {}
    for node in graph.subjects(RDF.type, rdflib.URIRef(concept)):
        part = graph.value(node, rdflib.URIRef(HAS_NUMERICAL_PART))
        value = graph.value(part, rdflib.URIRef(NUMBER_VALUE))
        out[str(graph.value(node, FIN.pointer))] = value.toPython()  # type: ignore[union-attr]
    return out


HAS_NUMERICAL_PART = "https://w3id.org/emmo#EMMO_8ef3cd6d_ae58_4a8d_9fc0_ad8f49015cd0"
NUMBER_VALUE = "https://w3id.org/emmo#EMMO_faf79f53_749d_40b2_807c_d34244c192f4"


def test_a_result_as_json_ld_by_format_or_accept(lab: Lab) -> None:
    register_builtin(lab)
    rid, result_id = measured(lab)
    by_format = lab.reader.get(f"/results/{result_id}", params={"format": "jsonld"})
    assert by_format.status_code == 200, by_format.text
    assert by_format.headers["content-type"].startswith(LD)
    assert by_format.headers["vary"] == "Accept"
    doc = by_format.json()
    assert doc["@id"] == f"urn:finales:result:{result_id}"
    values = typed_values(doc, DENSITY.concept)
    expected = EXAMPLES[QM]["result"]["density"]["values"]
    assert {k: v for k, v in values.items() if k.startswith("/data/density/")} == {
        f"/data/density/values/{i}": v for i, v in enumerate(expected)
    }
    assert conforms(doc)

    by_accept = lab.reader.get(f"/results/{result_id}", headers={"Accept": LD})
    assert by_accept.headers["content-type"].startswith(LD)
    assert by_accept.json() == doc
    preferred = lab.reader.get(
        f"/results/{result_id}", headers={"Accept": "application/json;q=0.5, application/ld+json"}
    )
    assert preferred.json() == doc
    # JSON stays the default (no Accept, */*), and ?format wins over Accept.
    cases = (({}, {}), ({"Accept": "*/*"}, {}), ({"Accept": LD}, {"format": "json"}))
    for headers, params in cases:
        plain = lab.reader.get(f"/results/{result_id}", headers=headers, params=params)
        assert plain.headers["content-type"].startswith("application/json")
        assert plain.json()["request_id"] == rid


def test_what_cannot_be_served_is_refused(lab: Lab, expect_error: ErrorCheck) -> None:
    result_id = lab.post_result(None, who="b").json()["id"]
    url = f"/results/{result_id}"
    bad_format = lab.reader.get(url, params={"format": "turtle"})
    expect_error(bad_format, 422, code="invalid_payload")
    assert "format" in bad_format.text
    for accept in ("text/html", "application/xml, text/*;q=0.5", "application/ld+json;q=0"):
        refused = lab.reader.get(url, headers={"Accept": accept})
        expect_error(refused, 406, code="not_acceptable")
        assert "application/ld+json" in refused.json()["detail"]
    malformed = lab.reader.get(url, headers={"Accept": "application/ld+json;q=high"})
    expect_error(malformed, 400)
    assert "Accept" in malformed.json()["detail"]
    # Auth and existence as before, in either representation.
    expect_error(lab.anon.get(url, params={"format": "jsonld"}), 401)
    expect_error(lab.reader.get("/results/nope", params={"format": "jsonld"}), 404)
    expect_error(lab.reader.get("/requests/nope", headers={"Accept": LD}), 404)


def test_requests_capabilities_and_tenants_as_json_ld(lab: Lab) -> None:
    cap = register_builtin(lab)
    rid, _ = measured(lab)
    request = lab.reader.get(f"/requests/{rid}", headers={"Accept": LD})
    assert request.status_code == 200, request.text
    doc = request.json()
    temps = typed_values(doc, TEMPERATURE.concept)
    assert set(temps) == {f"/parameters/{QM[1]}/temperature"}
    assert doc["finales:status"] == "resolved" and conforms(doc)

    capability = lab.reader.get(f"/capabilities/{QM[0]}/{QM[1]}", params={"format": "jsonld"})
    assert capability.json()["@id"] == f"urn:finales:capability:{cap['id']}"
    assert conforms(capability.json())
    old = lab.reader.get(
        "/capabilities/conductivity/two_electrode", params={"format": "jsonld", "version": 1}
    )
    assert old.status_code == 200 and "finales:field" not in old.json()  # no concepts in it

    tenant = lab.reader.get(f"/tenants/{lab.tenant_b}", params={"format": "jsonld"})
    assert tenant.json()["rdfs:label"] == "tenant-b" and conforms(tenant.json())
    offers = {(o["finales:quantity"], o["finales:method"]) for o in tenant.json()["finales:offer"]}
    assert QM in offers


def same_triples(doc: dict[str, Any]) -> bool:
    """rdflib's own JSON-LD parser (contexts inlined: it takes no loader) reads ``doc`` to
    the triples pyld gives."""
    by_rdflib = rdflib.Graph().parse(data=json.dumps(inline_contexts(doc)), format="json-ld")
    return isomorphic(by_rdflib, to_graph(doc))


def test_snapshot_and_provenance_conform_and_read_the_same_everywhere(lab: Lab) -> None:
    register_builtin(lab)
    rid, result_id = measured(lab)
    lab.post_request(who="a")  # pending, from a tenant
    lab.post_request(who="admin")  # pending, from a principal without a tenant
    snapshot = snapshot_to_jsonld(lab.archiver.get("/export/snapshot").json())
    provenance = lab.reader.get(f"/requests/{rid}/provenance").json()
    result = lab.reader.get(f"/results/{result_id}", params={"format": "jsonld"}).json()
    request = lab.reader.get(f"/requests/{rid}", params={"format": "jsonld"}).json()
    for doc in (snapshot, provenance, result, request):
        assert conforms(doc)
        assert same_triples(doc)


@pytest.mark.parametrize("path", ["/results", "/requests", "/tenants", "/capabilities"])
def test_listings_are_unchanged(lab: Lab, path: str) -> None:
    r = lab.reader.get(path, headers={"Accept": LD})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
