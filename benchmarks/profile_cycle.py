"""Where the broker's CPU goes in one cycle (post request, get work, claim, post result).

    .venv/bin/pip install yappi   # a profiler that follows every thread; not a dependency
    .venv/bin/python benchmarks/profile_cycle.py --cycles 200 [--top 25]

A broker runs in this process (finales.testing.LocalBroker, real uvicorn on a free port) and a
client drives it sequentially. yappi measures CPU time per thread, so the server's threads
(event loop and route workers) are separated from the client's; the profiler itself inflates
the absolute figures about 2.5 times, so read the shares, and take absolute CPU per cycle from
broker_load.py's "server CPU ms/cycle" column.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import tempfile
from pathlib import Path

import httpx
from broker_load import ROOT, cycle_clean  # this folder is on sys.path when run as a script

from finales.domain.principals import Role
from finales.testing import LocalBroker


def _package(name: str) -> str:
    found = re.search(r"site-packages/([^/]+)", name)
    if found:
        return found.group(1)
    if "finales" in name:
        return "finales"
    return "interpreter/builtins" if name.startswith(("<", "~")) else "stdlib"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--top", type=int, default=25, help="functions to list by own CPU time")
    opts = ap.parse_args()
    try:
        import yappi
    except ImportError:
        raise SystemExit("this profile needs yappi: .venv/bin/pip install yappi") from None

    cap = json.loads((ROOT / "examples/capability-conductivity.json").read_text())
    offers = json.loads((ROOT / "examples/tenant-robot.json").read_text())["offers"]
    with LocalBroker(Path(tempfile.mkdtemp(prefix="finales-profile-"))) as broker:
        broker.add_capability(
            cap["quantity"], cap["method"], cap["request_schema"], cap["result_schema"]
        )
        tid = broker.add_tenant("robot", offers=offers)
        admin = broker.add_user("requester", role=Role.ADMIN)
        robot = broker.add_user("robot", role=Role.TENANT, tenant_id=tid)
        req = httpx.Client(base_url=broker.url, headers={"Authorization": f"Bearer {admin}"})
        bot = httpx.Client(base_url=broker.url, headers={"Authorization": f"Bearer {robot}"})

        def cycle() -> None:
            cycle_clean(req, bot, [])  # the broker-load cycle itself

        for _ in range(20):  # warm caches (compiled statements, validators, principals)
            cycle()
        yappi.set_clock_type("cpu")
        yappi.start()
        for _ in range(opts.cycles):
            cycle()
        yappi.stop()

    n = opts.cycles
    threads = [th for th in yappi.get_thread_stats() if th.name != "_MainThread"]
    by_package: collections.Counter[str] = collections.Counter()
    by_function: collections.Counter[str] = collections.Counter()
    for th in threads:
        for stat in yappi.get_func_stats(ctx_id=th.id):
            by_package[_package(stat.full_name)] += stat.tsub
            by_function[stat.full_name.split("site-packages/")[-1]] += stat.tsub
    total = sum(by_package.values())
    print(f"server threads: {1000 * total / n:.2f} ms CPU per cycle under the profiler")
    print("| package | share of server CPU |")
    print("|---|---|")
    for name, spent in by_package.most_common():
        print(f"| {name} | {100 * spent / total:.1f} % |")
    print(f"\ntop {opts.top} functions by own CPU time (ms per cycle under the profiler):")
    for name, spent in by_function.most_common(opts.top):
        print(f"  {1000 * spent / n:6.3f}  {name}")


if __name__ == "__main__":
    main()
