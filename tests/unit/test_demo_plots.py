"""The campaign report's figures on small hand-made records: no broker, no sockets."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from finales.demo import plots
from finales.lab import physics
from tests.images import png_size

T_K = 299.65


def record(method: str, x_ec: float, x_li: float, kappa: float, at: str) -> dict[str, Any]:
    x_emc = 1.0 - x_ec - x_li
    molality = 1000.0 * x_li / (x_ec * 88.06 + x_emc * 104.10)
    return {
        "method": method,
        "x_EC": x_ec,
        "x_EMC": x_emc,
        "x_LiPF6": x_li,
        "molality_mol_per_kg": molality,
        "conductivity_S_per_m": kappa,
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
            record("two_electrode", 0.3, 0.0, 0.0, "2026-01-01T00:00:02Z"),
            record("two_electrode", 0.3, 0.08, 0.9, "2026-01-01T00:00:01Z"),
            record("molecular_dynamics", 0.5, 0.1, 1.4, "2026-01-01T00:00:03Z"),
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
