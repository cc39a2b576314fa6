"""`finales demo`: the campaign end to end as a person runs it (the CLI as a subprocess, small
budget, real broker and simulated lab), its report with figures, and --keep-server.

One campaign serves every test here (a module fixture): it runs with --keep-server, so the
report is written and the broker is still up when the tests start; the last test stops it.
"""

from __future__ import annotations

import csv
import os
import queue
import re
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from finales import __version__
from tests.acceptance.cli import FINALES, ROOT
from tests.images import png_size

# Over ASAB's reachable compositions the model's optimum is about 0.96 S/m at 299.65 K
# (docs/lab.md); a random composition in that box averages well below it. 0.6 S/m is what a
# handful of guided experiments should reach.
BEST_AT_LEAST_S_PER_M = 0.6
BUDGET = 5
FIGURES = ("best_vs_time.png", "compositions.png", "concentration_trend.png")
STARTUP_TIMEOUT_S = 300  # the whole campaign runs before the broker is announced
STOP_TIMEOUT_S = 30


@dataclass
class Demo:
    proc: subprocess.Popen[str]
    out: Path
    url: str
    key_file: Path
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)


def _drain(proc: subprocess.Popen[str], lines: list[str], seen: queue.Queue[str]) -> None:
    """Read the demo's output to its end, so that a full pipe never blocks it."""
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        seen.put(line)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    out = tmp_path_factory.mktemp("demo") / "report"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINALES_")}
    env["PYTHONUNBUFFERED"] = "1"
    args = ["demo", "--budget", str(BUDGET), "--seed", "1", "--keep-server", "--out", str(out)]
    proc = subprocess.Popen(
        [*FINALES, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=env,
    )
    lines: list[str] = []
    seen: queue.Queue[str] = queue.Queue()
    drainer = threading.Thread(target=_drain, args=(proc, lines, seen), daemon=True)
    drainer.start()
    url = key_file = None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    try:
        while (url is None or key_file is None) and time.monotonic() < deadline:
            try:
                line = seen.get(timeout=1)
            except queue.Empty:
                assert proc.poll() is None, "".join(lines)
                continue
            if m := re.search(r"stays up at (http://\S+) ", line):
                url = m.group(1)
            if m := re.search(r"API key in the file (\S+)$", line.rstrip()):
                key_file = Path(m.group(1))
        assert url and key_file, "".join(lines)
        yield Demo(proc, out, url, key_file, lines)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        drainer.join(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_campaign_writes_its_report_with_figures(demo: Demo) -> None:
    out = demo.out
    assert "best experiment" in demo.output
    assert (out / "results.json").exists() and (out / "summary.md").exists()
    with (out / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    methods = {r["method"] for r in rows}
    assert {"two_electrode", "polynomial_interpolation"} <= methods
    experiments = [float(r["conductivity_S_per_m"]) for r in rows if r["method"] == "two_electrode"]
    assert 1 <= len(experiments) <= BUDGET
    assert max(experiments) >= BEST_AT_LEAST_S_PER_M
    summary = (out / "summary.md").read_text()
    assert "best experiment" in summary and "ground-truth optimum" in summary
    assert "true value there" in summary
    # Every experiment is counted, failed ones too: as many as the optimiser posted.
    counted = re.search(r"(\d+) experiments: (\d+) with a value, (\d+) failed", summary)
    assert counted, summary
    assert int(counted[2]) == len(experiments)
    assert int(counted[1]) == int(counted[2]) + int(counted[3]) == BUDGET
    assert summary.count("- failed experiment: request ") == int(counted[3])
    for name in FIGURES:
        width, height = png_size(out / name)
        assert width > 0 and height > 0
        assert f"]({name})" in summary  # embedded as a Markdown image
        assert f"  {name}\n" in demo.output  # listed in the console's closing message
    # The closing lines say where the report is and how to open its page.
    assert f"report in {out.resolve()}:" in demo.output
    assert f"open {(out / 'summary.html').resolve().as_uri()}\n" in demo.output
    assert "100%" in demo.output  # the progress bar ends full


def test_keep_server_serves_the_campaign_until_sigterm(demo: Demo) -> None:
    key = demo.key_file.read_text().strip()
    assert stat.S_IMODE(demo.key_file.stat().st_mode) == 0o600
    assert key not in demo.output  # the key is in its file, never on the console
    assert "campaign-admin" in demo.output
    assert httpx.get(demo.url + "/healthz").json() == {"status": "ok", "version": __version__}
    api = demo.url + "/api/v1"
    assert httpx.get(api + "/requests").status_code == 401
    listed = httpx.get(
        api + "/requests", params={"limit": 500}, headers={"Authorization": f"Bearer {key}"}
    )
    assert listed.status_code == 200
    methods = [r["methods"][0] for r in listed.json()["items"]]
    assert 1 <= methods.count("two_electrode") <= BUDGET  # the optimiser's experiments
    # The admin's seeding: a model sweep and a few MD runs, each source its full share.
    assert methods.count("polynomial_interpolation") == 20
    assert methods.count("molecular_dynamics") == 4

    demo.proc.send_signal(signal.SIGTERM)
    assert demo.proc.wait(timeout=STOP_TIMEOUT_S) == 0, demo.output
    assert "stopping the broker" in demo.output
    assert not demo.key_file.exists()  # the temporary data directory went with the broker
    with pytest.raises(httpx.TransportError):
        httpx.get(demo.url + "/healthz", timeout=5)
