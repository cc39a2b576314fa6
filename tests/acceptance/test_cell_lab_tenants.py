"""The cell lab of the second demonstrator (AutoBASS, cycler, courier, degradation model)
serving real requests through a real broker, on SQLite and PostgreSQL.

Each test registers the built-in capabilities it needs, posts requests in the capability
library's format and lets the simulated tenants serve them (``run_once``, or a thread where
jobs must overlap). Lab time is scaled; durations are checked as lower bounds only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema
import pytest
from typer.testing import CliRunner

from finales import capabilities
from finales.capabilities import examples
from finales.cli import app
from finales.domain.principals import Role
from finales.lab import ASAB, AutoBASS, Courier, Cycler, LabClock, cycle_life
from finales.lab.composition import Composition
from finales.lab.degradation import DegradationModel
from finales.testing import LocalBroker

CAPABILITIES = [
    ("cell_assembly", "autobass_assembly"),
    ("cycling_channel", "service"),
    ("capacity", "cycling"),
    ("degradationEOL", "degradation_model"),
    ("transport", "transport_service"),
    ("electrolyte", "flow"),
    ("conductivity", "two_electrode"),  # ASAB serves these too
    ("density", "vibrating_tube_densimetry"),
]
TENANTS = ("AutoBASS", "cycler", "degradation_model", "transport", "ASAB")
FAST = LabClock(scale=0.001 / 3600)  # a lab hour in 1 ms


@dataclass
class CellLab:
    broker: LocalBroker
    keys: dict[str, str]
    admin: httpx.Client

    def request(self, quantity: str, method: str, parameters: dict[str, Any]) -> str:
        body = {"quantity": quantity, "methods": [method], "parameters": {method: parameters}}
        r = self.admin.post("/requests", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def status(self, request_id: str) -> str:
        return str(self.admin.get(f"/requests/{request_id}").json()["status"])

    def data(self, request_id: str) -> dict[str, Any]:
        items = self.admin.get("/results", params={"request_id": request_id}).json()["items"]
        assert len(items) == 1, items
        data: dict[str, Any] = items[0]["data"]
        return data

    def options(self, who: str) -> dict[str, Any]:
        return {"server": self.broker.url, "api_key": self.keys[who], "poll_s": 0.5}


@pytest.fixture
def cell_lab(broker: LocalBroker) -> CellLab:
    for quantity, method in CAPABILITIES:
        cap = capabilities.get(quantity, method)
        broker.add_capability(quantity, method, cap.request_schema(), cap.result_schema())
    keys = {"admin": broker.add_user("admin", role=Role.ADMIN)}
    for name in TENANTS:
        tid = broker.add_tenant(name)
        keys[name] = broker.add_user(f"bot-{name}", role=Role.TENANT, tenant_id=tid)
    admin = broker.http({"Authorization": f"Bearer {keys['admin']}"})
    return CellLab(broker, keys, admin)


def valid(quantity: str, method: str, data: dict[str, Any]) -> None:
    jsonschema.validate(data, capabilities.result_schema(quantity, method))


def electrolyte(molality: float = 1.1, w_ec: float = 0.3) -> list[dict[str, Any]]:
    return Composition.from_molality(molality, w_ec).to_formulation()


def assembly(cells: int, *, vial: str = "ELYT-1", molality: float = 1.1) -> dict[str, Any]:
    cell = examples.cell()
    cell["battery_chemistry"]["electrolyte"] = electrolyte(molality)
    info = examples.cell_info()
    info["electrolyte_info"]["uuid"] = vial
    return {"cell": cell, "cell_info": info, "batch_volume": cells}


def cycling(cell_info: dict[str, Any], reservation: str, cycles: int = 40) -> dict[str, Any]:
    return {
        **examples.EXAMPLES[("capacity", "cycling")]["request"],
        "cell_info": cell_info,
        "reservation_number": reservation,
        "number_cycles": cycles,
    }


def timed(run: Callable[[], Any]) -> float:
    started = time.monotonic()
    run()
    return time.monotonic() - started


def build_cells(lab: CellLab, cells: int, **kw: Any) -> list[dict[str, Any]]:
    rid = lab.request("cell_assembly", "autobass_assembly", assembly(cells, **kw))
    robot = AutoBASS(seed=1, clock=FAST, failure_rate=(0.0, 0.0), **lab.options("AutoBASS"))
    assert robot.run_once().handled == 1
    return [entry["cell_info"] for entry in lab.data(rid)["batch_output"]]


def reserve(lab: CellLab, cycler: Cycler, channels: int) -> dict[str, Any]:
    rid = lab.request("cycling_channel", "service", {"number_required_channels": channels})
    assert cycler.run_once().handled == 1
    data = lab.data(rid)
    valid("cycling_channel", "service", data)
    return data


# ------------------------------------------------------------------------------ AutoBASS


def test_autobass_builds_a_batch_with_ids_and_reports_failed_cells(cell_lab: CellLab) -> None:
    rid = cell_lab.request("cell_assembly", "autobass_assembly", assembly(64))
    clock = LabClock(scale=0.02 / 3600)  # 64 cells x >= 2.9 min >= 3.1 lab hours >= 62 ms
    robot = AutoBASS(seed=4, clock=clock, failure_rate=(0.1, 0.1), **cell_lab.options("AutoBASS"))
    elapsed = timed(robot.run_once)
    assert elapsed >= 64 * 2.9 / 60 * 0.02
    data = cell_lab.data(rid)
    valid("cell_assembly", "autobass_assembly", data)
    batch = data["batch_output"]
    assert len(batch) == 64
    ids = {entry["cell_info"]["uuid"] for entry in batch}
    assert len(ids) == 64 and all(
        entry["cell_info"]["batch"] == data["batch_id"] for entry in batch
    )
    failed = [entry for entry in batch if not entry["meta"]["success"]]
    assert 1 <= len(failed) <= 20  # 10 % of 64
    for entry in failed:
        assert entry["meta"]["rating"] == 0
        assert entry["cell_info"]["cell_location"]["detail_1"] == "reject tray"
    volumes = [entry["cell"]["electrolyte_volume"] for entry in batch]
    assert all(30 < v < 40 for v in volumes) and len(set(volumes)) > 10


def test_autobass_draws_the_electrolyte_from_the_vial_asab_filled(cell_lab: CellLab) -> None:
    flow = {"electrolyte": {"formulation": electrolyte(1.0)}, "volume": 1.0}
    flow_id = cell_lab.request("electrolyte", "flow", flow)
    assert ASAB(seed=1, clock=FAST, **cell_lab.options("ASAB")).run_once().handled == 1
    vial = cell_lab.data(flow_id)["run_info"]["formulation_info"]["uuid"]
    rid = cell_lab.request("cell_assembly", "autobass_assembly", assembly(30, vial=vial))
    robot = AutoBASS(seed=2, clock=FAST, failure_rate=(0.0, 0.0), **cell_lab.options("AutoBASS"))
    assert robot.run_once().handled == 1
    batch = cell_lab.data(rid)["batch_output"]
    built = [e for e in batch if e["meta"]["success"]]
    dry = [e for e in batch if not e["meta"]["success"]]
    # about 1 mL less 100 µL of dead volume, 35 µL per cell: 25 cells, then the vial is dry
    assert 23 <= len(built) <= 27 and batch[-1] in dry
    assert all("no electrolyte left" in e["cell_info"]["cell_location"]["detail_2"] for e in dry)
    left = robot.vial_left_ul(vial)
    assert left is not None and 0 <= left < 40


# ------------------------------------------------------------------------------ cycler


class ManualClock(LabClock):
    """Lab time that passes only when the test says so (jobs take no real time)."""

    def __init__(self) -> None:
        super().__init__(scale=0)
        self.lab_s = 0.0

    def now(self) -> float:
        return self.lab_s


def test_cycler_reserves_usable_channels_and_unused_reservations_expire(
    cell_lab: CellLab,
) -> None:
    clock = ManualClock()
    cycler = Cycler(seed=1, clock=clock, reservation_hold_h=2, **cell_lab.options("cycler"))
    first = reserve(cell_lab, cycler, 20)
    assert first["success"] and first["reservation_id"]
    assert cycler.free_channels == 4
    assert reserve(cell_lab, cycler, 10) == {"success": False}
    clock.lab_s += 1.9 * 3600
    assert cycler.free_channels == 4  # still held
    clock.lab_s += 0.2 * 3600  # more than two lab hours without use
    assert cycler.free_channels == 24
    assert reserve(cell_lab, cycler, 24)["success"]
    too_many = cell_lab.request("cycling_channel", "service", {"number_required_channels": 25})
    assert cycler.run_once().handled == 0
    assert cell_lab.status(too_many) == "pending"  # 64 channels, only 24 usable: not offered


def test_cycler_posts_forty_cycles_and_features_per_cell_after_six_to_seven_days(
    cell_lab: CellLab,
) -> None:
    cells = build_cells(cell_lab, 3)
    scale_per_hour = 0.004
    cycler = Cycler(
        seed=2,
        clock=LabClock(scale=scale_per_hour / 3600),
        fault_rate_per_cycle=0.0,
        **cell_lab.options("cycler"),
    )
    reservation = reserve(cell_lab, cycler, 3)["reservation_id"]
    ids = [cell_lab.request("capacity", "cycling", cycling(c, reservation)) for c in cells]
    elapsed = timed(cycler.run_once)
    assert elapsed >= 6 * 24 * scale_per_hour  # >= 6 lab days, the cells in parallel
    channels = set()
    for rid, cell in zip(ids, cells, strict=True):
        data = cell_lab.data(rid)
        valid("capacity", "cycling", data)
        assert data["cell_info"]["uuid"] == cell["uuid"]
        assert len(data["capacity_list"]) == 80  # charge and discharge of 40 cycles, in Ah
        charge, discharge = data["capacity_list"][0::2], data["capacity_list"][1::2]
        assert all(0.0012 < q < 0.0017 for q in discharge)
        assert all(c > d for c, d in zip(charge, discharge, strict=True))  # CE below 1
        for name in cycle_life.FEATURE_NAMES:
            assert isinstance(data[name], float)
        assert -14 < data["capacity_vector_variance"] < -4
        channels.update(data["channel_list"])
    assert len(channels) == 3 and channels <= set(range(64))
    assert cycler.free_channels == 24  # used channels go back to the pool


def test_a_channel_fault_loses_the_cell_and_says_so(cell_lab: CellLab) -> None:
    cells = build_cells(cell_lab, 2)
    cycler = Cycler(seed=3, clock=FAST, fault_rate_per_cycle=0.2, **cell_lab.options("cycler"))
    reservation = reserve(cell_lab, cycler, 2)["reservation_id"]
    ids = [cell_lab.request("capacity", "cycling", cycling(c, reservation)) for c in cells]
    assert cycler.run_once().handled == 2
    for rid in ids:
        data = cell_lab.data(rid)
        valid("capacity", "cycling", data)
        assert len(data["capacity_list"]) < 80
        assert data.get("capacity_vector_variance") is None
        assert data["cell_info"]["cell_location"]["detail_2"].startswith("lost: channel")


def test_cycler_without_a_channel_gives_the_request_back(cell_lab: CellLab) -> None:
    cells = build_cells(cell_lab, 1)
    cycler = Cycler(seed=3, clock=FAST, reservation_hold_h=1e6, **cell_lab.options("cycler"))
    assert reserve(cell_lab, cycler, 24)["success"]
    rid = cell_lab.request("capacity", "cycling", cycling(cells[0], "no-such-reservation"))
    stats = cycler.run_once()
    assert stats.handled == 0 and cell_lab.status(rid) == "pending"
    history = cell_lab.admin.get(f"/requests/{rid}/history").json()
    assert "none is free" in str(history)


# ------------------------------------------------------------------------------ degradation


def degradation_request(cell: cycle_life.SimulatedCell) -> dict[str, Any]:
    return {
        **examples.degradation_input(),
        "input_cycles": [1.5, 1.49, 1.49],
        **cell.features,
    }


def test_the_degradation_model_predicts_with_uncertainty_and_retrains_on_full_life_data(
    cell_lab: CellLab,
) -> None:
    simulated = cycle_life.simulate_early_cells(cycle_life.random_compositions(8, 77), 77)
    cell = next(c for c in simulated if c.cycle_life > 80)
    model = DegradationModel(seed=1, clock=FAST, **cell_lab.options("degradation_model"))
    first = cell_lab.request("degradationEOL", "degradation_model", degradation_request(cell))
    assert model.run_once().handled == 1
    data = cell_lab.data(first)
    valid("degradationEOL", "degradation_model", data)
    eol = data["degradationEOL"]
    assert eol["end_of_life"] == pytest.approx(cell.cycle_life, rel=0.35)
    assert 0.04 * eol["end_of_life"] < eol["end_of_life_uncertainty"] < 0.3 * eol["end_of_life"]
    assert eol["meta"] == {"success": True, "rating": 3}
    trajectory = eol["capacity_trajectory"]
    assert len(trajectory) == eol["end_of_life"] - 3
    assert trajectory[-1] == pytest.approx(0.8 * 1.5, rel=0.01)
    version, cells = model.model.version, model.model.training_cells

    # A cell cycled to its end of life: full-life data the model learns from.
    built = build_cells(cell_lab, 1, molality=1.0)
    cycler = Cycler(seed=5, clock=FAST, fault_rate_per_cycle=0.0, **cell_lab.options("cycler"))
    reservation = reserve(cell_lab, cycler, 1)["reservation_id"]
    cycled = cell_lab.request("capacity", "cycling", cycling(built[0], reservation, 3000))
    assert cycler.run_once().handled == 1
    discharge = cell_lab.data(cycled)["capacity_list"][1::2]
    assert discharge[-1] <= 0.8 * discharge[0] and len(discharge) < 3000

    second = cell_lab.request("degradationEOL", "degradation_model", degradation_request(cell))
    assert model.run_once().handled == 1
    assert (model.model.version, model.model.training_cells) == (version + 1, cells + 1)
    reference = cell_lab.data(second)["run_info"]["internal_reference"]
    assert reference.startswith(f"eol-model-v{version + 1}-")


def test_an_end_of_life_already_in_the_input_is_reported_as_observed(cell_lab: CellLab) -> None:
    parameters = {**examples.degradation_input(), "input_cycles": [1.5, 1.4, 1.3, 1.19, 1.1]}
    rid = cell_lab.request("degradationEOL", "degradation_model", parameters)
    model = DegradationModel(seed=1, clock=FAST, **cell_lab.options("degradation_model"))
    assert model.run_once().handled == 1
    eol = cell_lab.data(rid)["degradationEOL"]
    assert (eol["end_of_life"], eol["end_of_life_uncertainty"]) == (4, 0.0)
    assert eol["meta"]["rating"] == 5


# ------------------------------------------------------------------------------ transport


def test_the_courier_takes_the_travel_time_and_delivers(cell_lab: CellLab) -> None:
    asab = {"address": "KIT", "detail_1": "ASAB", "detail_2": "Vial 3"}
    glovebox = {"address": "KIT", "detail_1": "AutoBASS glovebox", "detail_2": "tray 1"}
    rid = cell_lab.request(
        "transport", "transport_service", {"origin": asab, "destination": glovebox}
    )
    scale_per_hour = 1.0
    courier = Courier(
        seed=1, clock=LabClock(scale=scale_per_hour / 3600), **cell_lab.options("transport")
    )
    elapsed = timed(courier.run_once)
    assert elapsed >= (20 + 5) * 0.8 / 60 * scale_per_hour  # 20 min walk + 5 min handling, -20 %
    data = cell_lab.data(rid)
    valid("transport", "transport_service", data)
    assert data["success"] is True and data["actual_new_location"] == glovebox
    assert data["executant"].startswith("courier")


# ------------------------------------------------------------------------------ together


def test_the_cell_lab_runs_together_from_vial_to_prediction(cell_lab: CellLab) -> None:
    clock = LabClock(scale=0.002 / 3600)
    tenants = [
        ASAB(seed=1, clock=clock, **cell_lab.options("ASAB")),
        Courier(seed=1, clock=clock, **cell_lab.options("transport")),
        AutoBASS(seed=1, clock=clock, failure_rate=(0.0, 0.0), **cell_lab.options("AutoBASS")),
        Cycler(seed=1, clock=clock, fault_rate_per_cycle=0.0, **cell_lab.options("cycler")),
        DegradationModel(seed=1, clock=clock, **cell_lab.options("degradation_model")),
    ]
    kwargs = {"handle_signals": False, "configure_logging": False}
    threads = [threading.Thread(target=t.run, kwargs=kwargs) for t in tenants]
    for thread in threads:
        thread.start()

    def served(quantity: str, method: str, parameters: dict[str, Any]) -> dict[str, Any]:
        rid = cell_lab.request(quantity, method, parameters)
        deadline = time.monotonic() + 60
        while cell_lab.status(rid) != "resolved":
            assert time.monotonic() < deadline, (quantity, cell_lab.status(rid))
            time.sleep(0.05)
        return cell_lab.data(rid)

    try:
        flow = served(
            "electrolyte", "flow", {"electrolyte": {"formulation": electrolyte()}, "volume": 1.0}
        )
        vial = flow["electrolyte"]["location"]
        autobass = {"address": "KIT", "detail_1": "AutoBASS"}
        served("transport", "transport_service", {"origin": vial, "destination": autobass})
        uuid = flow["run_info"]["formulation_info"]["uuid"]
        batch = served("cell_assembly", "autobass_assembly", assembly(2, vial=uuid))
        cell = batch["batch_output"][0]
        reservation = served("cycling_channel", "service", {"number_required_channels": 2})
        cycled = served(
            "capacity", "cycling", cycling(cell["cell_info"], reservation["reservation_id"])
        )
        features = {k: cycled[k] for k in cycle_life.FEATURE_NAMES}
        discharge_mah = [1000 * q for q in cycled["capacity_list"][1::2]]
        prediction = served(
            "degradationEOL",
            "degradation_model",
            {
                "battery_chemistry": cell["cell"]["battery_chemistry"],
                "cell_info": cell["cell_info"],
                "input_cycles": discharge_mah,
                **features,
            },
        )
    finally:
        for t in tenants:
            t.stop()
        for thread in threads:
            thread.join(timeout=20)
    cycler = Cycler(seed=1, clock=clock, **cell_lab.options("cycler"))
    truth = cycler.cell_truth(cell["cell_info"]["uuid"])
    cycler.close()
    assert truth.composition == Composition.from_formulation(
        cell["cell"]["battery_chemistry"]["electrolyte"]
    )
    assert prediction["degradationEOL"]["end_of_life"] == pytest.approx(truth.eol, rel=0.4)


def test_finales_tenant_run_serves_the_module_level_cycler(cell_lab: CellLab) -> None:
    rid = cell_lab.request("cycling_channel", "service", {"number_required_channels": 2})
    env = {"FINALES_LAB_SEED": "4", "FINALES_LAB_TIME_SCALE": "0"}
    args = ["tenant", "run", "finales.lab.cycler:tenant", "--server", cell_lab.broker.url]
    result = CliRunner().invoke(
        app, [*args, "--api-key", cell_lab.keys["cycler"], "--until-idle"], env=env
    )
    assert result.exit_code == 0, (result.output, result.exception)
    assert cell_lab.data(rid)["success"] is True


@pytest.mark.parametrize("module", ["autobass", "cycler", "transport", "degradation"])
def test_each_module_exposes_a_tenant_for_the_cli(module: str) -> None:
    imported = __import__(f"finales.lab.{module}", fromlist=["tenant"])
    assert imported.tenant.services, module  # built at import, without a broker


# ------------------------------------------------------------------------------ reproducibility


def _post(lab: CellLab, parameters: dict[str, Any], **extra: Any) -> str:
    method = "autobass_assembly"
    body = {"quantity": "cell_assembly", "methods": [method], "parameters": {method: parameters}}
    r = lab.admin.post("/requests", json={**body, **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _batch(lab: CellLab, request_id: str) -> tuple[str, list[str]]:
    data = lab.data(request_id)
    return data["batch_id"], [c["cell_info"]["uuid"] for c in data["batch_output"]]


def _fresh_autobass(lab: CellLab) -> AutoBASS:
    """A new robot with the same seed: what a second run of the campaign would start."""
    return AutoBASS(seed=1, clock=FAST, **lab.options("AutoBASS"))


def test_an_outcome_follows_the_request_s_place_in_the_campaign_not_its_id(
    cell_lab: CellLab,
) -> None:
    """Two runs of one campaign: each run's requests get new random ids from the broker, yet
    the same request draws the same cells. A workflow step is keyed by its parent and its
    step, index and attempt; a request of its own by what it asks and how many identical ones
    came before it."""
    parent = examples.EXAMPLES[("degradationEOL", "degradation_model")]["request"]

    def child(parent_id: str, attempt: int) -> str:
        labels = {"workflow": "eol", "workflow_step": "assemble", "index": "0"}
        return _post(
            cell_lab,
            assembly(4),
            parent_request_id=parent_id,
            labels={**labels, "attempt": str(attempt)},
        )

    first_run = child(cell_lab.request("degradationEOL", "degradation_model", parent), 1)
    assert _fresh_autobass(cell_lab).run_once().handled == 1
    second_parent = cell_lab.request("degradationEOL", "degradation_model", parent)
    second_run, retried = child(second_parent, 1), child(second_parent, 2)
    assert _fresh_autobass(cell_lab).run_once().handled == 2
    assert _batch(cell_lab, second_run) == _batch(cell_lab, first_run)  # same place, same cells
    assert _batch(cell_lab, retried)[0] != _batch(cell_lab, first_run)[0]  # attempt 2: new draw

    # Requests of their own: identical ones are repeats (new samples), counted per robot.
    alone = [_post(cell_lab, assembly(4)) for _ in range(2)]
    assert _fresh_autobass(cell_lab).run_once().handled == 2
    assert _batch(cell_lab, alone[0])[0] != _batch(cell_lab, alone[1])[0]
    again = _post(cell_lab, assembly(4))
    assert _fresh_autobass(cell_lab).run_once().handled == 1
    assert _batch(cell_lab, again) == _batch(cell_lab, alone[0])  # the first of its kind again
