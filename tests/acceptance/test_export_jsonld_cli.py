"""`finales export jsonld DIR [--per-kind]` from the local database and from a served broker
(SQLite and PostgreSQL): one graph, or one file per kind holding the same triples; the files
conform to the shapes; a role that may not export and a DIR that cannot be written fail in
one line."""

from __future__ import annotations

import json
from pathlib import Path

import pyshacl
import rdflib
from rdflib.compare import isomorphic
from rdflib.namespace import RDF

from finales.capabilities.semantics import DENSITY
from finales.cli.export import _umask
from finales.semantics import shapes_graph, to_graph
from tests.acceptance.cli import _env, run, run_process
from tests.conftest import Lab
from tests.integration.semantic_lab import measured, register_builtin

FIN = rdflib.Namespace("urn:finales:vocab#")


def _graph(*paths: Path) -> rdflib.Graph:
    graph = rdflib.Graph()
    for path in paths:
        graph += to_graph(json.loads(path.read_text(encoding="utf-8")))
    return graph


def test_export_from_the_local_database(
    lab: Lab, backend: str, database_url: str, tmp_path: Path
) -> None:
    register_builtin(lab)
    _, result_id = measured(lab)
    env = _env(lab.broker.settings.home, None if backend == "sqlite" else database_url)

    done = run(env, "export", "jsonld", str(tmp_path / "one"), "--json")
    report = json.loads(done.stdout)
    assert report["files"] == [str(tmp_path / "one" / "finales.jsonld")]
    assert report["counts"]["results"] == 1 and report["counts"]["requests"] == 1
    graph = _graph(tmp_path / "one" / "finales.jsonld")
    mode = (tmp_path / "one" / "finales.jsonld").stat().st_mode & 0o777
    assert mode == 0o666 & ~_umask()  # a file to share, not the temporary file's 0600
    assert not [p for p in (tmp_path / "one").iterdir() if p.name.startswith(".")]
    result = rdflib.URIRef(f"urn:finales:result:{result_id}")
    assert (result, RDF.type, FIN.Result) in graph
    densities = {
        node
        for node in graph.subjects(RDF.type, rdflib.URIRef(DENSITY.concept))
        if str(node).startswith(str(result))
    }
    assert densities
    ok, _, text = pyshacl.validate(graph, shacl_graph=shapes_graph())
    assert ok, text

    run(env, "export", "jsonld", str(tmp_path / "kinds"), "--per-kind")
    names = sorted(p.name for p in (tmp_path / "kinds").iterdir())
    assert names == [
        "capabilities.jsonld",
        "chemicals.jsonld",
        "requests.jsonld",
        "results.jsonld",
        "tenants.jsonld",
    ]
    per_kind = _graph(*(tmp_path / "kinds").iterdir())
    assert isomorphic(per_kind, graph)
    results_only = _graph(tmp_path / "kinds" / "results.jsonld")
    assert set(results_only.subjects(RDF.type, FIN.Result)) == {result}
    assert not set(results_only.subjects(RDF.type, FIN.Tenant))
    # Each file stands alone against the shapes; chemicals are described once, in theirs.
    for path in (tmp_path / "kinds").iterdir():
        ok, _, text = pyshacl.validate(_graph(path), shacl_graph=shapes_graph())
        assert ok, (path.name, text)
    chemicals = _graph(tmp_path / "kinds" / "chemicals.jsonld")
    assert set(chemicals.subjects(RDF.type, FIN.Chemical)) == set(
        graph.subjects(RDF.type, FIN.Chemical)
    )
    assert not set(results_only.subjects(RDF.type, FIN.Chemical))

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    refused = run(env, "export", "jsonld", str(blocked), ok=False)
    assert refused.returncode == 1
    assert refused.stderr == f"error: cannot write to {blocked}: it is not a directory\n"


def test_export_from_a_served_broker(served_lab: Lab, tmp_path: Path) -> None:
    lab = served_lab
    register_builtin(lab)
    _, result_id = measured(lab)
    env = _env(tmp_path / "home")  # no local database: everything comes from the server
    url = lab.broker.url
    done = run_process(
        env, "export", "jsonld", str(tmp_path / "out"), "--server", url,
        "--api-key", lab.keys["archiver"],
    )  # fmt: skip
    assert "1 results" in done.stdout
    graph = _graph(tmp_path / "out" / "finales.jsonld")
    assert (rdflib.URIRef(f"urn:finales:result:{result_id}"), RDF.type, FIN.Result) in graph

    reader = run_process(
        env, "export", "jsonld", str(tmp_path / "no"), "--server", url,
        "--api-key", lab.keys["reader"], ok=False,
    )  # fmt: skip
    assert reader.returncode == 1
    assert reader.stderr.startswith("error:") and reader.stderr.count("\n") == 1
    assert not (tmp_path / "no").exists()
