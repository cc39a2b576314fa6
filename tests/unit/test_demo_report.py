"""The campaign report from hand-made results: counts with failures, the ground truth beside
the best measurement, and an HTML page that carries its figures inside it. No broker."""

from __future__ import annotations

import base64
import csv
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from finales.demo import report
from finales.lab import physics
from finales.lab.composition import Composition
from finales.optimizer.chemistry import parameters
from tests.images import PNG_SIGNATURE

T_K = 299.65
START = datetime(2026, 1, 1, tzinfo=UTC)
LAB_PER_REAL = 3 * 3600.0


def result(
    n: int, method: str, x_ec: float, x_li: float, values: list[float], real_s: float
) -> dict[str, Any]:
    meta = {"success": bool(values), "rating": 3 if values else 0}
    return {
        "id": f"res-{n}",
        "request_id": f"req-{n}",
        "method": method,
        "parameters": parameters(x_ec, x_li, T_K),
        "data": {"conductivity": {"values": values, "meta": meta}},
        "created_at": (START + timedelta(seconds=real_s)).isoformat().replace("+00:00", "Z"),
    }


def campaign(results: list[dict[str, Any]]) -> report.Campaign:
    return report.Campaign(
        results=results,
        reason="budget",
        elapsed_s=20.0,
        started_at=START,
        temperature_k=T_K,
        lab_seconds_per_real_second=LAB_PER_REAL,
    )


class Page(HTMLParser):
    """The page's images and every URL it would load."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "img":
            self.images.append(found.get("src") or "")
        for name in ("src", "href"):
            if found.get(name):
                self.urls.append(found[name] or "")


@pytest.fixture
def written(tmp_path: Path) -> tuple[list[str], list[str], Path]:
    results = [
        result(1, "polynomial_interpolation", 0.2, 0.3, [0.4], 1.0),
        result(2, "two_electrode", 0.3, 0.07, [0.95, 0.97, 0.99], 5.0),  # noisy: truth lower
        result(3, "two_electrode", 0.1, 0.11, [], 9.0),  # every fit failed
        result(4, "two_electrode", 0.3, 0.03, [0.6], 12.0),
        result(5, "two_electrode", 0.5, 0.02, [], 14.0),
    ]
    lines, files = report.write(tmp_path, campaign(results))
    return lines, files, tmp_path


def test_failed_experiments_are_counted_and_listed(
    written: tuple[list[str], list[str], Path],
) -> None:
    lines, _files, out = written
    assert lines[0].startswith("results: 5 (4 experiments: 2 with a value, 2 failed)")
    failed = [line for line in lines if line.startswith("failed experiment:")]
    assert len(failed) == 2
    assert "request req-3 " in failed[0] and "request req-5 " in failed[1]
    assert "no value" in failed[0]
    summary = (out / "summary.md").read_text()
    assert all(f"- {line}" in summary for line in failed)


def test_the_best_experiment_is_shown_with_the_truth_at_its_composition(
    written: tuple[list[str], list[str], Path],
) -> None:
    lines, _files, out = written
    (best,) = [line for line in lines if line.startswith("best experiment:")]
    truth = physics.conductivity(Composition.of(0.3, 0.63, 0.07), T_K)
    assert best.startswith(
        f"best experiment: 0.970 S/m measured (true value there {truth:.3f} S/m)"
    )
    with (out / "results.csv").open() as fh:
        rows = {r["result_id"]: r for r in csv.DictReader(fh)}
    assert len(rows) == 3  # the failed ones have no value to tabulate
    assert float(rows["res-2"]["true_conductivity_S_per_m"]) == pytest.approx(truth, abs=1e-6)
    # 5 real seconds at three lab hours per second: 15 lab hours
    assert float(rows["res-2"]["lab_hours"]) == pytest.approx(15.0)


def test_the_html_summary_is_self_contained(written: tuple[list[str], list[str], Path]) -> None:
    lines, files, out = written
    assert "summary.html" in files
    text = (out / "summary.html").read_text()
    page = Page()
    page.feed(text)
    figures = [f for f in files if f.endswith(".png")]
    assert len(page.images) == len(figures) == 3
    for src in page.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        png = base64.b64decode(src.removeprefix(prefix), validate=True)
        assert png.startswith(PNG_SIGNATURE) and len(png) > 10_000
    assert all(u.startswith("data:") for u in page.urls)  # nothing fetched from anywhere
    assert all(line.replace("&", "&amp;") in text for line in lines if "<" not in line)
