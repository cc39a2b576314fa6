"""The optimiser against a real broker (SQLite) and a tiny measuring tenant.

The tenant, written with ``finales.tenant``, serves ``conductivity / two_electrode`` inside
ASAB-like limitations and answers with a known analytic conductivity; a second tenant posts
unsolicited, biased "simulation" data the optimiser reads too. The optimiser talks to the broker
only through its ``FinalesClient``.
"""

from __future__ import annotations

import copy
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from finales import capabilities
from finales.capabilities import EXAMPLES
from finales.capabilities.examples import EC, EMC, LIPF6
from finales.client import FinalesClient
from finales.domain.limitations import matches
from finales.domain.principals import Role
from finales.optimizer import Optimizer, OptimizerConfig
from finales.optimizer.__main__ import main
from finales.optimizer.chemistry import fractions
from finales.tenant import Tenant
from finales.testing import LocalBroker

T_K = 299.65
QUANTITY = "conductivity"
METHODS = ("two_electrode", "molecular_dynamics", "polynomial_interpolation")
LIMITS = {
    "formulation": [
        {"chemical": dict(LIPF6), "fraction": {"min": 0, "max": 0.12}},
        {"chemical": dict(EC), "fraction": {"min": 0, "max": 0.54}},
        {"chemical": dict(EMC), "fraction": {"min": 0.4, "max": 1}},
    ],
    "temperature": {"min": 290, "max": 310},
}


def conductivity(x_ec: float, x_li: float) -> float:
    """Known analytic ground truth (S/m): a bump at x_EC = 0.3, x_LiPF6 = 0.08."""
    return float(0.95 * np.exp(-(((x_ec - 0.3) / 0.25) ** 2) - ((x_li - 0.08) / 0.05) ** 2))


def result_data(formulation: list[dict[str, Any]], value: float) -> dict[str, Any]:
    data = copy.deepcopy(EXAMPLES[(QUANTITY, "two_electrode")]["result"])
    data["run_info"]["formulation"] = formulation
    data["conductivity"] = {
        "values": [value],
        "meta": {"success": True, "rating": 4},
        "temperature": T_K,
    }
    return data


@dataclass
class Campaign:
    broker: LocalBroker
    robot: Tenant
    optimizer_key: str
    optimizer_id: str
    md_key: str
    admin: FinalesClient

    def client(self) -> FinalesClient:
        return FinalesClient(self.broker.url, api_key=self.optimizer_key)

    def own_requests(self) -> list[Any]:
        return list(self.admin.iter_requests(tenant=self.optimizer_id))

    def outstanding(self) -> int:
        return sum(r.status in ("pending", "reserved") for r in self.own_requests())


@pytest.fixture
def campaign(sqlite_template: Path, tmp_path: Path) -> Iterator[Campaign]:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(sqlite_template, home / "finales.db")
    with LocalBroker(home) as broker:
        for method in METHODS:
            cap = capabilities.get(QUANTITY, method)
            broker.add_capability(QUANTITY, method, cap.request_schema(), cap.result_schema())
        offers = [{"quantity": QUANTITY, "method": "two_electrode", "limitations": LIMITS}]
        robot_id = broker.add_tenant("robot", offers)
        robot_key = broker.add_user("bot-robot", role=Role.TENANT, tenant_id=robot_id)
        opt_id = broker.add_tenant("optimizer")
        opt_key = broker.add_user("bot-optimizer", role=Role.TENANT, tenant_id=opt_id)
        md_offers = [{"quantity": QUANTITY, "method": "molecular_dynamics", "limitations": {}}]
        md_id = broker.add_tenant("md", md_offers)
        md_key = broker.add_user("bot-md", role=Role.TENANT, tenant_id=md_id)
        admin = FinalesClient(broker.url, api_key=broker.add_user("admin", role=Role.ADMIN))

        robot = Tenant("robot", server=broker.url, api_key=robot_key, poll_s=0.2)

        @robot.serves(QUANTITY, "two_electrode", limitations=LIMITS)
        def measure(request: Any, ctx: Any) -> dict[str, Any]:
            formulation = ctx.parameters["formulation"]
            fr = fractions(formulation)
            assert fr is not None
            return result_data(formulation, conductivity(fr["EC"], fr["LiPF6"]))

        try:
            yield Campaign(broker, robot, opt_key, opt_id, md_key, admin)
        finally:
            admin.close()


def config(**overrides: Any) -> OptimizerConfig:
    base: dict[str, Any] = {
        "request_methods": ["two_electrode"],
        "data": [{"quantity": QUANTITY, "method": m} for m in METHODS],
        "temperature": T_K,
        "budget": 8,
        "max_outstanding": 3,
        "n_initial": 3,
        "n_candidates": 800,
        "seed": 7,
        "poll_s": 0.5,
    }
    return OptimizerConfig(**(base | overrides))


def assert_inside_limits(requests: list[Any]) -> None:
    for req in requests:
        params = req.parameters["two_electrode"]
        assert matches(params, LIMITS), params
        total = sum(c["fraction"] for c in params["formulation"])
        assert total == pytest.approx(1.0, abs=1e-9)


def test_campaign_stays_inside_limits_and_outstanding_limit_and_stops_at_budget(
    campaign: Campaign,
) -> None:
    cfg = config()
    with campaign.client() as client:
        opt = Optimizer(cfg, client)
        for _ in range(30):
            outcome = opt.step()
            assert campaign.outstanding() <= cfg.max_outstanding
            if outcome.done:
                break
            campaign.robot.run_once()
        assert outcome.done and outcome.reason == "budget"
    requests = campaign.own_requests()
    assert len(requests) == cfg.budget
    assert all(r.status == "resolved" for r in requests)
    assert_inside_limits(requests)
    # The GP found a good composition: the optimum is 0.95 S/m.
    assert outcome.best is not None and outcome.best > 0.7


def test_optimizer_resumes_after_being_recreated(campaign: Campaign) -> None:
    cfg = config(budget=5, max_outstanding=2)
    with campaign.client() as client:
        first = Optimizer(cfg, client).step()
        assert len(first.posted) == 2
    # A new process: it sees its two outstanding requests and posts nothing more.
    with campaign.client() as client:
        again = Optimizer(cfg, client)
        assert again.step().posted == []
        assert campaign.outstanding() == 2
        campaign.robot.run_once()
        second = again.step()
        assert len(second.posted) == 2
    with campaign.client() as client:
        third = Optimizer(cfg, client)
        campaign.robot.run_once()
        assert len(third.step().posted) == 1  # budget 5: 2 + 2 + 1
        campaign.robot.run_once()
        final = third.step()
        assert final.done and final.reason == "budget"
    requests = campaign.own_requests()
    assert len(requests) == 5
    assert len({r.id for r in requests}) == 5
    assert_inside_limits(requests)


def test_biased_simulation_data_is_used_and_run_stops(campaign: Campaign) -> None:
    """Unsolicited MD-like data (biased by 0.6) feed the model; run() ends at the budget."""
    with FinalesClient(campaign.broker.url, api_key=campaign.md_key) as poster:
        rng = np.random.default_rng(0)
        for x_ec, x_li in zip(rng.uniform(0.05, 0.5, 6), rng.uniform(0.01, 0.12, 6), strict=True):
            formulation = [
                {
                    "chemical": dict(chem),
                    "fraction": round(float(f), 5),
                    "fraction_type": "molPerMol",
                }
                for chem, f in ((LIPF6, x_li), (EC, x_ec), (EMC, 1 - x_ec - x_li))
            ]
            formulation[2]["fraction"] = round(
                1 - formulation[0]["fraction"] - formulation[1]["fraction"], 5
            )
            data = copy.deepcopy(EXAMPLES[(QUANTITY, "molecular_dynamics")]["result"])
            data["run_info"]["formulation"] = formulation
            data["conductivity"]["values"] = [0.6 * conductivity(x_ec, x_li)]
            params = {"formulation": formulation, "temperature": T_K}
            poster.post_result(
                quantity=QUANTITY, method="molecular_dynamics", parameters=params, data=data
            )
    cfg = config(budget=4, max_outstanding=2, poll_s=0.2)
    with campaign.client() as client:
        opt = Optimizer(cfg, client)
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                campaign.robot.run_once()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            outcome = opt.run()
        finally:
            stop.set()
            thread.join(timeout=20)
        assert outcome.done and outcome.reason == "budget"
        assert opt.model is not None and "conductivity/molecular_dynamics" in opt.model.sources
    assert len(campaign.own_requests()) == 4
    assert_inside_limits(campaign.own_requests())


def test_entry_point_runs_a_configured_campaign(
    campaign: Campaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m finales.optimizer CONFIG`` (called in-process) reads the TOML and stops."""
    path = tmp_path / "optimizer.toml"
    path.write_text(
        'objective = "maximise"\nquantity = "conductivity"\nrequest_methods = ["two_electrode"]\n'
        f"temperature = {T_K}\nbudget = 2\nmax_outstanding = 1\nn_candidates = 300\n"
        "poll_s = 0.2\nseed = 3\n"
    )
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            campaign.robot.run_once()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        code = main(
            [str(path), "--server", campaign.broker.url, "--api-key", campaign.optimizer_key]
        )
    finally:
        stop.set()
        thread.join(timeout=20)
    assert code == 0
    assert "stopped: budget" in capsys.readouterr().out
    assert len(campaign.own_requests()) == 2
