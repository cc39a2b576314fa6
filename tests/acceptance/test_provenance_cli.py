"""`finales provenance ID [--out FILE]` on a broker's database, SQLite and PostgreSQL: the
same document as the API's, readable by rdflib; unknown ids fail in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rdflib
from rdflib.namespace import PROV

from tests.acceptance.cli import _env, run
from tests.conftest import Lab

pytestmark = pytest.mark.filterwarnings(
    "ignore:ConjunctiveGraph is deprecated:DeprecationWarning"  # rdflib's JSON-LD parser
)


def test_provenance_command(lab: Lab, backend: str, database_url: str, tmp_path: Path) -> None:
    top = lab.post_request(who="a")["id"]
    step = lab.post_request(who="a", parent_request_id=top)["id"]
    assert lab.claim(step, "b").status_code == 200
    result = lab.post_result(step, who="b").json()["id"]
    env = _env(lab.broker.settings.home, None if backend == "sqlite" else database_url)

    target = tmp_path / "prov.jsonld"
    done = run(env, "provenance", top, "--out", str(target))
    assert str(target) in done.stderr
    document = json.loads(target.read_text())
    assert document == lab.reader.get(f"/requests/{top}/provenance").json()
    g = rdflib.Graph().parse(data=target.read_text(), format="json-ld")
    generated_by = rdflib.URIRef(f"urn:finales:request:{step}")
    assert (rdflib.URIRef(f"urn:finales:result:{result}"), PROV.wasGeneratedBy, generated_by) in g

    printed = run(env, "provenance", step)
    assert json.loads(printed.stdout)["@context"]["prov"] == str(PROV)

    missing = run(env, "provenance", "no-such-request", ok=False)
    assert missing.returncode == 1
    assert "no request with id" in missing.stderr
