"""`finales demo`: the campaign end to end as a person runs it (the CLI as a subprocess, small
budget, real broker and simulated lab), its report with figures, and --keep-server.

One campaign serves every test here (a module fixture): it runs with --keep-server, so the
report is written and the broker is still up when the tests start; the last test stops it.
A second run with the same seed (`finales demo conductivity`, the campaign by name) must find
the same campaign.
"""

from __future__ import annotations

import csv
import re
import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from subprocess import Popen

import httpx
import pytest

from finales import __version__
from tests.acceptance.demos import STOP_TIMEOUT_S, Demo, finished, kept_demo, start_demo
from tests.images import png_size

# Over ASAB's reachable compositions the model's optimum is about 0.96 S/m at 299.65 K
# (docs/lab.md); a random composition in that box averages well below it. 0.6 S/m is what a
# handful of guided experiments should reach.
BEST_AT_LEAST_S_PER_M = 0.6
BUDGET = 5
SEED = 1
FIGURES = ("best_vs_time.png", "compositions.png", "concentration_trend.png")


@pytest.fixture(scope="module")
def second_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Popen[str], Path]]:
    """The same campaign again, by name, beside the first; compared with it below."""
    out = tmp_path_factory.mktemp("demo-again") / "report"
    proc = start_demo(["demo", "conductivity", "--budget", str(BUDGET), "--seed", str(SEED)], out)
    try:
        yield proc, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory, second_run: tuple[Popen[str], Path]
) -> Iterator[Demo]:
    out = tmp_path_factory.mktemp("demo") / "report"
    with kept_demo(["demo", "--budget", str(BUDGET), "--seed", str(SEED)], out) as running:
        yield running


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


def _campaign(report: Path) -> list[dict[str, str]]:
    """What a run found, without what differs between runs (ids, times)."""
    with (report / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    kept = ("method", "x_EC", "x_EMC", "x_LiPF6", "conductivity_S_per_m")
    return [{k: r[k] for k in kept} for r in rows]


def test_the_same_seed_gives_the_same_campaign(
    demo: Demo, second_run: tuple[Popen[str], Path]
) -> None:
    proc, again = second_run
    assert f"report in {again.resolve()}:" in finished(proc)
    first, second = _campaign(demo.out), _campaign(again)
    assert len(first) == 20 + 4 + BUDGET  # the model sweep, the MD runs, the experiments
    assert second == first  # the same compositions and values, in the same order
    # ... and a campaign, not a constant: the experiments went to different compositions
    experiments = {(r["x_EC"], r["x_LiPF6"]) for r in first if r["method"] == "two_electrode"}
    assert len(experiments) == BUDGET


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
