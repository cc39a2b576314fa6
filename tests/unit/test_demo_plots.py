"""The campaign report's figures on small hand-made records: no broker, no sockets."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.transforms import Bbox

from finales.demo import plots
from finales.lab import physics
from tests.images import png_size

T_K = 299.65
MARKER_RADIUS_PT = 3.7  # the scatter's s=55 pt^2 markers


def record(
    method: str, x_ec: float, x_li: float, kappa: float, at: str, hours: float = 1.0
) -> dict[str, Any]:
    x_emc = 1.0 - x_ec - x_li
    molality = 1000.0 * x_li / (x_ec * 88.06 + x_emc * 104.10)
    return {
        "method": method,
        "x_EC": x_ec,
        "x_EMC": x_emc,
        "x_LiPF6": x_li,
        "molality_mol_per_kg": molality,
        "conductivity_S_per_m": kappa,
        "lab_hours": hours,
        "created_at": at,
    }


def test_the_true_optimum_is_the_documented_one() -> None:
    kappa, where = plots.true_optimum(T_K)
    assert 0.9 <= kappa <= 1.05  # docs/lab.md: about 0.96 S/m near 1 M, w_EC about 0.4
    assert 0.8 <= where.molality <= 1.2 and 0.3 <= where.w_ec <= 0.5
    assert kappa == pytest.approx(physics.conductivity(where, T_K))
    assert where.x_lipf6 <= 0.12 + 1e-9  # inside what ASAB may be asked for


@pytest.mark.parametrize(
    "records",
    [
        [],  # a campaign where nothing came back still gets its figures
        [record("polynomial_interpolation", 0.3, 0.1, 0.7, "2026-01-01T00:00:01Z")],
        [
            record("two_electrode", 0.3, 0.0, 0.0, "2026-01-01T00:00:02Z", 30.0),
            record("two_electrode", 0.3, 0.08, 0.9, "2026-01-01T00:00:01Z", 15.0),
            record("molecular_dynamics", 0.5, 0.1, 1.4, "2026-01-01T00:00:03Z", 40.0),
        ],
    ],
    ids=["empty", "no-experiment", "every-source"],
)
def test_every_figure_is_drawn_from_a_worker_thread(
    records: list[dict[str, Any]], tmp_path: Path
) -> None:
    errors: list[BaseException] = []

    def draw() -> None:
        try:
            plots.write_plots(records, tmp_path, temperature_k=T_K)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=draw)
    worker.start()
    worker.join()
    assert not errors, errors
    for name in plots.PLOTS:
        width, height = png_size(tmp_path / name)
        assert width >= 600 and height >= 400


def _overlaps(a: Bbox, b: Bbox) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _bottom_heavy_records() -> list[dict[str, Any]]:
    """Points where a campaign puts them: most near the bottom of the whole-simplex panel."""
    rows = []
    for i, x_ec in enumerate(np.linspace(0.05, 0.8, 11)):
        for x_li in (0.02, 0.06, 0.1):
            rows.append(record("two_electrode", x_ec, x_li, 0.5, f"2026-01-01T00:{i:02d}:00Z"))
    # The low-fidelity model also samples salty corners: the panel reaches ~10 mol/kg.
    for x_ec in (0.1, 0.5):
        rows.append(record("polynomial_interpolation", x_ec, 0.45, 0.1, "2026-01-01T01:00:00Z"))
    return rows


def test_contour_labels_are_clear_of_each_other_and_of_the_data() -> None:
    """Over the whole simplex the rising flank squeezes every contour into the bottom of the
    left panel, among the data; each label must still be readable there: clear of the other
    labels and of every plotted point."""
    records = _bottom_heavy_records()
    fig = plots.composition_figure(records, temperature_k=T_K)
    assert fig.canvas is not None
    fig.canvas.draw()
    full, zoom, colour_bar = fig.axes
    for ax in (full, zoom):
        labels = [t for t in ax.texts if t.get_text()]
        assert len(labels) >= 3, [t.get_text() for t in labels]
        boxes = [t.get_window_extent() for t in labels]
        for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2):
            assert not _overlaps(a, b), (labels[i].get_text(), labels[j].get_text())
        points = ax.transData.transform(
            [(r["x_EC"] / (r["x_EC"] + r["x_EMC"]), r["molality_mol_per_kg"]) for r in records]
        )
        radius = fig.dpi * MARKER_RADIUS_PT / 72
        for text, box in zip(labels, boxes, strict=True):
            hit = [p for p in points if box.expanded(1, 1).padded(radius).contains(*p)]
            assert not hit, f"label {text.get_text()} covers a data point"
    assert colour_bar.get_ylabel() == plots.COLOUR_LABEL
    assert "measured" not in plots.COLOUR_LABEL  # model predictions are coloured too
