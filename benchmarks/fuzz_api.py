"""API fuzzing, the long run: schemathesis (``st run``, every check, every phase including the
stateful one) against a populated broker over HTTP, on SQLite or PostgreSQL. The suite runs the
same thing bounded (tests/integration/test_schemathesis.py); this is the run to do before a
release or after a change of the API. Prints the figures as JSON; exit status 1 on any failure.

    .venv/bin/python benchmarks/fuzz_api.py --backend sqlite --max-examples 200
    .venv/bin/python benchmarks/fuzz_api.py --backend postgresql --max-examples 100

PostgreSQL: a throw-away database on FINALES_TEST_PG (default
postgresql://postgres@127.0.0.1:5432/test), dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.test_schemathesis import (  # noqa: E402 - after the path set-up
    FuzzBroker,
    populate,
    run_schemathesis,
    summary,
)

PG_ADMIN_URL = os.environ.get("FINALES_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def database(backend: str) -> Iterator[str | None]:
    """None for SQLite (a file in the broker's home), else a fresh PostgreSQL database."""
    if backend == "sqlite":
        yield None
        return
    name = f"finales_fuzz_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--max-examples", type=int, default=200)
    parser.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--report", type=Path, help="also write st's JSON report here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, database(args.backend) as url:
        work = Path(tmp)
        with FuzzBroker(work / "home", database_url=url) as broker:
            target = populate(broker)
            proc, report = run_schemathesis(
                broker.url,
                target,
                work,
                *("--max-examples", str(args.max_examples), "--seed", str(args.seed)),
                *("--phases", args.phases),
                timeout_s=4 * 3600,
            )
            figures = summary(report, broker.statuses)
            figures |= {"operations": broker.operations(), "backend": args.backend}
        if args.report:
            args.report.write_text(json.dumps(report, indent=1))
    figures |= {"max_examples": args.max_examples, "phases": args.phases, "seed": args.seed}
    print(json.dumps(figures, indent=1))
    if proc.returncode != 0:
        print(proc.stdout[-30_000:], proc.stderr[-5_000:], file=sys.stderr)
    return 0 if proc.returncode == 0 and figures["server_errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
