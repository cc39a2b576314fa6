"""The pure functions factored out of the ASAB and MD handlers and out of the optimiser's
proposal step (benchmarks/optimizer_efficiency.py drives them without a broker)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from finales.domain.limitations import matches
from finales.lab import physics
from finales.lab.asab import ASAB, CELL_TEMPERATURE_K, SAMPLE_MINUTES
from finales.lab.composition import Composition
from finales.lab.molecular_dynamics import JOB_HOURS, NOISE, bias, molecule_counts, simulation
from finales.optimizer import OptimizerConfig, chemistry
from finales.optimizer.config import Pair
from finales.optimizer.model import MIN_POINTS_TO_FIT, fit_gp
from finales.optimizer.optimizer import Observation, State, fit_model, propose

T_K = 299.65
FORMULATIONS = [
    Composition.of(0.3, 0.61, 0.09).to_formulation(),
    Composition.of(0.7, 0.25, 0.05).to_formulation(),  # outside ASAB's hull: projected
    Composition.of(0.05, 0.9, 0.05).to_formulation(),
]
LIMITS = {
    "formulation": ASAB.formulation_limitations(),
    "temperature": [None, {"min": 294.15, "max": 304.15}],
}
MD = Pair(quantity="conductivity", method="molecular_dynamics")


@pytest.mark.parametrize("seed", range(40))
def test_asab_sample_draws_what_the_handler_drew(seed: int) -> None:
    formulation = FORMULATIONS[seed % len(FORMULATIONS)]
    sample = ASAB.conductivity_sample(formulation, random.Random(seed))
    # The handler's former sequence of draws, written out.
    rng = random.Random(seed)
    actual, rating = ASAB._mix(formulation, rng)
    temperature = CELL_TEMPERATURE_K + rng.gauss(0, 0.05)
    duration_s = 60 * rng.uniform(*SAMPLE_MINUTES)
    values, meta = ASAB._repeats(physics.conductivity(actual, temperature), rating, rng)
    assert (sample.actual, sample.temperature, sample.duration_s) == (
        actual,
        temperature,
        duration_s,
    )
    assert (sample.values, sample.meta) == (values, meta)


@pytest.mark.parametrize("seed", range(10))
def test_md_simulation_draws_what_the_handler_drew(seed: int) -> None:
    formulation = FORMULATIONS[seed % len(FORMULATIONS)]
    run = simulation(formulation, T_K, random.Random(seed))
    rng = random.Random(seed)
    counts = molecule_counts(Composition.from_formulation(formulation))
    simulated = Composition.of(counts["EC"], counts["EMC"], counts["LiPF6"])
    duration_s = 3600 * rng.uniform(*JOB_HOURS)
    sigma = rng.uniform(*NOISE)
    kappa = physics.conductivity(simulated, T_K) * bias(simulated, T_K)
    kappa = max(0.0, kappa * (1 + rng.gauss(0, sigma)))
    rho = physics.density(simulated, T_K) * (1 + rng.gauss(0, 0.01))
    assert (run.simulated, run.counts, run.duration_s) == (simulated, counts, duration_s)
    assert (run.conductivity, run.density) == (kappa, rho)


def bump(x_ec: float, x_li: float) -> float:
    return float(np.exp(-(((x_ec - 0.3) / 0.2) ** 2) - ((x_li - 0.08) / 0.04) ** 2))


def test_propose_starts_at_random_then_follows_expected_improvement() -> None:
    cfg = OptimizerConfig(temperature=T_K, n_candidates=1000, seed=5)
    picks, _ = propose(cfg, State(), 2, limitations=[LIMITS])
    assert picks == propose(cfg, State(), 2, limitations=[LIMITS])[0]  # deterministic
    assert len(picks) == 2
    for x_ec, x_li in picks:
        assert matches(chemistry.parameters(x_ec, x_li, T_K), LIMITS)
    assert propose(cfg, State(posted=1), 2, limitations=[LIMITS])[0] != picks


def test_propose_starts_at_random_even_with_auxiliary_data() -> None:
    """A source is calibrated on reference points: the first ones must not follow it."""
    cfg = OptimizerConfig(temperature=T_K, n_candidates=1000, data=[MD], seed=1)
    plain = OptimizerConfig(temperature=T_K, n_candidates=1000, seed=1)
    state = State(observations=md_bump())
    for posted in range(cfg.n_initial):
        state.posted = posted
        picks, model = propose(cfg, state, 1, limitations=[LIMITS])
        assert model is not None and model.sources  # fitted all the same
        assert picks == propose(plain, State(posted=posted), 1, limitations=[LIMITS])[0]
        (x_ec, x_li), value = picks[0], bump(*picks[0])
        state.observations.append(Observation(cfg.reference, x_ec, x_li, T_K, value, f"r{posted}"))


def test_propose_with_reference_and_auxiliary_data_goes_for_the_maximum() -> None:
    cfg = OptimizerConfig(temperature=T_K, n_candidates=2000, data=[MD], seed=1)
    far = [(0.05, 0.02), (0.5, 0.02), (0.05, 0.11)]
    state = State(
        posted=3,
        observations=[
            *md_bump(),
            *(
                Observation(cfg.reference, a, b, T_K, bump(a, b), f"r{i}")
                for i, (a, b) in enumerate(far)
            ),
        ],
    )
    model = fit_model(cfg, state.observations)
    assert set(model.sources) == {"conductivity/molecular_dynamics"}
    ((x_ec, x_li),), used = propose(cfg, state, 1, limitations=[LIMITS])
    assert used is not None and used.sources
    assert abs(x_ec - 0.3) < 0.1 and abs(x_li - 0.08) < 0.025


def md_bump() -> list[Observation]:
    """30 MD-like values of the bump, scaled by 0.8, inside the limitations."""
    rng = np.random.default_rng(7)
    pts = chemistry.candidates(rng, n=400, temperature=T_K, limitations=[LIMITS])[:30]
    return [
        Observation(MD, x_ec, x_li, T_K, 0.8 * bump(x_ec, x_li), f"md{i}")
        for i, (x_ec, x_li) in enumerate(pts)
    ]


def test_a_gp_on_few_points_keeps_its_default_hyper_parameters() -> None:
    """Three to seven points cannot pin five hyper-parameters down: the defaults stay."""
    rng = np.random.default_rng(3)
    pts = np.array(chemistry.candidates(rng, n=400, temperature=T_K, limitations=[LIMITS])[:20])
    x = chemistry.features(pts[:, 0], pts[:, 1], T_K)
    y = np.array([bump(a, b) for a, b in pts])
    few = fit_gp(x[: MIN_POINTS_TO_FIT - 1], y[: MIN_POINTS_TO_FIT - 1])
    assert few.kernel_.k1.k2.length_scale == pytest.approx([0.2, 0.2, 0.2])
    assert few.kernel_.k2.noise_level == pytest.approx(1e-2)
    many = fit_gp(x, y)
    assert many.kernel_.k1.k2.length_scale != pytest.approx([0.2, 0.2, 0.2])
