"""The optimiser's end-of-life campaign: batches, cell-test requests and per-cell results.
No broker, no sockets."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import jsonschema
import numpy as np
import pytest

from finales import capabilities
from finales.capabilities import examples
from finales.capabilities.examples import EC, EMC, LIPF6
from finales.optimizer import OptimizerConfig, Pair, chemistry
from finales.optimizer.optimizer import (
    MIN_SPACING,
    Observation,
    State,
    _observation,
    batch_to_post,
    propose,
    request_parameters,
)

FORMULATION_LIMITS = [
    {"chemical": dict(LIPF6), "fraction": {"min": 0, "max": 0.12}},
    {"chemical": dict(EC), "fraction": {"min": 0, "max": 0.54}},
    {"chemical": dict(EMC), "fraction": {"min": 0.4, "max": 1}},
]
FLOW_OFFER = {"electrolyte": {"formulation": FORMULATION_LIMITS}, "volume": [{"min": 0.1}]}
WORKFLOW = Pair(quantity="degradationEOL", method="degradation_workflow")


def eol_config(**overrides: Any) -> OptimizerConfig:
    base: dict[str, Any] = {
        "quantity": WORKFLOW.quantity,
        "request_methods": [WORKFLOW.method],
        "request_shape": "battery_chemistry",
        "value_field": "end_of_life",
        "transform": "log",
        "limits_from": [{"quantity": "electrolyte", "method": "flow"}],
        "batch_size": 3,
        "budget": 7,
    }
    return OptimizerConfig.model_validate(base | overrides)


def test_a_batch_size_raises_the_outstanding_limit_to_it() -> None:
    assert eol_config().max_outstanding == 3
    assert eol_config(max_outstanding=6).max_outstanding == 6
    assert OptimizerConfig().max_outstanding == 1  # the conductivity default is unchanged


@pytest.mark.parametrize(
    ("outstanding", "posted", "expected"),
    [
        (0, 0, 3),  # a whole batch
        (1, 1, 0),  # part of the last batch still out: no half batch
        (0, 3, 3),
        (0, 6, 1),  # the budget's remainder goes out alone
        (1, 6, 1),  # the remainder fits beside what is still out
        (0, 7, 0),
    ],
)
def test_proposals_go_out_in_whole_batches(outstanding: int, posted: int, expected: int) -> None:
    assert batch_to_post(eol_config(), outstanding=outstanding, posted=posted) == expected


def test_two_batches_fit_when_twice_the_batch_may_be_outstanding() -> None:
    cfg = eol_config(max_outstanding=7, budget=20)
    assert batch_to_post(cfg, outstanding=0, posted=0) == 6
    assert batch_to_post(cfg, outstanding=4, posted=4) == 3


def test_one_at_a_time_is_the_old_rule() -> None:
    cfg = OptimizerConfig(max_outstanding=2, budget=5)
    assert [batch_to_post(cfg, outstanding=o, posted=p) for o, p in [(0, 0), (1, 1), (0, 4)]] == [
        2,
        1,
        1,
    ]


def test_a_cell_test_request_validates_and_names_its_electrolyte() -> None:
    anode = examples.electrode(examples.GRAPHITE, 1.767)
    cfg = eol_config(battery_chemistry={"anode": anode})
    params = request_parameters(cfg, 0.3, 0.09)
    schema = capabilities.request_schema(WORKFLOW.quantity, WORKFLOW.method)
    jsonschema.validate(params, schema)
    assert params["battery_chemistry"]["anode"] == anode
    fr = chemistry.fractions(chemistry.formulation_of(params) or [])
    assert fr is not None
    assert fr["EC"] == pytest.approx(0.3) and fr["LiPF6"] == pytest.approx(0.09)


def test_the_mixing_robots_formulation_limits_bound_the_candidates() -> None:
    limits = chemistry.formulation_limits([FLOW_OFFER])
    assert limits == [{"formulation": FORMULATION_LIMITS}]
    cands = chemistry.candidates(
        np.random.default_rng(0), n=1000, temperature=298.15, limitations=limits
    )
    assert len(cands) > 100
    assert all(
        x_li <= 0.12 and x_ec <= 0.54 and 1 - x_ec - x_li >= 0.4 - 1e-9 for x_ec, x_li in cands
    )
    assert chemistry.formulation_limits({"volume": [{"min": 1}]}) == []


def _result(values: list[Any], *, x_ec: float = 0.3, x_li: float = 0.09) -> SimpleNamespace:
    actual = chemistry.parameters(x_ec, x_li, 298.15)["formulation"]
    cells = [
        {"end_of_life": v, "meta": {"success": v is not None}} if v is not None else {"meta": {}}
        for v in values
    ]
    return SimpleNamespace(
        superseded_by=None,
        data={"run_info": {"formulation": actual}, "degradationEOL": cells},
        parameters=request_parameters(eol_config(), 0.2, 0.05),
        request_id="r1",
        created_at=None,
    )


def test_a_workflow_result_is_the_mean_log_life_of_its_cells_where_mixed() -> None:
    obs = _observation(WORKFLOW, _result([100, 400, None]), eol_config())
    assert obs is not None
    assert obs.value == pytest.approx(math.log(200))  # ln of the geometric mean, failed cell out
    assert (obs.x_ec, obs.x_li) == (pytest.approx(0.3), pytest.approx(0.09))  # what was mixed


def test_a_workflow_result_without_cells_is_no_data() -> None:
    assert _observation(WORKFLOW, _result([]), eol_config()) is None


def test_a_batch_accounts_for_pending_requests_and_its_own_picks() -> None:
    cfg = eol_config(budget=30, n_initial=3)
    rng = np.random.default_rng(4)
    state = State()
    for x_ec, x_li in chemistry.candidates(
        rng, n=12, temperature=cfg.temperature, limitations=[{"formulation": FORMULATION_LIMITS}]
    )[:8]:
        life = 300 * math.exp(-(((x_ec - 0.4) / 0.2) ** 2) - ((x_li - 0.09) / 0.04) ** 2)
        state.observations.append(
            Observation(WORKFLOW, x_ec, x_li, cfg.temperature, math.log(life), "r")
        )
    state.posted = 8
    limits = [{"formulation": FORMULATION_LIMITS}]
    picks, _ = propose(cfg, state, 3, limitations=limits)
    x = chemistry.features(*np.array(picks).T, cfg.temperature)
    gaps = [np.linalg.norm(x[i] - x[j]) for i in range(3) for j in range(i)]
    assert min(gaps) > MIN_SPACING
    # The first pick, once posted and pending, is not proposed again.
    first = picks[0]
    state.outstanding = [
        SimpleNamespace(parameters={WORKFLOW.method: request_parameters(cfg, *first)})
    ]
    again, _ = propose(cfg, state, 1, limitations=limits)
    x_first = chemistry.features(first[0], first[1], cfg.temperature)
    x_again = chemistry.features(again[0][0], again[0][1], cfg.temperature)
    assert np.linalg.norm(x_again - x_first) > MIN_SPACING
