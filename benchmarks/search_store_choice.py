"""rdflib or pyoxigraph for the search graph: load time, memory and the latency of the concept +
range query on a synthetic graph shaped like finales results (see docs/search.md).

Each synthetic result carries what the search graph holds for a real one: its type, quantity,
method, tenant, status and time, a value node (concept class, number, unit), and its request's
parameters as nodes of their own (a LiPF6 molality and a temperature), about 25 triples. A small
class hierarchy stands in for the ontology (the query walks ``rdfs:subClassOf*``).

    .venv/bin/python benchmarks/search_store_choice.py --results 10000 100000 --store oxigraph
    .venv/bin/python benchmarks/search_store_choice.py --results 10000 --store rdflib

Each (store, size) runs in a fresh process (``--one``) so that its peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

F = "https://w3id.org/finales#"
R = "https://finales.example/"
Q = "http://qudt.org/schema/qudt/"
U = "http://qudt.org/vocab/unit/"
E = "https://example.org/onto#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
SUBCLASS = "http://www.w3.org/2000/01/rdf-schema#subClassOf"
XSD = "http://www.w3.org/2001/XMLSchema#"

QUERY = f"""
PREFIX f: <{F}> PREFIX q: <{Q}> PREFIX e: <{E}>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?r ?v WHERE {{
  ?c rdfs:subClassOf* e:ElectrochemicalProperty .
  ?val a ?c ; q:numericValue ?v .
  ?r f:value ?val ; f:request ?req .
  ?req f:parameter ?p .
  ?p a e:Molality ; f:substance "LiPF6" ; q:numericValue ?m .
  FILTER(?m >= 0.8 && ?m <= 1.2)
}} LIMIT 100
"""
# The same match without a limit, newest first: what a search page costs when it must know
# every hit (the count) before it shows the first.
QUERY_ALL = (
    QUERY.replace("SELECT ?r ?v", "SELECT ?r ?v ?t")
    .replace("?r f:value ?val ;", "?r f:value ?val ; f:createdAt ?t ;")
    .replace("LIMIT 100", "ORDER BY DESC(?t)")
)


def triples(n: int, seed: int = 1) -> Iterator[tuple[str, str, object]]:
    """(subject, predicate, object) with IRIs as str and literals as (value, datatype)."""
    rng = random.Random(seed)
    hierarchy = [
        ("ElectrochemicalProperty", "PhysicalQuantity"),
        ("IonicConductivity", "ElectrochemicalProperty"),
        ("ElectricConductivity", "ElectrochemicalProperty"),
        ("Density", "PhysicalQuantity"),
        ("Viscosity", "PhysicalQuantity"),
        ("Molality", "PhysicalQuantity"),
        ("Temperature", "PhysicalQuantity"),
    ]
    for sub, sup in hierarchy:
        yield E + sub, SUBCLASS, E + sup
    concepts = ["IonicConductivity", "Density", "Viscosity"]
    for i in range(n):
        r, req, val = f"{R}result/{i}", f"{R}request/{i}", f"{R}result/{i}/value"
        p1, p2 = f"{R}request/{i}/m", f"{R}request/{i}/t"
        concept = concepts[i % 3]
        yield r, RDF_TYPE, F + "Result"
        yield r, F + "quantity", (concept.lower(), None)
        yield r, F + "method", ("two_electrode", None)
        yield r, F + "tenant", f"{R}tenant/{i % 7}"
        yield r, F + "status", ("original", None)
        yield r, F + "createdAt", (f"2026-01-01T00:00:{i % 60:02d}Z", XSD + "dateTime")
        yield r, F + "value", val
        yield r, F + "request", req
        yield val, RDF_TYPE, E + concept
        yield val, Q + "numericValue", (repr(rng.uniform(0.1, 2.0)), XSD + "double")
        yield val, Q + "unit", U + "S-PER-M"
        yield req, RDF_TYPE, F + "Request"
        yield req, F + "parameter", p1
        yield req, F + "parameter", p2
        yield p1, RDF_TYPE, E + "Molality"
        yield p1, F + "substance", ("LiPF6", None)
        yield p1, Q + "numericValue", (repr(rng.uniform(0.2, 2.0)), XSD + "double")
        yield p1, Q + "unit", U + "MOL-PER-KiloGM"
        yield p2, RDF_TYPE, E + "Temperature"
        yield p2, Q + "numericValue", (repr(rng.uniform(280.0, 330.0)), XSD + "double")
        yield p2, Q + "unit", U + "K"
        yield p1, F + "name", ("LiPF6 molality", None)
        yield p2, F + "name", ("temperature", None)
        yield r, F + "label", (f"result {i}", None)


def run_oxigraph(n: int, queries: int, disk: bool = False) -> dict[str, float]:
    import tempfile

    import pyoxigraph as ox

    tmp = tempfile.mkdtemp()
    t0 = time.perf_counter()
    store = ox.Store(tmp + "/store") if disk else ox.Store()
    batch: list[ox.Quad] = []
    for s, p, o in triples(n):
        obj = (
            ox.NamedNode(o)
            if isinstance(o, str)
            else ox.Literal(o[0], datatype=ox.NamedNode(o[1]) if o[1] else None)  # type: ignore[index]
        )
        batch.append(ox.Quad(ox.NamedNode(s), ox.NamedNode(p), obj))
        if len(batch) >= 10_000:
            store.extend(batch)
            batch = []
    store.extend(batch)
    load_s = time.perf_counter() - t0
    out: dict[str, float] = {"load_s": load_s, "rss_after_load_mib": _rss_mib()}
    if disk:
        t0 = time.perf_counter()
        store.backup(tmp + "/checkpoint")
        out["checkpoint_s"] = time.perf_counter() - t0
    out.update(_time(lambda: list(store.query(QUERY)), queries))
    full = _time(lambda: list(store.query(QUERY_ALL)), queries)
    out.update(
        {"all_rows": full["rows"], "all_p50_ms": full["p50_ms"], "all_p95_ms": full["p95_ms"]}
    )
    return out


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_rdflib(n: int, queries: int) -> dict[str, float]:
    import rdflib

    t0 = time.perf_counter()
    g = rdflib.Graph()
    for s, p, o in triples(n):
        obj = (
            rdflib.URIRef(o)
            if isinstance(o, str)
            else rdflib.Literal(o[0], datatype=rdflib.URIRef(o[1]) if o[1] else None)  # type: ignore[index]
        )
        g.add((rdflib.URIRef(s), rdflib.URIRef(p), obj))
    load_s = time.perf_counter() - t0
    out: dict[str, float] = {"load_s": load_s, "rss_after_load_mib": _rss_mib()}
    out.update(_time(lambda: list(g.query(QUERY)), queries))
    full = _time(lambda: list(g.query(QUERY_ALL)), queries)
    out.update(
        {"all_rows": full["rows"], "all_p50_ms": full["p50_ms"], "all_p95_ms": full["p95_ms"]}
    )
    return out


def _time(fn: object, queries: int) -> dict[str, float]:
    got = len(fn())  # type: ignore[operator]  # warm-up, and a check that it finds something
    times = []
    for _ in range(queries):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "rows": got,
        "p50_ms": statistics.median(times),
        "p95_ms": times[max(0, int(len(times) * 0.95) - 1)],
    }


def one(store: str, n: int, queries: int) -> None:
    if store == "rdflib":
        out = run_rdflib(n, queries)
    else:
        out = run_oxigraph(n, queries, disk=store == "oxigraph-disk")
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["triples"] = n * 24 + 7
    print(json.dumps({"store": store, "results": n, **out}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument(
        "--store", choices=["oxigraph", "oxigraph-disk", "rdflib"], nargs="+", default=["oxigraph"]
    )
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        one(a.store[0], a.results[0], a.queries)
        return
    for store in a.store:
        for n in a.results:
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    "--store",
                    store,
                    "--results",
                    str(n),
                    "--queries",
                    str(a.queries),
                ],
                check=True,
            )


if __name__ == "__main__":
    main()
