"""The optimiser drives the end-of-life campaign through a real broker: it posts a batch of
``degradationEOL / degradation_workflow`` requests inside what ASAB can mix, the orchestrator
runs ``examples/workflows/eol.yaml`` over the simulated cell lab, and the optimiser reads one
value per request from the per-cell predictions."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from finales.domain.limitations import matches
from finales.domain.principals import Role
from finales.lab.asab import ASAB
from finales.optimizer import Optimizer, OptimizerConfig, chemistry
from finales.optimizer.optimizer import State, propose
from finales.testing import LocalBroker
from tests.conftest import require_botorch
from tests.unit.test_optimizer_eol import eol_config as unit_eol_config

from .test_eol_workflow import eol_lab

__all__ = ["eol_lab"]  # the fixture: the whole simulated cell lab and the orchestrator


def eol_config(**overrides: Any) -> OptimizerConfig:
    """The campaign's configuration (the unit tests' one) with a short poll."""
    return unit_eol_config(**{"poll_s": 0.5, **overrides})


def _optimiser_tenant(broker: LocalBroker) -> tuple[str, str]:
    tenant_id = broker.add_tenant("optimiser")
    return tenant_id, broker.add_user("bot-optimiser", role=Role.TENANT, tenant_id=tenant_id)


def _wait_for_offers(optimiser: Optimizer) -> None:
    deadline = time.monotonic() + 30
    while not optimiser.limitations() and time.monotonic() < deadline:
        time.sleep(0.1)  # ASAB's runner registers its offers in its own thread


def test_the_optimiser_posts_a_batch_of_cell_tests_and_reads_their_lives(
    eol_lab: tuple[LocalBroker, dict[str, str]],
) -> None:
    broker, _ = eol_lab
    _, key = _optimiser_tenant(broker)
    config = eol_config(budget=3)
    with broker.client(api_key=key) as client:
        optimiser = Optimizer(config, client)
        _wait_for_offers(optimiser)
        first = optimiser.step()
        assert len(first.posted) == 3  # one whole batch
        assert optimiser.step().posted == []  # nothing more until the budget's results are in
        requests = [client.get_request(rid) for rid in first.posted]
        outcome = optimiser.run(max_steps=300)
        state = optimiser.read_state()
        results = {rid: client.wait_for_results(rid, timeout_s=5)[0] for rid in first.posted}
    limits = ASAB.formulation_limitations()
    for req in requests:
        block = req.parameters["degradation_workflow"]
        electrolyte = block["battery_chemistry"]["electrolyte"]
        assert matches({"formulation": electrolyte}, {"formulation": limits})
    assert outcome.done and outcome.reason == "budget"
    # One observation per request with predictions: the mean ln EOL of its cells, at the
    # composition ASAB reported.
    by_request = {o.request_id: o for o in state.observations}
    for rid, result in results.items():
        lives = [p["end_of_life"] for p in result.data["degradationEOL"]]
        if not lives:
            assert rid not in by_request
            continue
        obs = by_request[rid]
        assert obs.value == pytest.approx(math.fsum(math.log(v) for v in lives) / len(lives))
        mixed = chemistry.fractions(result.data["run_info"]["formulation"])
        assert mixed is not None and obs.x_ec == mixed["EC"]
    assert by_request
    assert outcome.best == pytest.approx(max(math.exp(o.value) for o in state.observations))


def test_botorch_chooses_the_second_batch_from_the_first_batchs_lives(
    eol_lab: tuple[LocalBroker, dict[str, str]],
) -> None:
    """``acquisition = "botorch"`` through the broker and the whole cell lab: a random first
    batch, then the batch BoTorch's qLogNEI chooses from what the broker holds of the first
    (recomputed here from the broker's records: the same compositions, to the 5 digits sent)."""
    require_botorch()
    broker, _ = eol_lab
    tenant_id, key = _optimiser_tenant(broker)
    config = eol_config(budget=6, acquisition="botorch")
    with broker.client(api_key=key) as client:
        optimiser = Optimizer(config, client)
        _wait_for_offers(optimiser)
        outcome = optimiser.run(max_steps=600)
        limitations = optimiser.limitations()
        state = optimiser.read_state()
        requests = sorted(
            client.iter_requests(tenant=tenant_id, quantity=config.quantity),
            key=lambda r: r.created_at,
        )
    assert outcome.done and outcome.reason == "budget"
    assert len(requests) == 6
    first_ids = {r.id for r in requests[:3]}
    before = State(
        posted=3, observations=[o for o in state.observations if o.request_id in first_ids]
    )
    assert len(before.observations) >= config.n_initial  # else the second batch is random too
    expected, _ = propose(config, before, 3, limitations=limitations)
    posted = []
    for req in requests[3:]:
        electrolyte = req.parameters["degradation_workflow"]["battery_chemistry"]["electrolyte"]
        fr = chemistry.fractions(electrolyte)
        assert fr is not None
        posted.append((fr["EC"], fr["LiPF6"]))
    for (x_ec, x_li), (e_ec, e_li) in zip(posted, expected, strict=True):
        assert x_ec == pytest.approx(e_ec, abs=2e-5) and x_li == pytest.approx(e_li, abs=2e-5)
    believer = config.model_copy(update={"acquisition": "kriging-believer"})
    assert propose(believer, before, 3, limitations=limitations)[0] != expected
