"""The optimiser's BoTorch batch strategy (``acquisition = "botorch"``, the optional extra
``finales[botorch]``): joint batches inside the served limitations, pending requests
accounted for, the auxiliary sources' prior used, the same batch for the same seed, and a
one-line error naming the field where the extra is missing. No broker."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from pydantic import ValidationError

from finales.domain.limitations import matches
from finales.optimizer import OptimizerConfig, Pair, chemistry
from finales.optimizer.optimizer import (
    MIN_SPACING,
    Observation,
    State,
    propose,
    request_parameters,
)
from tests.conftest import require_botorch

from .test_optimizer_eol import FORMULATION_LIMITS, WORKFLOW, eol_config

LIMITS = [{"formulation": FORMULATION_LIMITS}]
PEAK = (0.40, 0.09)  # (x_EC, x_LiPF6) of the made-up life surface below


def life(x_ec: float, x_li: float) -> float:
    return 300 * math.exp(-(((x_ec - PEAK[0]) / 0.2) ** 2) - ((x_li - PEAK[1]) / 0.04) ** 2)


def measured_state(n: int = 8) -> State:
    rng = np.random.default_rng(4)
    state = State()
    for x_ec, x_li in chemistry.candidates(rng, n=4 * n, temperature=298.15, limitations=LIMITS)[
        :n
    ]:
        state.observations.append(
            Observation(WORKFLOW, x_ec, x_li, 298.15, math.log(life(x_ec, x_li)), "r")
        )
    state.posted = n
    return state


def spacing(a: tuple[float, float], b: tuple[float, float]) -> float:
    xa, xb = (chemistry.features(p[0], p[1], 298.15)[0] for p in (a, b))
    return float(np.linalg.norm(xa - xb))


def test_a_batch_is_distinct_inside_the_limits_and_the_same_for_the_same_seed() -> None:
    require_botorch()
    cfg = eol_config(budget=30, acquisition="botorch")
    state = measured_state()
    picks, model = propose(cfg, state, 3, limitations=LIMITS)
    assert model is not None and len(picks) == 3
    for pick in picks:
        electrolyte = request_parameters(cfg, *pick)["battery_chemistry"]["electrolyte"]
        assert matches({"formulation": electrolyte}, LIMITS[0])
    assert min(spacing(a, b) for i, a in enumerate(picks) for b in picks[:i]) > MIN_SPACING
    assert propose(cfg, state, 3, limitations=LIMITS)[0] == picks
    # What a model learns from eight points: the batch looks near the best of them, not at
    # random (the best measured life is far below the peak's 300 cycles).
    best = max(state.observations, key=lambda o: o.value)
    assert min(spacing(p, (best.x_ec, best.x_li)) for p in picks) < 0.25


def test_a_pending_request_is_not_proposed_again() -> None:
    require_botorch()
    cfg = eol_config(budget=30, acquisition="botorch")
    state = measured_state()
    first = propose(cfg, state, 3, limitations=LIMITS)[0]
    state.outstanding = [
        SimpleNamespace(parameters={WORKFLOW.method: request_parameters(cfg, *p)}) for p in first
    ]
    again = propose(cfg, state, 3, limitations=LIMITS)[0]
    assert len(again) == 3
    assert all(spacing(a, p) >= MIN_SPACING for a in again for p in first)


def test_the_random_start_is_the_believers() -> None:
    """Before n_initial reference values there is nothing to model: both strategies draw the
    same random compositions, so a campaign can switch strategy without a new start."""
    require_botorch()
    state = measured_state(2)
    botorch = propose(eol_config(acquisition="botorch"), state, 3, limitations=LIMITS)[0]
    believer = propose(eol_config(), state, 3, limitations=LIMITS)[0]
    assert botorch == believer


def test_an_auxiliary_source_steers_the_batch_through_its_prior() -> None:
    """Three reference points far from the peak; a simulation that knows where the peak is
    (its values biased by a factor, as MD's are) pulls the batch towards it."""
    require_botorch()
    md = Pair(quantity="degradationEOL", method="simulation")
    cfg = eol_config(budget=30, acquisition="botorch", data=[md])
    reference = [(0.05, 0.01), (0.10, 0.02), (0.08, 0.11)]
    alone = State(posted=3)
    for x_ec, x_li in reference:
        value = math.log(life(x_ec, x_li))
        alone.observations.append(Observation(WORKFLOW, x_ec, x_li, 298.15, value, "r"))
    helped = State(posted=3, observations=list(alone.observations))
    grid = [(a, b) for a in np.linspace(0.02, 0.52, 6) for b in np.linspace(0.01, 0.11, 5)]
    for x_ec, x_li in grid:
        value = math.log(0.7 * life(x_ec, x_li))
        helped.observations.append(Observation(md, x_ec, x_li, 298.15, value, "m"))

    def distance(state: State) -> float:
        picks = propose(cfg, state, 3, limitations=LIMITS)[0]
        return min(spacing(p, PEAK) for p in picks)

    assert distance(helped) < 0.1 < distance(alone)


def test_the_missing_extra_is_named_when_the_configuration_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "botorch", None)  # as if not installed: import fails
    with pytest.raises(ValidationError) as caught:
        OptimizerConfig(acquisition="botorch")
    (error,) = caught.value.errors()
    assert error["loc"] == ("acquisition",)
    assert "pip install 'finales[botorch]'" in error["msg"] and "'botorch'" in error["msg"]
    assert OptimizerConfig().acquisition == "kriging-believer"  # the default needs nothing


def test_the_optimiser_command_names_a_bad_field_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "optimizer.toml"
    config.write_text('acquisition = "qei"\nbudget = 0\n')
    done = subprocess.run(
        [sys.executable, "-m", "finales.optimizer", str(config), "--server", "http://x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "acquisition:" in done.stderr and "budget:" in done.stderr
    assert "Traceback" not in done.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("budget = \n")
    done = subprocess.run(
        [sys.executable, "-m", "finales.optimizer", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "not TOML" in done.stderr and "Traceback" not in done.stderr
