"""What JSON-LD costs (finales.semantics): building documents, pyld's expansion to RDF, and
a whole snapshot, for results of the built-in capabilities.

    .venv/bin/python benchmarks/jsonld.py [--results 10000] [--json out.json]

Per result: ``result_to_jsonld`` (plain Python), ``to_graph`` (pyld with the vendored
contexts, then rdflib) for three capabilities of different size. Whole snapshot: a synthetic
export bundle of N results (the library's examples, cycled; ids, times and values varied) made
into one graph by ``snapshot_to_jsonld``, its size as JSON, and pyld's N-Quads of a 1,000-result
slice. Times are medians of repeated runs on a warm process (the battery context is read and
processed once, on the first expansion; that first call is reported apart).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from finales.capabilities import CAPABILITIES, EXAMPLES
from finales.semantics import Schemas, result_to_jsonld, snapshot_to_jsonld, to_graph, to_nquads

PAIRS = [
    ("conductivity", "two_electrode"),
    ("capacity", "cycling"),
    ("radial_distribution_function", "molecular_dynamics"),
]


def _median_s(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def wire_result(pair: tuple[str, str], i: int = 0) -> dict[str, Any]:
    example = copy.deepcopy(EXAMPLES[pair])
    return {
        "id": str(uuid.UUID(int=i)),
        "request_id": str(uuid.UUID(int=10**9 + i)),
        "quantity": pair[0],
        "method": pair[1],
        "parameters": example["request"],
        "data": example["result"],
        "tenant_id": "tenant",
        "capability_id": f"cap-{pair[0]}-{pair[1]}",
        "status": "original",
        "supersedes": None,
        "superseded_by": None,
        "created_at": f"2026-01-01T00:00:{i % 60:02d}+00:00",
        "inputs": [],
    }


def per_result(repeat: int) -> list[dict[str, Any]]:
    schemas = Schemas()
    rows = []
    first = None
    for pair in PAIRS:
        wire = wire_result(pair)
        doc = result_to_jsonld(wire, capabilities=schemas)
        if first is None:
            start = time.perf_counter()
            to_graph(doc)
            first = time.perf_counter() - start
        rows.append(
            {
                "capability": "/".join(pair),
                "values": len(doc.get("hasProperty", [])),
                "triples": len(to_graph(doc)),
                "build_us": 1e6
                * _median_s(lambda w=wire: result_to_jsonld(w, capabilities=schemas), repeat),
                "to_graph_ms": 1e3 * _median_s(lambda d=doc: to_graph(d), max(3, repeat // 20)),
            }
        )
    rows[0]["first_to_graph_ms"] = 1e3 * (first or 0.0)
    return rows


def snapshot_bundle(n: int) -> dict[str, Any]:
    caps = [
        {
            "id": f"cap-{c.quantity}-{c.method}",
            "seq": i,
            "quantity": c.quantity,
            "method": c.method,
            "version": 1,
            "request_schema": c.request_schema(),
            "result_schema": c.result_schema(),
            "description": c.description,
            "created_at": "2026-01-01T00:00:00+00:00",
        }
        for i, c in enumerate(CAPABILITIES, 1)
    ]
    pairs = [p for p in EXAMPLES if p in {(c["quantity"], c["method"]) for c in caps}]
    requests, results, state, rstate = [], [], [], []
    for i in range(n):
        pair = pairs[i % len(pairs)]
        res = wire_result(pair, i)
        requests.append(
            {
                "seq": i + 1,
                "id": res["request_id"],
                "quantity": pair[0],
                "methods": [pair[1]],
                "parameters": {pair[1]: res["parameters"]},
                "capability_ids": {pair[1]: res["capability_id"]},
                "requester_principal_id": "p",
                "requester_tenant_id": "tenant",
                "parent_request_id": None,
                "created_at": res["created_at"],
                "labels": None,
                "inputs": None,
            }
        )
        state.append({"request_seq": i + 1, "status": "resolved", "reserved_by": "tenant"})
        results.append({**res, "seq": i + 1, "request_seq": i + 1})
        rstate.append({"result_seq": i + 1, "status": "original", "superseded_by": None})
    tenants = [{"id": "tenant", "name": "lab", "description": "", "created_at": "2026-01-01"}]
    return {
        "format": "finales-export",
        "version": 1,
        "tables": {
            "capabilities": caps,
            "tenants": tenants,
            "principals": [{"id": "p", "name": "bot"}],
            "requests": requests,
            "request_state": state,
            "results": results,
            "result_state": rstate,
        },
    }


def whole(n: int) -> dict[str, Any]:
    bundle = snapshot_bundle(n)
    start = time.perf_counter()
    doc = snapshot_to_jsonld(bundle)
    built = time.perf_counter() - start
    size = len(json.dumps(doc, separators=(",", ":")).encode())
    part = {**doc, "@graph": doc["@graph"][: len(CAPABILITIES) + 2 + 2 * 1000]}
    start = time.perf_counter()
    nquads = to_nquads(part)
    expanded = time.perf_counter() - start
    return {
        "results": n,
        "snapshot_to_jsonld_s": built,
        "json_bytes": size,
        "nquads_1000_results_s": expanded,
        "nquads_1000_results_triples": nquads.count("\n"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--json", dest="out", default=None)
    args = parser.parse_args()
    report = {"per_result": per_result(args.repeat), "snapshot": whole(args.results)}
    for row in report["per_result"]:
        print(json.dumps(row))
    print(json.dumps(report["snapshot"]))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)


if __name__ == "__main__":
    main()
