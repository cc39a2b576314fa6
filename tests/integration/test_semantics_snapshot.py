"""The archiver's view: a real snapshot (both databases) as one JSON-LD graph, the same IRIs
as the provenance export, and JSON-LD processing that never touches the network."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import rdflib
from pyld import jsonld
from rdflib.namespace import RDF, RDFS

from finales.capabilities import EXAMPLES
from finales.capabilities.semantics import CONDUCTIVITY, DENSITY, TEMPERATURE, VISCOSITY
from finales.errors import InvalidPayload
from finales.semantics import expand, snapshot_to_jsonld, to_graph
from tests.conftest import Lab
from tests.integration.semantic_lab import QM, measured, register_builtin
from tests.unit.test_semantics_jsonld import EMMO_RELATIONS

EMMO = rdflib.Namespace("https://w3id.org/emmo#")
FIN = rdflib.Namespace("urn:finales:vocab#")
PROV = rdflib.Namespace("http://www.w3.org/ns/prov#")

# rdflib 7's own JSON-LD parser builds a ConjunctiveGraph internally and warns about itself.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")

BY_CONCEPT = """
SELECT ?result ?value ?pointer WHERE {
    ?result a finales:Result ;
            ?hasProperty ?node .
    ?node a ?concept ;
          finales:pointer ?pointer ;
          ?hasNumericalPart ?part .
    ?part ?hasNumberValue ?value .
}
"""


def test_a_snapshot_is_one_graph_with_values_and_provenance(lab: Lab) -> None:
    cap = register_builtin(lab)
    rid, result_id = measured(lab)
    other = lab.post_request(who="a")["id"]  # the seeded capability: no concepts, no values
    snapshot = lab.archiver.get("/export/snapshot")
    assert snapshot.status_code == 200, snapshot.text

    doc = snapshot_to_jsonld(snapshot.json())
    assert set(doc) == {"@context", "@graph"}
    graph = to_graph(doc)
    result = rdflib.URIRef(f"urn:finales:result:{result_id}")
    request = rdflib.URIRef(f"urn:finales:request:{rid}")
    assert (result, PROV.wasGeneratedBy, request) in graph
    assert (result, FIN.capability, rdflib.URIRef(f"urn:finales:capability:{cap['id']}")) in graph
    assert (
        result,
        PROV.wasAttributedTo,
        rdflib.URIRef(f"urn:finales:tenant:{lab.tenant_b}"),
    ) in graph
    assert str(graph.value(result, FIN.status)) == "original"
    assert str(graph.value(request, FIN.status)) == "resolved"
    assert graph.value(request, PROV.endedAtTime) is not None
    assert graph.value(request, PROV.startedAtTime) is not None
    assert (rdflib.URIRef(f"urn:finales:request:{other}"), RDF.type, PROV.Activity) in graph
    tenant = rdflib.URIRef(f"urn:finales:tenant:{lab.tenant_b}")
    assert str(graph.value(tenant, RDFS.label)) == "tenant-b"

    example = EXAMPLES[QM]["result"]
    for term, field in ((DENSITY, "density"), (VISCOSITY, "viscosity")):
        rows = graph.query(
            BY_CONCEPT,
            initNs={"emmo": EMMO, "finales": FIN},
            initBindings={"concept": rdflib.URIRef(term.concept), **EMMO_RELATIONS},
        )
        got = {
            str(r[2]): r[1].toPython()  # type: ignore[index]
            for r in rows
            if r[0] == result and str(r[2]).startswith(f"/data/{field}/")  # type: ignore[index]
        }
        values = example[field]["values"]
        assert got == {f"/data/{field}/values/{i}": v for i, v in enumerate(values)}
    temps = graph.query(
        BY_CONCEPT,
        initNs={"emmo": EMMO, "finales": FIN},
        initBindings={"concept": rdflib.URIRef(TEMPERATURE.concept), **EMMO_RELATIONS},
    )
    assert len(list(temps)) >= 1
    # Nothing conductivity-like was measured here.
    assert not list(graph.subjects(RDF.type, rdflib.URIRef(CONDUCTIVITY.concept)))


def test_the_provenance_export_uses_the_same_nodes(lab: Lab) -> None:
    register_builtin(lab)
    rid, result_id = measured(lab)
    snapshot = snapshot_to_jsonld(lab.archiver.get("/export/snapshot").json())
    prov = lab.reader.get(f"/requests/{rid}/provenance").json()
    merged = to_graph(snapshot) + to_graph(prov)
    request = rdflib.URIRef(f"urn:finales:request:{rid}")
    result = rdflib.URIRef(f"urn:finales:result:{result_id}")
    # One node each, whichever document said it: one status, one quantity, one start.
    assert len(list(merged.objects(request, FIN.status))) == 1
    assert len(list(merged.objects(request, FIN.quantity))) == 1
    assert len(list(merged.objects(request, PROV.startedAtTime))) == 1
    assert len(list(merged.objects(result, PROV.generatedAtTime))) == 1
    assert (result, PROV.wasGeneratedBy, request) in merged


def test_anything_but_a_snapshot_is_refused() -> None:
    for bad, pointer in (
        ({"format": "other", "version": 1, "tables": {}}, "/format"),
        ({"format": "finales-export", "version": 1, "tables": {"results": []}}, "/tables/"),
    ):
        with pytest.raises(InvalidPayload) as err:
            snapshot_to_jsonld(bad)
        assert err.value.errors[0]["pointer"].startswith(pointer)


class _Counting(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:  # a context a network fetch would find
        self.hits.append(self.path)
        body = b'{"@context": {"p": "urn:p"}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/ld+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def context_server() -> Iterator[str]:
    _Counting.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/context.jsonld"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_context_that_is_not_vendored_is_refused_not_fetched(context_server: str) -> None:
    doc = {"@context": context_server, "@id": "urn:x", "p": "v"}
    # pyld's own loader would fetch it (the server is real and answers) ...
    assert jsonld.expand(doc)[0]["urn:p"] == [{"@value": "v"}]
    assert _Counting.hits == ["/context.jsonld"]
    # ... finales' refuses it without a request.
    with pytest.raises(jsonld.JsonLdError):
        expand(doc)
    with pytest.raises(jsonld.JsonLdError):
        to_graph(doc)
    assert _Counting.hits == ["/context.jsonld"]
