"""Optimiser on end of life (EOL): how many cells (and batches) each strategy spends before one
of its electrolytes has a true median EOL within 5 % of the maximum. Prints Markdown tables.

    .venv/bin/python benchmarks/optimizer_eol.py --seeds 50 --json eol.json

Strategies (one *composition* = one ``degradationEOL / degradation_workflow`` request = a batch
of ``CELLS`` coin cells, as ``examples/workflows/eol.yaml`` builds; ``Q`` compositions are in
flight together, as the cycler's 24 usable channels hold 3 x 8 cells):

* ``bo-q3``: the optimiser's own proposal step (:func:`finales.optimizer.optimizer.propose`)
  with ``batch_size = 3``: a random first batch, then GP + expected improvement, the picks of
  a batch chosen one after the other with the kriging believer over the earlier picks;
* ``bo-q1``: the same, one composition at a time (the fully sequential policy every batch
  policy, BoTorch's q-EI included, tries to approach; it needs the most lab time);
* ``random``: uniform samples of the compositions ASAB can mix (the optimiser's own sampler);
* ``lhs``: successive 10-point Latin hypercubes of ASAB's served box, outside points dropped;
* ``botorch-q3`` (not in the default list; needs the optional extra ``finales[botorch]``, which
  pulls ``torch``): the optimiser's own proposal step with ``acquisition = "botorch"``
  (:mod:`finales.optimizer.botorch_batch`): the same random first batch and the same candidate
  compositions as ``bo-q3``, then BoTorch's ``SingleTaskGP`` with its default priors (inputs
  normalised to the candidates' span, outputs standardised), fitted by ``fit_gpytorch_mll``, and
  ``qLogNoisyExpectedImprovement`` (QMC, joint over the batch, the noisy baseline and the
  pending requests) maximised over the candidates by ``optimize_acqf_discrete`` (q = 3). Its
  recommendation is the observation with the highest posterior mean of a BoTorch GP.

In process, no broker. A composition's result is what the workflow would answer: ASAB mixes it
(:meth:`finales.lab.asab.ASAB._mix`: the nearest reachable composition, 0.5-1 % off), each cell
is drawn from :mod:`finales.lab.cycle_life` (15 % scatter of ln EOL), cycled 40 times, and its
EOL predicted by the degradation model tenant's own model (:class:`EOLModel`, trained as the
tenant trains it). The optimiser reads the mean ln(predicted EOL) of the cells (its
``transform = "log"``). Assembly failures and lost cells are not simulated (every batch has
``CELLS`` cells).

Two criteria. *Sampled*: a composition *reaches* a level when the ground truth of what ASAB
actually mixed,
``cycle_life.expected_eol`` (the median EOL of its cells, no scatter), is at least ``level`` x
the maximum over what ASAB can make. Counted: compositions, cells (``CELLS`` per composition)
and batches (rounds of ``Q``, for every strategy but ``bo-q1``, whose rounds are its
compositions). Cap ``--cap`` compositions: a run that has not reached a level counts as the
cap (shown as ">cap"). *Recommended*: after each round (batch), every strategy names the
composition it would report as its answer: BO the measured composition with the highest
posterior mean of its own model (the measurement noise averaged out by the GP), random search
and the Latin hypercube the one with the highest measured value (they have no model); the
count is the compositions spent when that recommendation's ground truth first reaches the
level. Seed s gives the k-th composition of every strategy the same mixing error and cells
(common random numbers).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import sklearn
from scipy.optimize import minimize
from scipy.stats import qmc
from threadpoolctl import threadpool_limits

from finales.domain.limitations import matches
from finales.lab import cycle_life, stocks
from finales.lab.asab import ASAB
from finales.lab.composition import Composition
from finales.lab.degradation import EOLModel
from finales.optimizer import OptimizerConfig, chemistry
from finales.optimizer.config import Pair
from finales.optimizer.optimizer import Observation, State, fit_model, propose, transform

STRATEGIES = ("bo-q3", "bo-q1", "random", "lhs")
OPTIONAL = ("botorch-q3",)
LABELS = {
    "botorch-q3": "BoTorch qLogNEI, batches of 3",
    "bo-q3": "BO, batches of 3 (kriging believer)",
    "bo-q1": "BO, one at a time",
    "random": "random search",
    "lhs": "Latin hypercube",
}
CELLS = 8  # examples/workflows/eol.yaml: vars.cells
Q = 3  # 24 usable cycler channels / 8 cells
FEATURE_CYCLES = cycle_life.FEATURE_CYCLES[1]
WORKFLOW = Pair(quantity="degradationEOL", method="degradation_workflow")
# What Optimizer.limitations() gives with limits_from = electrolyte/flow over ASAB's offer.
LIMITATIONS = [{"formulation": ASAB.formulation_limitations()}]
LHS_BATCH = 10
GRID_N = 241
_MODEL: EOLModel | None = None


def config(
    seed: int, *, q: int, cap: int, acquisition: str = "kriging-believer"
) -> OptimizerConfig:
    """The EOL campaign's optimiser configuration (docs/optimizer.md)."""
    return OptimizerConfig(
        acquisition=acquisition,  # type: ignore[arg-type]
        quantity=WORKFLOW.quantity,
        request_methods=[WORKFLOW.method],
        request_shape="battery_chemistry",
        value_field="end_of_life",
        transform="log",
        limits_from=[Pair(quantity="electrolyte", method="flow")],
        batch_size=q,
        budget=cap,
        seed=seed,
    )


# ------------------------------------------------------------------------------ ground truth


def true_eol(x_ec: float, x_li: float) -> float:
    """Median EOL (cycles) of what ASAB mixes for (x_EC, x_LiPF6), before its mixing error."""
    target = Composition.of(x_ec, max(0.0, 1.0 - x_ec - x_li), x_li)
    return cycle_life.expected_eol(stocks.nearest_reachable(target))


def ground_truth_maximum(levels: list[float]) -> dict[str, Any]:
    """The maximum of the median EOL over ASAB's served box (grid, then Nelder-Mead), and the
    share of the feasible space (uniform, as random search samples it) above each level."""
    lim = stocks.limits()
    ec_max, li_max, emc_min = lim["EC"][1], lim["LiPF6"][1], lim["EMC"][0]
    best, where = -1.0, (0.0, 0.0)
    for x_ec in np.linspace(0.0, ec_max, GRID_N):
        for x_li in np.linspace(0.0, li_max, GRID_N):
            if 1.0 - x_ec - x_li >= emc_min and (v := true_eol(float(x_ec), float(x_li))) > best:
                best, where = v, (float(x_ec), float(x_li))

    def negative(p: np.ndarray) -> float:
        x_ec, x_li = float(np.clip(p[0], 0, ec_max)), float(np.clip(p[1], 0, li_max))
        return 0.0 if 1.0 - x_ec - x_li < emc_min else -true_eol(x_ec, x_li)

    refined = minimize(negative, np.array(where), method="Nelder-Mead", options={"xatol": 1e-6})
    value = max(best, -float(refined.fun))
    x_ec, x_li = (refined.x if -refined.fun >= best else where)[:2]
    comp = stocks.nearest_reachable(Composition.of(x_ec, 1.0 - x_ec - x_li, x_li))
    pts = chemistry.candidates(
        np.random.default_rng(12345), n=8000, temperature=298.15, limitations=LIMITATIONS
    )
    values = np.array([true_eol(a, b) for a, b in pts])
    return {
        "max_cycles": value,
        "x_EC": float(x_ec),
        "x_LiPF6": float(x_li),
        "molality_mol_per_kg": comp.molality,
        "w_EC": comp.w_ec,
        "share_above": {f"{lv:g}": float(np.mean(values >= lv * value)) for lv in levels},
        "share_samples": len(values),
    }


# ------------------------------------------------------------------------------ the lab


def model() -> EOLModel:
    global _MODEL
    if _MODEL is None:
        _MODEL = EOLModel.trained()  # as DegradationModel trains it by default
    return _MODEL


def run_composition(
    x_ec: float, x_li: float, *, seed: int, k: int
) -> tuple[float, Observation | None]:
    """The k-th composition of a run: its ground truth (median EOL of what was mixed) and the
    observation the optimiser reads from the workflow's result (mean ln predicted EOL)."""
    rng = random.Random(f"{seed}:eol:{k}")
    formulation = chemistry.cell_parameters(x_ec, x_li, {})["battery_chemistry"]["electrolyte"]
    actual, _ = ASAB._mix(formulation, rng)
    predictions = []
    for _ in range(CELLS):
        cell = cycle_life.draw_cell(actual, rng)
        data = cycle_life.cycle(cell, FEATURE_CYCLES, rng, stop_at_end_of_life=False)
        found = cycle_life.features(cell, data, rng)
        if found is not None:
            predictions.append(float(round(model().predict(found).eol)))
    cfg = config(seed, q=1, cap=1)
    value = transform(cfg, predictions)
    fr = chemistry.fractions(actual.to_formulation())
    truth = cycle_life.expected_eol(actual)
    if value is None or fr is None:
        return truth, None
    return truth, Observation(WORKFLOW, fr["EC"], fr["LiPF6"], cfg.temperature, value, f"r{k}")


# ------------------------------------------------------------------------------ strategies


@dataclass
class Run:
    strategy: str
    seed: int
    cap: int
    levels: list[float]
    reached: dict[str, int | None] = field(default_factory=dict)  # level -> compositions
    recommended: dict[str, int | None] = field(default_factory=dict)  # the same, recommendation
    truths: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def q(self) -> int:
        return 1 if self.strategy == "bo-q1" else Q


def _done(run: Run, maximum: float) -> bool:
    for i, truth in enumerate(run.truths, start=1):
        for level in run.levels:
            key = f"{level:g}"
            if run.reached.get(key) is None and truth >= level * maximum:
                run.reached[key] = i
    return all(
        run.reached.get(f"{lv:g}") is not None and run.recommended.get(f"{lv:g}") is not None
        for lv in run.levels
    )


def _recommend(run: Run, truth: float, maximum: float) -> None:
    """Record the levels the current recommendation (ground truth ``truth``) reaches."""
    for level in run.levels:
        key = f"{level:g}"
        if run.recommended.get(key) is None and truth >= level * maximum:
            run.recommended[key] = len(run.truths)


def bo(run: Run, maximum: float) -> None:
    botorch = run.strategy == "botorch-q3"
    cfg = config(
        run.seed, q=run.q, cap=run.cap, acquisition="botorch" if botorch else "kriging-believer"
    )
    state = State()
    observed_truths: list[float] = []  # ground truth of each observation, in order
    while len(run.truths) < run.cap:
        state.posted = len(run.truths)  # the optimiser's rng is keyed by it
        n = min(run.q, run.cap - state.posted)
        picks, _ = propose(cfg, state, n, limitations=LIMITATIONS)
        # A batch is built and cycled together: its results arrive together.
        for x_ec, x_li in picks:
            truth, obs = run_composition(x_ec, x_li, seed=run.seed, k=len(run.truths))
            run.truths.append(truth)
            if obs is not None:
                state.observations.append(obs)
                observed_truths.append(truth)
        if botorch and len(state.observations) >= 2:
            _recommend(run, observed_truths[botorch_recommendation(state, run.seed)], maximum)
        elif not botorch:
            fitted = fit_model(cfg, state.observations)
            if fitted.x_ref is not None and fitted.residual is not None:
                best = int(np.argmax(fitted.predict(fitted.x_ref)[0]))
                _recommend(run, observed_truths[best], maximum)
        if _done(run, maximum):
            return


# The box of BoTorch's input normalisation: x_EC and the stretched x_LiPF6 (chemistry.features).
BOX = ((0.0, 0.0), (0.6, chemistry.LI_SCALE * 0.15))


_FITTED: dict[tuple[int, int], Any] = {}  # (seed, observations) -> the last fit, reused


def _botorch_model(state: State, seed: int) -> Any:
    """The GP on the observations; the fit after a batch serves its recommendation and the
    next batch's proposal."""
    key = (seed, len(state.observations))
    if key not in _FITTED:
        _FITTED.clear()
        _FITTED[key] = _fit_botorch(state)
    return _FITTED[key]


def _fit_botorch(state: State) -> Any:
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    obs = state.observations
    x = chemistry.features([o.x_ec for o in obs], [o.x_li for o in obs], 298.15)[:, :2]
    train_x = torch.tensor(x, dtype=torch.double)
    train_y = torch.tensor([[o.value] for o in obs], dtype=torch.double)
    bounds = torch.tensor(BOX, dtype=torch.double)
    model = SingleTaskGP(
        train_x,
        train_y,
        input_transform=Normalize(d=2, bounds=bounds),
        outcome_transform=Standardize(m=1),
    )
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model, train_x


def botorch_recommendation(state: State, seed: int) -> int:
    """The observation with the highest posterior mean of BoTorch's GP."""
    import torch

    model, train_x = _botorch_model(state, seed)
    with torch.no_grad():
        mean = model.posterior(train_x).mean.squeeze(-1).numpy()
    return int(np.argmax(mean))


def feasible_points(strategy: str, seed: int, n: int) -> list[tuple[float, float]]:
    """The first n points random search or the Latin hypercube would make."""
    points: list[tuple[float, float]] = []
    if strategy == "random":
        rng = np.random.default_rng([seed, 1])
        while len(points) < n:
            points += chemistry.candidates(
                rng, n=4 * n, temperature=298.15, limitations=LIMITATIONS
            )
        return points[:n]
    lim = stocks.limits()
    sampler = qmc.LatinHypercube(d=2, rng=np.random.default_rng([seed, 2]))
    while len(points) < n:
        design = qmc.scale(sampler.random(LHS_BATCH), [0.0, 0.0], [lim["EC"][1], lim["LiPF6"][1]])
        for x_ec, x_li in design:
            params = chemistry.parameters(x_ec, x_li, 298.15)
            if matches(params, LIMITATIONS[0]):
                li, ec = (c["fraction"] for c in params["formulation"][:2])
                points.append((ec, li))
    return points[:n]


def sampling(run: Run, maximum: float) -> None:
    best: tuple[float, float] | None = None  # (measured value, ground truth)
    for k, (x_ec, x_li) in enumerate(feasible_points(run.strategy, run.seed, run.cap)):
        truth, obs = run_composition(x_ec, x_li, seed=run.seed, k=k)
        run.truths.append(truth)
        if obs is not None and (best is None or obs.value > best[0]):
            best = (obs.value, truth)
        if best is not None and (k + 1) % run.q == 0:  # recommendations after each round
            _recommend(run, best[1], maximum)
        if _done(run, maximum):
            return


def execute(task: tuple[str, int, int, list[float], float]) -> Run:
    strategy, seed, cap, levels, maximum = task
    run = Run(strategy, seed, cap, levels)
    started = time.perf_counter()
    with threadpool_limits(1):
        if strategy.startswith("bo"):  # bo-q3, bo-q1, botorch-q3
            bo(run, maximum)
        else:
            sampling(run, maximum)
    run.seconds = time.perf_counter() - started
    return run


# ------------------------------------------------------------------------------ report


def _fmt(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def summarise(runs: list[Run], level: float, *, recommended: bool = False) -> dict[str, Any]:
    """Compositions, cells and batches to the level: median, quartiles, mean, max; censored
    runs count as the cap (a statistic that falls among them is marked '>')."""
    key, cap = f"{level:g}", runs[0].cap
    counts = [(r.recommended if recommended else r.reached).get(key) for r in runs]
    comps = np.array([c if c is not None else cap for c in counts], dtype=float)
    batches = np.array(
        [math.ceil((c if c is not None else cap) / r.q) for c, r in zip(counts, runs, strict=True)],
        dtype=float,
    )
    censored = sum(c is None for c in counts)

    def stats(a: np.ndarray) -> dict[str, float]:
        return {
            "median": float(np.percentile(a, 50)),
            "q1": float(np.percentile(a, 25)),
            "q3": float(np.percentile(a, 75)),
            "mean": float(np.mean(a)),
            "max": float(np.max(a)),
        }

    return {
        "runs": len(runs),
        "reached": len(runs) - censored,
        "compositions": stats(comps),
        "cells": stats(comps * CELLS),
        "batches": stats(batches),
        "median_censored": bool(np.percentile([c or cap + 1 for c in counts], 50) > cap),
        "seconds": float(np.mean([r.seconds for r in runs])),
    }


def table(summary: dict[str, dict[str, Any]], level: str) -> str:
    lines = [
        f"At {level} x max:",
        "",
        "| strategy | compositions: median (quartiles), mean, max | cells: "
        "median (quartiles) | batches: median (quartiles) | reached | s/run |",
        "|---|---|---|---|---|---|",
    ]
    for strategy, s in summary.items():
        c, cells, b = s["compositions"], s["cells"], s["batches"]
        mark = ">" if s["median_censored"] else ""
        lines.append(
            f"| {LABELS[strategy]} | {mark}{_fmt(c['median'])} ({_fmt(c['q1'])}-{_fmt(c['q3'])}),"
            f" {c['mean']:.1f}, {_fmt(c['max'])} | {mark}{_fmt(cells['median'])} "
            f"({_fmt(cells['q1'])}-{_fmt(cells['q3'])}) | {mark}{_fmt(b['median'])} "
            f"({_fmt(b['q1'])}-{_fmt(b['q3'])}) | {s['reached']}/{s['runs']} | {s['seconds']:.1f} |"
        )
    return "\n".join(lines)


def _report(out: Any, text: str, summary: dict[str, Any], strategies: list[str]) -> None:
    out.write("\n" + text + "\n")
    if "random" not in summary:
        return
    for s in strategies:
        random_median = summary["random"]["compositions"]["median"]
        ratio = summary[s]["compositions"]["median"] / random_median
        out.write(f"  {s}/random median: {ratio:.2f}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--cap", type=int, default=45, help="compositions per run at most")
    parser.add_argument("--levels", default="0.95,0.9,0.85,0.8")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    levels = [float(x) for x in args.levels.split(",")]
    strategies = args.strategies.split(",")
    started = time.perf_counter()
    truth = ground_truth_maximum(levels)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    tasks = [(s, seed, args.cap, levels, truth["max_cycles"]) for s in strategies for seed in seeds]
    with mp.get_context("fork").Pool(args.jobs) as pool:
        runs = pool.map(execute, tasks, chunksize=1)
    summaries = {
        f"{lv:g}": {s: summarise([r for r in runs if r.strategy == s], lv) for s in strategies}
        for lv in levels
    }
    recommended = {
        f"{lv:g}": {
            s: summarise([r for r in runs if r.strategy == s], lv, recommended=True)
            for s in strategies
        }
        for lv in levels
    }
    out = sys.stdout
    out.write(
        f"ground truth: max median EOL {truth['max_cycles']:.1f} cycles at x_EC "
        f"{truth['x_EC']:.3f}, x_LiPF6 {truth['x_LiPF6']:.4f} ({truth['molality_mol_per_kg']:.3f}"
        f" mol/kg, w_EC {truth['w_EC']:.3f}); share of the feasible space above: "
        + ", ".join(f"{k}: {v:.3f}" for k, v in truth["share_above"].items())
        + "\n"
    )
    for kind, by_level in (("sampled", summaries), ("recommended", recommended)):
        out.write(f"\n## {kind}\n")
        for lv, summary in by_level.items():
            _report(out, table(summary, lv), summary, strategies)
    elapsed = time.perf_counter() - started
    out.write(
        f"\n{args.seeds} seeds from {args.first_seed}, cap {args.cap}, {args.jobs} jobs, "
        f"{elapsed:.0f} s; Python {platform.python_version()}, numpy {np.__version__}, scipy "
        f"{scipy.__version__}, scikit-learn {sklearn.__version__}\n"
    )
    if args.json:
        payload = {
            "truth": truth,
            "summaries": summaries,
            "recommended": recommended,
            "runs": [
                {
                    "strategy": r.strategy,
                    "seed": r.seed,
                    "reached": r.reached,
                    "recommended": r.recommended,
                }
                for r in runs
            ],
        }
        args.json.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
