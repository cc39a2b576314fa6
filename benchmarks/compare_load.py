"""broker_load.py for two checkouts side by side: alternating rounds (A B, B A, ...) in one run,
each checkout's own script, interpreter and server; prints the median of the rounds.

On a shared machine the speed of one 10 s row moves by +-30 % from one minute to the next;
alternating rounds and taking medians keeps that noise out of the comparison.

    git worktree add /tmp/before <commit> && (cd /tmp/before && make install)
    .venv/bin/python benchmarks/compare_load.py /tmp/before . --rounds 4 --seconds 8
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any


def run(checkout: Path, clients: list[int], seconds: float) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        python = checkout / ".venv" / "bin" / "python"
        args = [str(python), "benchmarks/broker_load.py", "--seconds", str(seconds)]
        args += ["--clients", *map(str, clients), "--json", str(out)]
        subprocess.run(args, cwd=checkout, check=True, capture_output=True)
        rows: list[dict[str, Any]] = json.loads(out.read_text())
        return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=8.0)
    opts = ap.parse_args()
    checkouts = {"before": opts.before.resolve(), "after": opts.after.resolve()}
    got: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in range(opts.rounds):
        order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
        for name in order:
            for row in run(checkouts[name], opts.clients, opts.seconds):
                got[(name, row["mode"], row["clients"])].append(row)
                print(
                    f"round {r} {name:6s} {row['mode']:8s} {row['clients']:3d} clients: "
                    f"{row['cycles_per_s']:6.1f} cycles/s, {row['server_cpu_ms']:5.2f} ms CPU",
                    flush=True,
                )
    print(f"\nmedian of {opts.rounds} rounds, {opts.seconds:g} s per row")
    print("| clients | route set | cycles/s before | after | server CPU ms/cycle before | after |")
    print("|---|---|---|---|---|---|")
    for clients in opts.clients:
        for mode in ("clean", "finales2"):
            cells = []
            for key, digits in (("cycles_per_s", 1), ("server_cpu_ms", 2)):
                for name in ("before", "after"):
                    rows = got[(name, mode, clients)]
                    cells.append(f"{statistics.median(row[key] for row in rows):.{digits}f}")
            print(f"| {clients} | {mode} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
