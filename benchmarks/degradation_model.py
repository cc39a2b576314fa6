"""The degradation model's held-out error: mean absolute percentage error (MAPE) of the
predicted cycle life of simulated cells from their first 40 cycles, over many seeds.

    .venv/bin/python benchmarks/degradation_model.py --seeds 20 --json degradation.json

For each seed s, the model (:class:`finales.lab.degradation.EOLModel`, an elastic net as the
tenant uses) is trained on ``--train`` cells drawn from seed s and tested on ``--test`` other
cells drawn from seed 10_000 + s (other compositions, other cells: training and held-out sets
never share a cell). Cells come from :func:`finales.lab.cycle_life.simulate_early_cells`
(compositions spread over ASAB's space); cells that die within the 40 cycles are left out of
both sets (their life is observed, not predicted) and counted. Also printed: the error of an
*oracle* that knows each cell's visible life and early knee trace exactly (the floor the
hidden part of the knee sets), and the share of held-out cells inside the model's ±2 sigma.

Reference: Severson et al., Nature Energy 4 (2019) 383, 9.1 % test error from 100 cycles
(their "variance" model 15 %, the full model 9.1 % on the primary test set).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from typing import Any

from finales.lab import cycle_life
from finales.lab.degradation import EOLModel

TEST_SEED_OFFSET = 10_000


def oracle_error(cells: list[cycle_life.SimulatedCell]) -> float:
    """MAPE of predicting the median life given everything early cycles could ever show."""
    rho = cycle_life.KNEE_HINT_SHARE
    errors = []
    for c in cells:
        t = c.truth
        guess = t.visible_life * math.exp(cycle_life.SIGMA_LATE * rho * t.knee_trace)
        errors.append(abs(guess - c.cycle_life) / c.cycle_life)
    return statistics.fmean(errors)


def one_seed(seed: int, train: int, test: int) -> dict[str, Any]:
    started = time.perf_counter()
    model = EOLModel.trained(seed=seed, cells=train)
    test_seed = TEST_SEED_OFFSET + seed
    drawn = cycle_life.simulate_early_cells(
        cycle_life.random_compositions(test, test_seed), test_seed
    )
    held_out = [c for c in drawn if c.cycle_life > cycle_life.FEATURE_CYCLES[1]]
    predictions = [model.predict(c.features) for c in held_out]
    errors = [
        abs(p.eol - c.cycle_life) / c.cycle_life for p, c in zip(predictions, held_out, strict=True)
    ]
    inside = [
        abs(math.log(p.eol / c.cycle_life)) <= 2 * p.sigma_log
        for p, c in zip(predictions, held_out, strict=True)
    ]
    return {
        "seed": seed,
        "test_seed": test_seed,
        "training_cells": model.training_cells,
        "held_out_cells": len(held_out),
        "dropped_short_lived": len(drawn) - len(held_out),
        "mape": statistics.fmean(errors),
        "oracle_mape": oracle_error(held_out),
        "sigma_log": predictions[0].sigma_log,
        "within_2_sigma": sum(inside) / len(inside),
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--train", type=int, default=100, help="training cells per seed")
    parser.add_argument("--test", type=int, default=300, help="held-out cells per seed")
    parser.add_argument("--json", help="write the per-seed results here")
    args = parser.parse_args()
    runs = [one_seed(s, args.train, args.test) for s in range(args.seeds)]
    mapes = [r["mape"] for r in runs]
    summary = {
        "mape_mean": statistics.fmean(mapes),
        "mape_sd": statistics.stdev(mapes) if len(mapes) > 1 else 0.0,
        "mape_min": min(mapes),
        "mape_max": max(mapes),
        "oracle_mape_mean": statistics.fmean(r["oracle_mape"] for r in runs),
        "within_2_sigma_mean": statistics.fmean(r["within_2_sigma"] for r in runs),
        "sigma_log_mean": statistics.fmean(r["sigma_log"] for r in runs),
        "dropped_short_lived_mean": statistics.fmean(r["dropped_short_lived"] for r in runs),
        "seconds_per_seed": statistics.fmean(r["seconds"] for r in runs),
    }
    print(f"python {platform.python_version()} on {platform.machine()}, {args.seeds} seeds")
    print(
        f"train {args.train} cells/seed, test {args.test} cells/seed (cells dying < 40 cycles out)"
    )
    print("| seed | held out | MAPE | oracle MAPE | within 2 sigma |")
    print("|---|---|---|---|---|")
    for r in runs:
        print(
            f"| {r['seed']} | {r['held_out_cells']} | {100 * r['mape']:.1f} % | "
            f"{100 * r['oracle_mape']:.1f} % | {100 * r['within_2_sigma']:.0f} % |"
        )
    s = summary
    print(
        f"\nMAPE {100 * s['mape_mean']:.2f} % ± {100 * s['mape_sd']:.2f} (sd over seeds; "
        f"min {100 * s['mape_min']:.1f}, max {100 * s['mape_max']:.1f}); oracle floor "
        f"{100 * s['oracle_mape_mean']:.2f} %; "
        f"within ±2 sigma {100 * s['within_2_sigma_mean']:.0f} %; "
        f"sigma(ln life) {s['sigma_log_mean']:.3f}; {s['seconds_per_seed']:.2f} s per seed"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"args": vars(args), "summary": summary, "runs": runs}, out, indent=2)


if __name__ == "__main__":
    main()
