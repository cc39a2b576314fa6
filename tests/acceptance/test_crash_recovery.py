"""kill -9 of the server under load, three times: nothing acknowledged is lost, nothing breaks.

A real `finales serve` process, client threads posting requests, claiming, heartbeating and
posting results (retrying through outages with the same Idempotency-Key), SIGKILLed at random
moments and restarted on the same database. The machinery and the audit are those of
benchmarks/crash_loop.py (the long version, with any number of kills); this is its short run.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa

from finales.db import tables as t
from finales.db.engine import Database
from finales.domain.leases import utcnow

ROOT = Path(__file__).resolve().parents[2]
KILLS = 3  # the long run, with any number of kills: benchmarks/crash_loop.py


def _crash_loop() -> ModuleType:
    name = "finales_benchmarks_crash_loop"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "crash_loop.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while being built
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_kill_9_under_load_loses_nothing_acknowledged(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    database_url = None if backend == "sqlite" else request.getfixturevalue("database_url")
    report = _crash_loop().run_crash_loop(
        tmp_path / "home",
        database_url=database_url,
        kills=KILLS,
        clients=4,
        between_s=(0.5, 1.0),
        seed=6,
    )
    # The audit: every acknowledged request and result is stored; projections equal a rebuild
    # from the events; every event chain is a legal lifecycle walk (no double reservation, no
    # result without its resolved request); no duplicates from retries; on SQLite
    # PRAGMA integrity_check and foreign_key_check are clean.
    assert report.problems == []
    # No 5xx and no unexpected answer while the server was killed and restarted.
    assert report.anomalies == []
    assert all(not code.startswith("5") or code == "503" for code in report.statuses)
    # The kills really hit a loaded server, and it did work again after every restart.
    assert len(report.acked_at_kills) == KILLS
    assert report.outages >= KILLS
    counts = [0, *report.acked_at_kills, report.acked_requests + report.acked_results]
    assert all(a < b for a, b in itertools.pairwise(counts)), counts
    assert report.acked_results > 0

    # The audit is not blind: one forged second reservation is caught twice over.
    crash = _crash_loop()
    url = database_url or f"sqlite:///{tmp_path / 'home' / 'finales.db'}"
    db = Database(url)
    try:
        with db.write() as s:
            seq, tenant = s.execute(
                sa.select(t.request_events.c.request_seq, t.request_events.c.tenant_id).where(
                    t.request_events.c.to_status == "reserved"
                )
            ).first()
            s.execute(
                t.request_events.insert().values(
                    request_seq=seq,
                    at=utcnow(),
                    actor="forger",
                    tenant_id=tenant,
                    from_status="pending",
                    to_status="reserved",
                    message="claimed",
                )
            )
    finally:
        db.dispose()
    problems = crash.audit(url, crash.Record())
    assert any("illegal step ('pending', 'reserved')" in p for p in problems), problems
    assert any(p.startswith(f"request {seq}: ") for p in problems), problems
