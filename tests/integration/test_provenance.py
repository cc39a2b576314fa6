"""Inputs and provenance: requests and results name the results they used; a tree exports
as W3C PROV-O (JSON-LD) that rdflib reads and SPARQL follows - on both databases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import rdflib
from rdflib.namespace import DCTERMS, PROV, RDF, RDFS

from tests.conftest import ErrorCheck, Lab, params

# rdflib 7's own JSON-LD parser builds a ConjunctiveGraph internally and warns about itself.
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")

REQ = "urn:finales:request:"
RES = "urn:finales:result:"


def request_body(**extra: Any) -> dict[str, Any]:
    return {
        "quantity": "conductivity",
        "methods": ["two_electrode"],
        "parameters": {"two_electrode": params()},
        **extra,
    }


def result_body(request_id: str | None, **extra: Any) -> dict[str, Any]:
    body = {
        "quantity": "conductivity",
        "method": "two_electrode",
        "parameters": params(),
        "data": {"conductivity": 0.5},
        **extra,
    }
    if request_id:
        body["request_id"] = request_id
    return body


def resolved(lab: Lab, who: str = "b", **extra: Any) -> tuple[str, str]:
    """A request resolved by ``who``: (request id, result id)."""
    req = lab.post_request(who="a", **extra)
    assert lab.claim(req["id"], who).status_code == 200
    r = lab.post_result(req["id"], who=who)
    assert r.status_code == 201, r.text
    return req["id"], r.json()["id"]


def test_inputs_are_checked_stored_and_returned(lab: Lab, expect_error: ErrorCheck) -> None:
    _, used = resolved(lab)
    req = lab.a.post("/requests", json=request_body(inputs=[used]))
    assert req.status_code == 201, req.text
    assert req.json()["inputs"] == [used]
    assert lab.reader.get(f"/requests/{req.json()['id']}").json()["inputs"] == [used]
    assert lab.post_request()["inputs"] == []

    bad = lab.a.post("/requests", json=request_body(inputs=[used, "no-such-result"]))
    expect_error(bad, 422, code="invalid_payload", pointer="/inputs/1")
    again = lab.a.post("/requests", json=request_body(inputs=[used, used]))
    expect_error(again, 422, pointer="/inputs/1")
    many = lab.a.post("/requests", json=request_body(inputs=[used] * 101))
    expect_error(many, 422, pointer="/inputs")

    # Results: refused before anything changes (the request stays reserved).
    target = lab.post_request(who="a")["id"]
    assert lab.claim(target, "b").status_code == 200
    refused = lab.b.post("/results", json=result_body(target, inputs=["x", used]))
    expect_error(refused, 422, pointer="/inputs/0")
    assert lab.reader.get(f"/requests/{target}").json()["status"] == "reserved"
    posted = lab.b.post("/results", json=result_body(target, inputs=[used]))
    assert posted.status_code == 201, posted.text
    assert posted.json()["inputs"] == [used]
    assert lab.reader.get(f"/results/{posted.json()['id']}").json()["inputs"] == [used]
    # An amendment is made from the same inputs.
    amended = lab.b.post(
        f"/results/{posted.json()['id']}/amend", json={"data": {"conductivity": 1}}
    )
    assert amended.json()["inputs"] == [used]
    # Unsolicited results too, and the SDK.
    client = lab.broker.client(api_key=lab.keys["b"])
    alone = client.post_result(
        quantity="conductivity",
        method="two_electrode",
        parameters=params(),
        data={"conductivity": 0.1},
        inputs=[used],
    )
    assert alone.inputs == [used]


QUERY = """
SELECT ?input ?name ?started ?posted WHERE {
    ?final prov:wasGeneratedBy ?activity .
    ?activity prov:used ?input .
    ?input prov:wasGeneratedBy ?step ;
           prov:wasAttributedTo ?agent ;
           prov:generatedAtTime ?posted .
    ?step dcterms:isPartOf ?activity ;
          prov:startedAtTime ?started .
    ?agent a prov:Agent ;
           rdfs:label ?name .
}
"""


def test_provenance_follows_a_final_result_back_to_its_inputs(lab: Lab) -> None:
    # An orchestrator's (tenant a's) request, broken into a step that tenant b serves.
    top = lab.post_request(who="a", labels={"workflow": "demo"})["id"]
    step, step_result = resolved(lab, parent_request_id=top, labels={"workflow_step": "mix"})
    elsewhere = lab.post_result(None, who="b").json()["id"]  # from outside the tree
    later = lab.post_request(who="a", parent_request_id=top, inputs=[step_result])["id"]
    dropped = lab.post_request(who="a", parent_request_id=top)["id"]
    assert lab.a.post(f"/requests/{dropped}/retract").status_code == 200
    assert lab.claim(top, "a").status_code == 200
    final = lab.a.post("/results", json=result_body(top, inputs=[step_result, elsewhere]))
    assert final.status_code == 201, final.text
    final_id = final.json()["id"]

    r = lab.reader.get(f"/requests/{top}/provenance")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/ld+json")
    doc = r.json()
    assert doc["@context"]["prov"] == str(PROV)
    g = rdflib.Graph().parse(data=r.text, format="json-ld")

    rows = list(
        g.query(
            QUERY,
            initNs={"prov": PROV, "dcterms": DCTERMS, "rdfs": RDFS},
            initBindings={"final": rdflib.URIRef(RES + final_id)},
        )
    )
    assert len(rows) == 1, rows
    (input_iri, name, started, posted) = rows[0]
    assert str(input_iri) == RES + step_result
    assert str(name) == "tenant-b"
    assert started.toPython() <= posted.toPython()  # claimed before the result came

    def one(s: str, p: rdflib.URIRef) -> Any:
        values = list(g.objects(rdflib.URIRef(s), p))
        assert len(values) == 1, (s, p, values)
        return values[0]

    # Every request of the tree is an activity; the step is part of the top one.
    for rid in (top, step, later, dropped):
        assert (rdflib.URIRef(REQ + rid), RDF.type, PROV.Activity) in g
    assert str(one(REQ + step, DCTERMS.isPartOf)) == REQ + top
    assert (rdflib.URIRef(REQ + later), PROV.used, rdflib.URIRef(RES + step_result)) in g
    # The input from outside the tree is described: made by tenant b's (unsolicited) record.
    assert (rdflib.URIRef(REQ + top), PROV.used, rdflib.URIRef(RES + elsewhere)) in g
    assert (rdflib.URIRef(RES + final_id), PROV.wasDerivedFrom, rdflib.URIRef(RES + elsewhere)) in g
    assert str(one(RES + elsewhere, PROV.wasAttributedTo)) == f"urn:finales:tenant:{lab.tenant_b}"
    # Open activities have no end; closed ones end when they were resolved or retracted.
    assert list(g.objects(rdflib.URIRef(REQ + later), PROV.endedAtTime)) == []
    ended = one(REQ + dropped, PROV.endedAtTime).toPython()
    retracted_at = lab.reader.get(f"/requests/{dropped}/history").json()[-1]["at"]
    assert ended == datetime.fromisoformat(retracted_at)
    # The step's activity is associated with its requester (a) and its performer (b).
    agents = {str(o) for o in g.objects(rdflib.URIRef(REQ + step), PROV.wasAssociatedWith)}
    assert agents == {f"urn:finales:tenant:{lab.tenant_a}", f"urn:finales:tenant:{lab.tenant_b}"}

    # A subtree exports alone; the SDK returns the same document; unknown ids are 404.
    sub = rdflib.Graph().parse(
        data=lab.reader.get(f"/requests/{step}/provenance").text, format="json-ld"
    )
    assert (rdflib.URIRef(REQ + top), RDF.type, PROV.Activity) not in sub
    assert lab.broker.client(api_key=lab.keys["reader"]).request_provenance(top) == doc
    assert lab.reader.get("/requests/nope/provenance").status_code == 404
