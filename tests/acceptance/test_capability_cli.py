"""`finales capability add --builtin` and `finales capability export`, on SQLite and PostgreSQL:
the built-in library registers idempotently and its exported files round-trip."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from finales.capabilities import CAPABILITIES, to_finales, to_finales2
from finales.db.engine import Database
from finales.domain.views import CapabilityView
from finales.services import capabilities as service
from tests.acceptance.cli import _env, run
from tests.conftest import FINALES2_EXAMPLES, require_finales2_examples

KEYS = [cap.key for cap in CAPABILITIES]


@contextmanager
def database(env: dict[str, str]) -> Iterator[Any]:
    url = env.get("FINALES_DATABASE_URL") or f"sqlite:///{Path(env['FINALES_HOME'])}/finales.db"
    db = Database(url)
    try:
        with db.read() as session:
            yield session
    finally:
        db.dispose()


def stored(env: dict[str, str]) -> dict[tuple[str, str], CapabilityView]:
    with database(env) as session:
        rows = service.list_capabilities(session)
    return {(r.quantity, r.method): r for r in rows}


def assert_same_as_library(env: dict[str, str], *, descriptions: bool) -> None:
    rows = stored(env)
    assert sorted(rows) == sorted(KEYS)
    for cap in CAPABILITIES:
        row = rows[cap.key]
        assert row.request_schema == cap.request_schema(), cap.key
        assert row.result_schema == cap.result_schema(), cap.key
        assert row.active is True
        assert row.description == (cap.description if descriptions else "")


def test_add_builtin_registers_all_14_idempotently(env: dict[str, str]) -> None:
    first = json.loads(run(env, "capability", "add", "--builtin", "--json").stdout)
    assert [(r["quantity"], r["method"]) for r in first] == KEYS
    assert {(r["version"], r["active"]) for r in first} == {(1, True)}
    again = json.loads(run(env, "capability", "add", "--builtin", "--json").stdout)
    assert again == first
    listed = json.loads(run(env, "capability", "list", "--json").stdout)
    assert len(listed) == 15
    assert {tuple(r["versions"]) for r in listed} == {(1,)}
    assert ("radial_distribution_function", "molecular_dynamics") in {
        (r["quantity"], r["method"]) for r in listed
    }
    assert_same_as_library(env, descriptions=True)


def test_exported_finales2_files_round_trip(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "export"
    written = json.loads(
        run(env, "capability", "export", str(out), "--format", "finales2", "--json").stdout
    )
    assert len(written) == 15
    files = sorted(out.glob("*/*.json"))
    assert [str(p) for p in files] == sorted(w["path"] for w in written)
    for cap in CAPABILITIES:
        path = out / cap.quantity / f"{cap.method}.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data == to_finales2(cap)
        assert set(data) == {
            "quantity",
            "method",
            "json_schema_specifications",
            "json_schema_result_output",
            "is_active",
        }
    added = json.loads(run(env, "capability", "add", *map(str, files), "--json").stdout)
    assert len(added) == 15 and {r["version"] for r in added} == {1}
    assert len(json.loads(run(env, "capability", "list", "--json").stdout)) == 15
    assert_same_as_library(env, descriptions=False)


def test_exported_files_in_our_format_round_trip(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "export"
    run(env, "capability", "export", str(out))
    files = sorted(str(p) for p in out.glob("*/*.json"))
    assert len(files) == 15
    run(env, "capability", "add", *files)
    assert_same_as_library(env, descriptions=True)
    # The files and the library are the same registration: nothing new to version.
    again = json.loads(run(env, "capability", "add", "--builtin", "--json").stdout)
    assert {r["version"] for r in again} == {1}


def test_builtin_beside_the_published_catalogue(env: dict[str, str]) -> None:
    """A lab may keep the old misspelt capability registered beside the corrected one."""
    require_finales2_examples()
    old = (
        FINALES2_EXAMPLES / "serialized_quantities/radial_density_function/molacular_dynamics.json"
    )
    run(env, "capability", "add", "--builtin", str(old))
    names = {(r.quantity, r.method) for r in stored(env).values()}
    assert len(names) == 16
    assert ("radial_density_function", "molacular_dynamics") in names
    assert ("radial_distribution_function", "molecular_dynamics") in names


def test_add_needs_files_or_builtin(tmp_path: Path) -> None:
    out = run(_env(tmp_path / "home"), "capability", "add", ok=False)
    assert out.returncode == 1
    assert "--builtin" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_export_both_formats_without_a_database(tmp_path: Path) -> None:
    home = tmp_path / "no-home"
    out = tmp_path / "export"
    printed = run(_env(home), "capability", "export", str(out), "--format", "both").stdout
    assert "30 capability file(s)" in printed
    assert not home.exists()  # no database, no data directory
    for cap in CAPABILITIES:
        ours = json.loads((out / "finales" / cap.quantity / f"{cap.method}.json").read_text())
        theirs = json.loads((out / "finales2" / cap.quantity / f"{cap.method}.json").read_text())
        assert ours == to_finales(cap)
        assert theirs == to_finales2(cap)
    # Exporting again overwrites the files in place.
    run(_env(home), "capability", "export", str(out), "--format", "both")
    assert len(list(out.glob("*/*/*.json"))) == 30


def test_export_failures_are_one_line(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    bad = run(env, "capability", "export", str(tmp_path / "x"), "--format", "yaml", ok=False)
    assert bad.returncode == 1 and "finales2" in bad.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    blocked = run(env, "capability", "export", str(blocker), ok=False)
    assert blocked.returncode == 1 and "cannot write" in blocked.stderr
    assert len(blocked.stderr.strip().splitlines()) == 1


def test_help_explains_the_layout(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    text = run(env, "capability", "export", "--help").stdout
    assert "finales2" in text and "<quantity>/<method>.json" in text
    assert "--builtin" in run(env, "capability", "add", "--help").stdout
