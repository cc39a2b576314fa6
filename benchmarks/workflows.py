"""Workflow orchestration: W concurrent workflows of S chained steps, instant tenants.

A broker served on a free port (SQLite by default, ``--database-url`` for PostgreSQL) and an
instant worker tenant run in this process; the orchestrator (``finales.workflows``) runs in a
process of its own, so that its CPU time is its own (``getrusage``) and its calls to the
broker are counted (an httpx event hook). W parent requests are posted at once; the figures
are the wall time until the last parent is answered, the orchestrator's CPU and broker calls
per step, and a check of every tree: each parent resolved with the right total, each step
posted exactly once and resolved.

    .venv/bin/python benchmarks/workflows.py --workflows 100 --steps 10
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def workflow_text(steps: int) -> str:
    lines = ["name: bench", "serves: {quantity: chain, method: wf}", "steps:"]
    for i in range(steps):
        n = "1" if i == 0 else f"'{{{{ steps.s{i - 1}.result.v + 1 }}}}'"
        needs = f", needs: [s{i - 1}]" if i else ""
        lines.append(
            f"  s{i}: {{quantity: leaf, methods: [compute], parameters: {{n: {n}}}{needs}}}"
        )
    lines.append(f"result: {{total: '{{{{ steps.s{steps - 1}.result.v }}}}', failed: []}}")
    lines.append("failure: {total: -1, failed: []}")
    return "\n".join(lines) + "\n"


def orchestrate(url: str, key: str, text: str, concurrency: int, stop: Any, out: Any) -> None:
    """The orchestrator process: serve until ``stop`` is set, then report CPU and calls."""
    import httpx

    from finales.client import FinalesClient
    from finales.workflows import Orchestrator, compile_workflow, parse, read_yaml

    calls = {"n": 0}

    def count(_request: httpx.Request) -> None:
        calls["n"] += 1

    http = httpx.Client(base_url=url, timeout=60, event_hooks={"request": [count]})
    client = FinalesClient(url, api_key=key, http=http)
    orchestrator = Orchestrator(
        [compile_workflow(parse(read_yaml(text)))],
        client=client,
        concurrency=concurrency,
        lease_s=30,
        poll_s=10,
    )
    import threading

    before = resource.getrusage(resource.RUSAGE_SELF)
    thread = threading.Thread(
        target=orchestrator.run,
        kwargs={"handle_signals": False, "configure_logging": False},
        daemon=True,
    )
    thread.start()
    stop.wait()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out.put({"cpu_s": cpu_s, "calls": calls["n"]})
    orchestrator.stop()
    thread.join(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workflows", type=int, default=100)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite)")
    args = ap.parse_args()

    from tests.workflow_stack import attempts, setup_stack

    from finales.testing import LocalBroker

    text = workflow_text(args.steps)
    with (
        tempfile.TemporaryDirectory() as home,
        LocalBroker(Path(home), database_url=args.database_url, lease_sweep_s=1.0) as broker,
    ):
        stack = setup_stack(broker, [("chain", "wf")])
        stack.start_worker(concurrency=64)
        ctx = mp.get_context("spawn")
        stop, out = ctx.Event(), ctx.Queue()
        proc = ctx.Process(
            target=orchestrate,
            args=(broker.url, stack.orch_key, text, args.workflows, stop, out),
        )
        proc.start()
        time.sleep(3)  # the orchestrator publishes its offer and starts polling
        started = time.monotonic()
        parents = [stack.submit("chain", "wf", {}) for _ in range(args.workflows)]
        for parent in parents:
            results = stack.admin.wait_for_results(parent, timeout_s=600, poll_s=30)
            assert results[0].data["total"] == args.steps, results[0].data
        wall_s = time.monotonic() - started
        stop.set()
        figures = out.get(timeout=60)
        proc.join(timeout=60)
        lost = duplicated = 0
        for parent in parents:
            tree = stack.admin.request_tree(parent)
            counts = attempts(tree)
            duplicated += sum(c - 1 for c in counts.values())
            lost += args.steps - len(counts)
            assert all(str(n.status) == "resolved" for n in tree), parent
        stack.stop()
    steps = args.workflows * args.steps
    db = "PostgreSQL" if args.database_url else f"SQLite {sqlite3.sqlite_version}"
    cpu = platform.processor() or platform.machine()
    print(f"machine: {cpu}, Python {platform.python_version()}, {db}")
    print(
        "| workflows | steps each | wall s | steps/s | orchestrator CPU ms/step "
        "| broker calls/step | lost | duplicated |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.workflows} | {args.steps} | {wall_s:.1f} | {steps / wall_s:.1f} | "
        f"{1000 * figures['cpu_s'] / steps:.2f} | {figures['calls'] / steps:.2f} | {lost} | "
        f"{duplicated} |"
    )


if __name__ == "__main__":
    main()
