"""Semantic search and SPARQL against a served broker, on both databases.

Results are posted with the built-in capability library's schemas (registered at runtime, as
an admin would), so their values carry the ontology's classes and units.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from finales.capabilities.examples import LIPF6
from tests.conftest import Lab
from tests.search_data import (
    CONDUCTIVITY,
    COUNT_RESULTS,
    IONIC_CONDUCTIVITY_IRI,
    body,
    populate_search,
    post,
)


@pytest.fixture
def searchable(served_lab: Lab) -> tuple[Lab, dict[str, dict[str, Any]]]:
    return served_lab, populate_search(served_lab)


def _ids(r: httpx.Response) -> set[str]:
    assert r.status_code == 200, r.text
    return {hit["id"] for hit in r.json()["items"]}


def _count(lab: Lab) -> int:
    r = lab.reader.post("/sparql", json={"query": COUNT_RESULTS})
    assert r.status_code == 200, r.text
    return int(r.json()["results"]["bindings"][0]["n"]["value"])


def _search(lab: Lab, who: str | None = "reader", **params: Any) -> httpx.Response:
    return lab.client(who).get("/search", params=params)


def test_a_concept_finds_the_results_of_its_sub_classes(searchable: Any) -> None:
    lab, p = searchable
    conductivities = {p[k]["id"] for k in ("c05", "c09", "c12", "c20")}
    # IonicConductivity is an ElectrochemicalTransportQuantity, an ElectrochemicalQuantity...
    for broader in ("ElectrochemicalQuantity", "electrochemical transport quantity"):
        r = _search(lab, concept=broader)
        assert _ids(r) == conductivities
        concept = r.json()["concepts"][0]
        assert concept["classes"] > 1  # the class and its sub-classes
    hit = _search(lab, concept="ElectrochemicalQuantity").json()["items"][0]
    assert hit["values"][0]["label"] == "IonicConductivity"
    assert hit["values"][0]["unit"] == "siemens / meter"
    assert _ids(_search(lab, concept="density")) == {p["d09"]["id"]}
    # The class itself, by IRI and by prefixed name, finds the same results.
    assert _ids(_search(lab, concept=IONIC_CONDUCTIVITY_IRI)) == conductivities
    prefixed = "echem:" + IONIC_CONDUCTIVITY_IRI.split("#")[1]
    assert _ids(_search(lab, concept=prefixed)) == conductivities


def test_labels_as_a_person_types_them(searchable: Any) -> None:
    lab, p = searchable
    expected = {p[k]["id"] for k in ("c05", "c09", "c12", "c20")}
    for typed in ("ionic conductivity", "IONIC  Conductivity", "ionic-conductivity"):
        assert _ids(_search(lab, concept=typed)) == expected, typed
    r = _search(lab, concept="ionic conductivty")
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/concept"
    assert "IonicConductivity" in r.json()["detail"]  # the close match is suggested


def test_value_ranges_with_units(searchable: Any) -> None:
    lab, p = searchable
    fraction = "amount fraction of LiPF6:0.08..0.15 mol/mol"
    both = {p["c09"]["id"], p["c12"]["id"], p["d09"]["id"]}
    assert _ids(_search(lab, where=fraction)) == both
    # The same range in per cent, and the chemical by InChIKey and by SMILES.
    assert _ids(_search(lab, where="amount fraction of LiPF6:8..15 %")) == both
    by_key = f"AmountFraction of {LIPF6['InChIKey']}:0.08..0.15"
    assert _ids(_search(lab, where=by_key)) == both
    by_smiles = f"AmountFraction of {LIPF6['SMILES']}:0.08..0.15"
    assert _ids(_search(lab, where=by_smiles)) == both
    # Combined with a concept and a temperature in °C (stored in kelvin).
    r = _search(lab, concept="ionic conductivity", where=[fraction, "temperature:20..27 degC"])
    assert _ids(r) == {p["c09"]["id"]}
    # An open range on the result's own value.
    assert _ids(_search(lab, where="ionic conductivity:0.8.. S/m")) == {
        p["c09"]["id"],
        p["c12"]["id"],
    }
    assert _ids(_search(lab, where="ionic conductivity:800.. mS/m")) == {
        p["c09"]["id"],
        p["c12"]["id"],
    }


def test_units_that_do_not_convert_and_bad_filters_are_refused(searchable: Any) -> None:
    lab, _ = searchable
    cases = {
        "amount fraction of LiPF6:0.8..1.2 S/m": "does not convert",
        "amount fraction of LiPF6:0.8..1.2 furlongs": "unknown unit",
        "amount fraction of LiPF6 0.8 1.2": "cannot read",
        "amount fraction of LiPF6:1.2..0.8": "empty",
        "amount fraction of NaCl:0.1..0.2": "unknown chemical",
        "no such thing:1..2": "no class",
    }
    for where, words in cases.items():
        r = _search(lab, where=["temperature:..400 K", where])
        assert r.status_code == 422, where
        body = r.json()
        assert body["errors"][0]["pointer"] == "/where/1", where
        assert body["errors"][0]["in"] == "query"
        assert words in body["detail"], body
    for params in ({"limit": 0}, {"limit": 501}, {"since": "yesterday"}, {"cursor": "x"}):
        r = _search(lab, **params)
        assert r.status_code == 422, params
        name = next(iter(params))
        assert r.json()["errors"][0]["pointer"] == f"/{name}"


def test_tenant_method_and_time_filters(searchable: Any) -> None:
    lab, p = searchable
    a_conductivities = {p["c05"]["id"], p["c09"]["id"]}
    assert _ids(_search(lab, concept="ionic conductivity", tenant="tenant-a")) == a_conductivities
    assert _ids(_search(lab, concept="ionic conductivity", tenant=lab.tenant_a)) == a_conductivities
    assert _ids(_search(lab, method="vibrating_tube_densimetry")) == {p["d09"]["id"]}
    assert _ids(_search(lab, quantity="density")) == {p["d09"]["id"]}
    created = sorted(datetime.fromisoformat(r["created_at"]) for r in p.values())
    later = (created[-1] + timedelta(seconds=1)).isoformat()
    assert _ids(_search(lab, since=later)) == set()
    assert len(_ids(_search(lab, until=later))) == 5
    first = datetime.fromisoformat(p["c05"]["created_at"])
    after_first = _ids(_search(lab, since=(first + timedelta(microseconds=1)).isoformat()))
    assert p["c05"]["id"] not in after_first and len(after_first) == 4


def test_pages_are_newest_first(searchable: Any) -> None:
    lab, p = searchable
    order = [p[k]["id"] for k in ("d09", "c20", "c12", "c09", "c05")]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = _search(lab, **params).json()
        seen += [h["id"] for h in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == order


def test_results_posted_amended_and_deleted_after_the_first_search(searchable: Any) -> None:
    lab, p = searchable
    assert len(_ids(_search(lab, concept="ionic conductivity"))) == 4  # the graph is built
    assert _count(lab) == 5
    late = post(lab, "b", CONDUCTIVITY, x_li=0.1, temperature_k=298.15, value=1.05)
    assert late["id"] in _ids(_search(lab, where="ionic conductivity:1..1.1 S/m"))
    # Amended: the new version is found, the superseded one only when asked for.
    fixed = body(CONDUCTIVITY, x_li=0.1, temperature_k=298.15, value=0.99)
    r = lab.b.post(f"/results/{late['id']}/amend", json={"data": fixed["data"], "message": "fix"})
    assert r.status_code == 201, r.text
    amended = r.json()
    found = _search(lab, where="ionic conductivity:0.95..1.1 S/m")
    assert _ids(found) == {amended["id"]}
    assert found.json()["items"][0]["values"][0]["value"] == 0.99
    also_old = _search(lab, where="ionic conductivity:0.95..1.1 S/m", include_amended=True)
    assert _ids(also_old) == {amended["id"], late["id"]}
    # Deleted (here through the FINALES 2 door): never found again, gone from SPARQL too.
    gone = p["c12"]["id"]
    r = lab.root("admin").post(f"/results/{gone}/update_status/", params={"new_status": "deleted"})
    assert r.status_code in (200, 204), r.text
    assert gone not in _ids(_search(lab, concept="ionic conductivity", include_amended=True))
    assert _count(lab) == 6  # 5 + late + amended - deleted
    ask = f"ASK {{ <urn:finales:result:{gone}> ?p ?o }}"
    assert lab.reader.post("/sparql", json={"query": ask}).json()["boolean"] is False


def test_sparql_select_over_results_and_ontology(searchable: Any) -> None:
    lab, p = searchable
    query = """
    PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
    PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
    PREFIX emmo: <https://w3id.org/emmo#>
    SELECT ?result ?value WHERE {
      ?class rdfs:subClassOf* ?broad . ?broad skos:prefLabel "ElectrochemicalQuantity"@en .
      ?result emmo:EMMO_e1097637_70d2_4895_973f_2396f04fa204 ?node .
      ?node a ?class ; emmo:EMMO_8ef3cd6d_ae58_4a8d_9fc0_ad8f49015cd0 ?part .
      ?part emmo:EMMO_faf79f53_749d_40b2_807c_d34244c192f4 ?value .
    } ORDER BY ?value
    """
    r = lab.client("a").post("/sparql", json={"query": query})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/sparql-results+json")
    rows = r.json()["results"]["bindings"]
    assert [float(row["value"]["value"]) for row in rows] == [0.61, 0.71, 0.86, 0.93]
    assert rows[0]["result"]["value"] == f"urn:finales:result:{p['c05']['id']}"
    construct = (
        "CONSTRUCT { ?r a <urn:finales:vocab#Result> } WHERE { ?r a <urn:finales:vocab#Result> }"
    )
    r = lab.reader.post("/sparql", json={"query": construct})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/n-triples")
    assert r.text.count("\n") == 5


def test_sparql_updates_are_refused_and_change_nothing(searchable: Any) -> None:
    lab, _ = searchable
    before = _count(lab)
    updates = [
        "PREFIX finales: <urn:finales:vocab#> DELETE WHERE { ?r a finales:Result }",
        "INSERT DATA { <urn:x:1> a <urn:finales:vocab#Result> }",
        "# a comment\nCLEAR ALL",
        "LOAD <http://example.org/data.ttl>",
        "SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }",
        "SELECT * WHERE { ?s ?p ?o } ; DROP ALL",
        "SELECT * WHERE { ?s ?p }",  # not even a query: the store's parser says where
    ]
    for update in updates:
        r = lab.admin.post("/sparql", json={"query": update})
        assert r.status_code == 422, (update, r.text)
        assert r.json()["errors"][0]["pointer"] == "/query"
    assert _count(lab) == before
    # Keywords inside strings, IRIs and variables are not operations.
    ok = 'SELECT ?delete WHERE { BIND("INSERT DATA" AS ?delete) FILTER(?delete != "<drop>") }'
    assert lab.reader.post("/sparql", json={"query": ok}).status_code == 200


def test_a_pathological_query_is_stopped_with_a_4xx(searchable: Any) -> None:
    lab, _ = searchable
    cross = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
    r = lab.reader.post("/sparql", json={"query": cross, "timeout_s": 1})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "query_too_costly"
    assert "time limit" in r.json()["detail"]
    # The server is fine afterwards, and an answer too large is refused, not cut.
    assert _count(lab) == 5
    everything = "SELECT * WHERE { ?s ?p ?o . ?r a <urn:finales:vocab#Result> }"
    r = lab.reader.post("/sparql", json={"query": everything})
    assert r.status_code == 422 and "rows" in r.json()["detail"]


def test_roles(searchable: Any) -> None:
    lab, _ = searchable
    for who in ("reader", "archiver", "a", "admin"):
        assert _search(lab, who, concept="density").status_code == 200
        assert lab.client(who).post("/sparql", json={"query": COUNT_RESULTS}).status_code == 200
    assert _search(lab, None, concept="density").status_code == 401
    assert lab.anon.post("/sparql", json={"query": COUNT_RESULTS}).status_code == 401
    bad = httpx.Client(base_url=str(lab.reader.base_url), headers={"Authorization": "Bearer x"})
    with bad:
        assert bad.get("/search").status_code == 401
