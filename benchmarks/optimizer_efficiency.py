"""Optimiser efficiency: how many experiments each strategy needs before one of them reaches
95 % of the ground-truth maximum conductivity, over many seeds. Prints a Markdown table.

    .venv/bin/python benchmarks/optimizer_efficiency.py --seeds 20 --cap 60 --json eff.json

Strategies:

* ``bo``: the optimiser's own proposal step (:func:`finales.optimizer.optimizer.propose`:
  GP + expected improvement over candidates sampled inside ASAB's served limitations),
  reference data only, one experiment at a time;
* ``bo+md+model``: the same, fed first what ``finales demo`` seeds the campaign with (a sweep
  of the low-fidelity model and a few MD runs, points drawn as in
  ``finales.demo.campaign._seed_models``), all of it available before the first experiment;
* ``random``: uniform samples of the same feasible space (the optimiser's own sampler);
* ``lhs``: successive Latin-hypercube designs (``scipy.stats.qmc``) of the served box,
  points outside ASAB's limitations dropped.

No broker: the algorithm is measured, not the transport. Experiments are the simulated ASAB's
conductivity measurements (:meth:`finales.lab.asab.ASAB.conductivity_sample`: the robot mixes
the nearest reachable composition 0.5-1 % off, three repeats with 1-3 % scatter, occasional
failures); MD runs are :func:`finales.lab.molecular_dynamics.simulation` and model calls
:func:`finales.lab.physics.low_fidelity_conductivity`, exactly what the tenants report.

An experiment *reaches the target* when the ground-truth conductivity of the composition the
robot actually mixed, at the campaign temperature, is at least ``level`` times the maximum
(a failed measurement, with no value, never does: nobody learns of it). Only experiments are
counted; a run that has not reached the target after ``--cap`` experiments is censored and
counts as ``cap`` in the statistics (shown as ">cap"). The first of ``--levels`` (0.95) is the
criterion; 0.98 and 0.99 are reported as well, runs going on until all levels are reached.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import sklearn
from scipy.optimize import minimize
from scipy.stats import qmc
from threadpoolctl import threadpool_limits

from finales.demo.campaign import TEMPERATURE_K
from finales.domain.limitations import matches
from finales.lab import physics, stocks
from finales.lab.asab import ASAB, CELL_TEMPERATURE_WINDOW_K
from finales.lab.base import ANY_FORMULATION
from finales.lab.composition import Composition
from finales.lab.molecular_dynamics import simulation
from finales.optimizer import OptimizerConfig, chemistry
from finales.optimizer.config import Pair
from finales.optimizer.optimizer import Observation, State, propose

STRATEGIES = ("bo", "bo+md+model", "random", "lhs")
OPTIONAL = ("botorch", "botorch+md+model")  # need the extra finales[botorch]
LABELS = {
    "botorch": "BoTorch qLogNEI, experiments only",
    "botorch+md+model": "BoTorch qLogNEI, experiments + MD + model",
    "bo": "BO, experiments only",
    "bo+md+model": "BO, experiments + MD + model",
    "random": "random search",
    "lhs": "Latin hypercube",
}
Q = "conductivity"
EXPERIMENT = Pair(quantity=Q, method="two_electrode")
MD = Pair(quantity=Q, method="molecular_dynamics")
MODEL = Pair(quantity=Q, method="polynomial_interpolation")
# What the tenants offer (ASAB.register, LowFidelityModel.register).
ASAB_LIMITATIONS = {
    "formulation": ASAB.formulation_limitations(),
    "temperature": [
        None,
        {"min": CELL_TEMPERATURE_WINDOW_K[0], "max": CELL_TEMPERATURE_WINDOW_K[1]},
    ],
}
MODEL_LIMITATIONS = {
    "formulation": ANY_FORMULATION,
    "temperature": [None, {"min": 243.0, "max": 333.0}],
}
# The demo's seeding (finales.demo.campaign.run_campaign: _seed_models(lf=20, md=4)).
SEED_MODEL_CALLS, SEED_MD_RUNS = 20, 4
LHS_BATCH = 10
GRID_N = 241


# ------------------------------------------------------------------------------ ground truth


def true_conductivity(x_ec: float, x_li: float) -> float:
    """Ground truth (S/m) at the campaign temperature of what ASAB mixes for (x_EC, x_LiPF6),
    before its formulation error: the nearest composition its stocks reach."""
    target = Composition.of(x_ec, max(0.0, 1.0 - x_ec - x_li), x_li)
    return physics.conductivity(stocks.nearest_reachable(target), TEMPERATURE_K)


def ground_truth_maximum(levels: list[float]) -> dict[str, Any]:
    """The maximum of the true conductivity over what ASAB can be asked for: a GRID_N² grid of
    its served box (x_EC, x_LiPF6 within the offered ranges, x_EMC above its minimum), each
    point mapped to what the stocks reach, then Nelder-Mead from the best grid point."""
    lim = stocks.limits()
    ec_max, li_max, emc_min = lim["EC"][1], lim["LiPF6"][1], lim["EMC"][0]
    best, where = -1.0, (0.0, 0.0)
    for x_ec in np.linspace(0.0, ec_max, GRID_N):
        for x_li in np.linspace(0.0, li_max, GRID_N):
            if 1.0 - x_ec - x_li < emc_min:
                continue
            kappa = true_conductivity(float(x_ec), float(x_li))
            if kappa > best:
                best, where = kappa, (float(x_ec), float(x_li))

    def negative(p: np.ndarray) -> float:
        x_ec, x_li = float(np.clip(p[0], 0, ec_max)), float(np.clip(p[1], 0, li_max))
        if 1.0 - x_ec - x_li < emc_min:
            return 0.0
        return -true_conductivity(x_ec, x_li)

    refined = minimize(negative, np.array(where), method="Nelder-Mead", options={"xatol": 1e-6})
    value = max(best, -float(refined.fun))
    x_ec, x_li = (refined.x if -refined.fun >= best else where)[:2]
    comp = Composition.of(float(x_ec), 1.0 - float(x_ec) - float(x_li), float(x_li))
    return {
        "max_S_per_m": value,
        "grid_max_S_per_m": best,
        "x_EC": float(x_ec),
        "x_LiPF6": float(x_li),
        "molality_mol_per_kg": comp.molality,
        "w_EC": comp.w_ec,
        "share_above": _shares_above(value, levels),
    }


def _shares_above(maximum: float, levels: list[float]) -> dict[str, float]:
    """The share of the feasible space (uniform, as random search samples it) at or above
    each level x maximum, from a few thousand uniform samples."""
    pts = chemistry.candidates(
        np.random.default_rng(12345),
        n=8000,
        temperature=TEMPERATURE_K,
        limitations=[ASAB_LIMITATIONS],
    )
    values = np.array([true_conductivity(a, b) for a, b in pts])
    return {f"{lv:g}": float(np.mean(values >= lv * maximum)) for lv in levels}


# ------------------------------------------------------------------------------ the lab


@dataclass
class Experiment:
    x_ec: float  # requested
    x_li: float
    true: float  # ground truth of the composition actually mixed, campaign temperature
    measured: float | None  # the mean of the reported repeats (None: the measurement failed)


def run_experiment(
    x_ec: float, x_li: float, *, seed: int, k: int
) -> tuple[Experiment, Observation | None]:
    """The k-th ASAB measurement of a run, and what the optimiser reads from its result.

    The random stream depends on (seed, k) only, so all strategies of one seed see the same
    formulation errors and noise for their k-th experiment (common random numbers)."""
    params = chemistry.parameters(x_ec, x_li, TEMPERATURE_K)
    sample = ASAB.conductivity_sample(params["formulation"], random.Random(f"{seed}:ASAB:{k}"))
    truth = physics.conductivity(sample.actual, TEMPERATURE_K)
    if not sample.values or not sample.meta.get("success", True):
        return Experiment(x_ec, x_li, truth, None), None
    value = float(np.mean(sample.values))
    # As Optimizer._observation reads a result: the reported formulation and temperature.
    fr = chemistry.fractions(sample.actual.to_formulation())
    assert fr is not None
    temperature = round(sample.temperature, 3)
    obs = Observation(EXPERIMENT, fr["EC"], fr["LiPF6"], temperature, value, f"asab-{k}")
    return Experiment(x_ec, x_li, truth, value), obs


def seed_observations(seed: int) -> list[Observation]:
    """The demo's seeding: SEED_MODEL_CALLS model calls then SEED_MD_RUNS MD runs at points
    drawn like ``_seed_models`` (rng seed + 1, uniform inside the model's limitations).

    The same distribution as ``_seed_models`` (since commit 56be1a0 it draws until each source
    has its share: before, one short draw of 15-19 points all went to the model and the demo
    got no MD run), not the same points: the demo draws the two sources one after the other,
    this draw (kept so that before/after figures compare like with like) takes 24 points and
    gives the last 4 to MD."""
    rng = np.random.default_rng(seed + 1)
    n = SEED_MODEL_CALLS + SEED_MD_RUNS
    points: list[tuple[float, float]] = []
    while len(points) < n:
        points += chemistry.candidates(
            rng, n=n, temperature=TEMPERATURE_K, limitations=[MODEL_LIMITATIONS]
        )
    out = []
    for i, (x_ec, x_li) in enumerate(points[:n]):
        formulation = chemistry.parameters(x_ec, x_li, TEMPERATURE_K)["formulation"]
        if i < SEED_MODEL_CALLS:
            comp = Composition.from_formulation(formulation)
            value = round(physics.low_fidelity_conductivity(comp, TEMPERATURE_K), 6)
            pair = MODEL
        else:
            run = simulation(
                formulation, TEMPERATURE_K, random.Random(f"{seed}:molecular_dynamics:md-{i}")
            )
            comp, value, pair = run.simulated, round(run.conductivity, 6), MD
        fr = chemistry.fractions(comp.to_formulation())
        assert fr is not None
        out.append(Observation(pair, fr["EC"], fr["LiPF6"], TEMPERATURE_K, value, f"seed-{i}"))
    return out


# ------------------------------------------------------------------------------ strategies


@dataclass
class Run:
    strategy: str
    seed: int
    cap: int
    levels: list[float]
    reached: dict[str, int | None] = field(default_factory=dict)  # level -> experiments, None: >cap
    md_runs: int = 0
    model_calls: int = 0
    seconds: float = 0.0
    experiments: list[dict[str, Any]] = field(default_factory=list)


def _done(run: Run, maximum: float) -> bool:
    for i, e in enumerate(run.experiments, start=1):
        for level in run.levels:
            key = f"{level:g}"
            if run.reached.get(key) is None and e["true"] >= level * maximum:
                run.reached[key] = i
    return all(run.reached.get(f"{lv:g}") is not None for lv in run.levels)


def bo(run: Run, maximum: float, *, aux: bool, botorch: bool = False) -> None:
    cfg = OptimizerConfig(
        acquisition="botorch" if botorch else "kriging-believer",
        request_methods=[EXPERIMENT.method],
        data=[MD, MODEL] if aux else [],
        temperature=TEMPERATURE_K,
        budget=run.cap,
        max_outstanding=1,
        seed=run.seed,
    )
    state = State()
    if aux:
        state.observations = seed_observations(run.seed)
        run.model_calls, run.md_runs = SEED_MODEL_CALLS, SEED_MD_RUNS
    for k in range(run.cap):
        state.posted = k  # own requests so far: the optimiser's rng is keyed by it
        ((x_ec, x_li),), _ = propose(cfg, state, 1, limitations=[ASAB_LIMITATIONS])
        experiment, obs = run_experiment(x_ec, x_li, seed=run.seed, k=k)
        run.experiments.append(asdict(experiment))
        if obs is not None:
            state.observations.append(obs)
            state.own_values.append(obs.value)
        if _done(run, maximum):
            return


def feasible_points(strategy: str, seed: int, n: int) -> list[tuple[float, float]]:
    """The first n points random search or the Latin hypercube would measure."""
    points: list[tuple[float, float]] = []
    if strategy == "random":
        rng = np.random.default_rng([seed, 1])
        while len(points) < n:
            points += chemistry.candidates(
                rng, n=4 * n, temperature=TEMPERATURE_K, limitations=[ASAB_LIMITATIONS]
            )
        return points[:n]
    lim = stocks.limits()
    sampler = qmc.LatinHypercube(d=2, rng=np.random.default_rng([seed, 2]))
    while len(points) < n:
        design = qmc.scale(sampler.random(LHS_BATCH), [0.0, 0.0], [lim["EC"][1], lim["LiPF6"][1]])
        for x_ec, x_li in design:
            params = chemistry.parameters(x_ec, x_li, TEMPERATURE_K)
            if matches(params, ASAB_LIMITATIONS):
                li, ec = (c["fraction"] for c in params["formulation"][:2])
                points.append((ec, li))
    return points[:n]


def sampling(run: Run, maximum: float) -> None:
    for k, (x_ec, x_li) in enumerate(feasible_points(run.strategy, run.seed, run.cap)):
        experiment, _ = run_experiment(x_ec, x_li, seed=run.seed, k=k)
        run.experiments.append(asdict(experiment))
        if _done(run, maximum):
            return


def execute(task: tuple[str, int, int, list[float], float]) -> Run:
    strategy, seed, cap, levels, maximum = task
    run = Run(strategy, seed, cap, levels)
    started = time.perf_counter()
    with threadpool_limits(1):  # one BLAS thread per worker: --jobs is the parallelism
        if strategy.startswith("bo"):  # bo, bo+md+model, botorch, botorch+md+model
            bo(
                run,
                maximum,
                aux=strategy.endswith("+md+model"),
                botorch=strategy.startswith("botorch"),
            )
        else:
            sampling(run, maximum)
    run.seconds = time.perf_counter() - started
    return run


# ------------------------------------------------------------------------------ report


def summarise(runs: list[Run], level: float) -> dict[str, Any]:
    """Order statistics with censored runs counted as the cap; ``censored_stats`` names those
    that fall (even partly) among the censored runs: they are only known to exceed the cap."""
    key = f"{level:g}"
    cap = runs[0].cap
    counts = [r.reached.get(key) for r in runs]
    values = np.array([c if c is not None else cap for c in counts], dtype=float)
    above = np.array([c if c is not None else cap + 1 for c in counts], dtype=float)
    stats = {
        "median": float(np.percentile(values, 50)),
        "q1": float(np.percentile(values, 25)),
        "q3": float(np.percentile(values, 75)),
        "min": float(np.min(values)),
        "max": float(np.max(values)),
    }
    flags = {
        "median": np.percentile(above, 50),
        "q1": np.percentile(above, 25),
        "q3": np.percentile(above, 75),
        "min": np.min(above),
        "max": np.max(above),
    }
    return {
        "runs": len(runs),
        "reached": sum(c is not None for c in counts),
        "censored": sum(c is None for c in counts),
        **stats,
        "mean": float(np.mean(values)),
        "censored_stats": [k for k, v in flags.items() if v > cap],
        "md_runs": statistics.fmean(r.md_runs for r in runs),
        "model_calls": statistics.fmean(r.model_calls for r in runs),
        "seconds": statistics.fmean(r.seconds for r in runs),
    }


def _n(s: dict[str, Any], key: str, cap: int) -> str:
    if key in s["censored_stats"]:
        return f">{cap}"
    value = s[key]
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def table(
    by_strategy: dict[str, list[Run]], level: float, cap: int, *, criterion: bool
) -> tuple[list[str], dict[str, Any]]:
    role = "the criterion" if criterion else "supplementary, not the criterion"
    lines = [
        f"experiments until one reaches {level:g} x the maximum "
        f"(true conductivity of what was mixed; {role}):",
        "",
        "| strategy | median | quartiles | mean | min | max | runs reaching it "
        "| MD runs / model calls per run | s per run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    stats = {}
    for name, runs in by_strategy.items():
        s = stats[name] = summarise(runs, level)
        mean = ("≥ " if s["censored"] else "") + f"{s['mean']:.1f}"
        lines.append(
            f"| {LABELS[name]} | {_n(s, 'median', cap)} | {_n(s, 'q1', cap)}-{_n(s, 'q3', cap)} | "
            f"{mean} | {_n(s, 'min', cap)} | {_n(s, 'max', cap)} | {s['reached']}/{s['runs']} | "
            f"{s['md_runs']:g} / {s['model_calls']:g} | {s['seconds']:.1f} |"
        )
    if "random" in stats:
        for name in ("bo", "bo+md+model"):
            if name in stats:
                ratio = stats[name]["median"] / stats["random"]["median"]
                if "median" in stats["random"]["censored_stats"]:
                    lines += ["", f"{LABELS[name]}: random search's median is censored"]
                    continue
                verdict = "met" if ratio <= 1 / 3 else "not met"
                target = f" (target <= 0.33: {verdict})" if criterion else ""
                lines.append("")
                lines.append(f"{LABELS[name]}: median / random median = {ratio:.2f}{target}")
    return lines, stats


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"machine: {platform.platform()}, {cpu}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"scikit-learn {sklearn.__version__}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20, help="runs per strategy (seeds 0..N-1)")
    ap.add_argument("--cap", type=int, default=60, help="experiments per run at most")
    ap.add_argument(
        "--strategies", nargs="+", choices=STRATEGIES + OPTIONAL, default=list(STRATEGIES)
    )
    ap.add_argument(
        "--levels",
        type=float,
        nargs="+",
        default=[0.95, 0.98, 0.99],
        help="shares of the maximum; the first is the criterion, runs go on until all are reached",
    )
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--json", type=Path, help="also write per-seed numbers to this file")
    opts = ap.parse_args()
    command = " ".join([".venv/bin/python", "benchmarks/optimizer_efficiency.py", *sys.argv[1:]])
    print(machine(), flush=True)
    started = time.perf_counter()
    truth = ground_truth_maximum(opts.levels)
    maximum = truth["max_S_per_m"]
    shares = ", ".join(
        f"{lv:g}: {100 * truth['share_above'][f'{lv:g}']:.1f} %" for lv in opts.levels
    )
    print(
        f"ground truth at {TEMPERATURE_K} K: max {maximum:.4f} S/m at x_EC {truth['x_EC']:.4f}, "
        f"x_LiPF6 {truth['x_LiPF6']:.4f} ({truth['molality_mol_per_kg']:.3f} mol/kg, "
        f"w_EC {truth['w_EC']:.3f}); share of the feasible space at or above level x max: "
        f"{shares} ({time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    tasks = [
        (s, seed, opts.cap, opts.levels, maximum)
        for seed in range(opts.seeds)
        for s in opts.strategies
    ]
    by_strategy: dict[str, list[Run]] = {s: [] for s in opts.strategies}
    with mp.get_context("fork").Pool(opts.jobs) as pool:
        for i, run in enumerate(pool.imap_unordered(execute, tasks), start=1):
            by_strategy[run.strategy].append(run)
            reached = ", ".join(
                f"{lv:g}: {run.reached.get(f'{lv:g}') or f'>{opts.cap}'}" for lv in run.levels
            )
            print(
                f"[{i}/{len(tasks)}] {run.strategy} seed {run.seed}: {reached} "
                f"({run.seconds:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    for runs in by_strategy.values():
        runs.sort(key=lambda r: r.seed)
    print(
        f"{opts.seeds} seeds, cap {opts.cap}, {opts.jobs} jobs, "
        f"{time.perf_counter() - started:.0f} s in all"
    )
    print(f"command: {command}")
    summaries = {}
    for i, level in enumerate(opts.levels):
        lines, summaries[f"{level:g}"] = table(by_strategy, level, opts.cap, criterion=i == 0)
        print()
        print("\n".join(lines))
    if opts.json:
        opts.json.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "command": command,
                    "ground_truth": truth,
                    "temperature_K": TEMPERATURE_K,
                    "summary": summaries,
                    "runs": [asdict(r) for runs in by_strategy.values() for r in runs],
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
