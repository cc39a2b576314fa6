"""``finales search`` and ``finales sparql`` as real subprocesses against a served broker, on
SQLite and PostgreSQL: the table, ``--json``, value ranges, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.acceptance.cli import _env, run_process
from tests.conftest import Lab
from tests.search_data import COUNT_RESULTS, populate_search


def _shell(lab: Lab, tmp_path: Path, who: str = "reader") -> dict[str, str]:
    env = _env(tmp_path / "cli-home")
    env["FINALES_SERVER_URL"] = lab.broker.url
    env["FINALES_API_KEY"] = lab.keys[who]
    env["COLUMNS"] = "200"  # a wide terminal: the table keeps whole ids and values
    return env


def _fails(env: dict[str, str], *args: str) -> str:
    proc = run_process(env, *args, ok=False)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0].removeprefix("error: ")


def test_search_prints_a_table_and_json(served_lab: Lab, tmp_path: Path) -> None:
    posted = populate_search(served_lab)
    env = _shell(served_lab, tmp_path)
    text = run_process(
        env, "search", "electrochemical quantity", "-w", "amount fraction of LiPF6:0.08..0.15"
    ).stdout
    assert "ElectrochemicalQuantity" in text  # how the concept was understood
    for key in ("c09", "c12"):
        assert posted[key]["id"][:8] in text
    for key in ("c05", "c20", "d09"):
        assert posted[key]["id"][:8] not in text
    assert "IonicConductivity 0.86 siemens / meter" in " ".join(text.split())
    raw = run_process(env, "search", "ionic conductivity", "--tenant", "tenant-a", "--json").stdout
    page: dict[str, Any] = json.loads(raw)
    assert {h["id"] for h in page["items"]} == {posted["c05"]["id"], posted["c09"]["id"]}
    assert page["items"][0]["values"][0]["label"] == "IonicConductivity"
    nothing = run_process(env, "search", "density", "--since", "2999-01-01T00:00Z").stdout
    assert "no result found" in nothing


def test_sparql_from_the_shell(served_lab: Lab, tmp_path: Path) -> None:
    populate_search(served_lab)
    env = _shell(served_lab, tmp_path, who="a")
    answer = json.loads(run_process(env, "sparql", COUNT_RESULTS, "--json").stdout)
    assert answer["results"]["bindings"][0]["n"]["value"] == "5"
    query_file = tmp_path / "q.rq"
    query_file.write_text(COUNT_RESULTS)
    assert "5" in run_process(env, "sparql", f"@{query_file}").stdout
    message = _fails(env, "sparql", "INSERT DATA { <urn:x:a> <urn:x:b> <urn:x:c> }")
    assert message.startswith("/query: this endpoint is read-only")


def test_one_line_errors(served_lab: Lab, tmp_path: Path) -> None:
    env = _shell(served_lab, tmp_path)
    assert "/where/0" in _fails(env, "search", "-w", "temperature 300")
    assert "no class labelled" in _fails(env, "search", "flux capacitance")
    assert "--since" in _fails(env, "search", "density", "--since", "2026-01-01T00:00")
    no_server = _env(tmp_path / "none")
    assert "asks a broker" in _fails(no_server, "search", "density")
