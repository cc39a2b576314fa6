"""The simulated tenants serving real requests through a real broker (SQLite, scaled clock).

Each test starts a ``LocalBroker`` with the built-in capabilities, registers the simulated
tenant and a requester, posts requests in the capability library's format and lets the
tenant serve them with ``run_once``. Lab time is scaled so that a lab hour takes 0.02-0.05 s.
"""

from __future__ import annotations

import random
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from typer.testing import CliRunner

from finales import capabilities
from finales.cli import app
from finales.domain.principals import Role
from finales.lab import ASAB, Courier, LabClock, LowFidelityModel, MolecularDynamics, physics
from finales.lab.asab import CELL_TEMPERATURE_K
from finales.lab.composition import EC_KEY, EMC_KEY, LIPF6_KEY, Composition
from finales.testing import LocalBroker

FAST = LabClock(scale=0.02 / 3600)  # a lab hour in 20 ms
LAB_CAPABILITIES = [
    ("conductivity", "two_electrode"),
    ("conductivity", "molecular_dynamics"),
    ("conductivity", "polynomial_interpolation"),
    ("density", "vibrating_tube_densimetry"),
    ("electrolyte", "flow"),
]
TENANTS = ("ASAB", "molecular_dynamics", "low_fidelity_model")


@dataclass
class LabBroker:
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

    def result(self, request_id: str) -> dict[str, Any]:
        items = self.admin.get("/results", params={"request_id": request_id}).json()["items"]
        assert len(items) == 1, items
        return items[0]  # type: ignore[no-any-return]

    def options(self, who: str) -> dict[str, Any]:
        return {"server": self.broker.url, "api_key": self.keys[who], "poll_s": 0.5}


@pytest.fixture
def sim(sqlite_template: Path, tmp_path: Path) -> Iterator[LabBroker]:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(sqlite_template, home / "finales.db")
    with LocalBroker(home, lease_sweep_s=0.2, long_poll_recheck_s=0.5) as broker:
        for quantity, method in LAB_CAPABILITIES:
            cap = capabilities.get(quantity, method)
            broker.add_capability(quantity, method, cap.request_schema(), cap.result_schema())
        keys = {"admin": broker.add_user("admin", role=Role.ADMIN)}
        for name in TENANTS:
            tid = broker.add_tenant(name)
            keys[name] = broker.add_user(f"bot-{name}", role=Role.TENANT, tenant_id=tid)
        admin = httpx.Client(
            base_url=broker.url + "/api/v1",
            headers={"Authorization": f"Bearer {keys['admin']}"},
            timeout=30,
        )
        yield LabBroker(broker, keys, admin)
        admin.close()


def formulation(x_ec: float, x_emc: float, x_lipf6: float) -> list[dict[str, Any]]:
    return Composition(x_ec, x_emc, x_lipf6).to_formulation()


def measured(x_ec: float = 0.3, x_emc: float = 0.61, x_lipf6: float = 0.09) -> dict[str, Any]:
    return {"formulation": formulation(x_ec, x_emc, x_lipf6), "temperature": 298.15}


def valid(quantity: str, method: str, data: dict[str, Any]) -> None:
    jsonschema.validate(data, capabilities.result_schema(quantity, method))


def reported(data: dict[str, Any]) -> Composition:
    return Composition.from_formulation(data["run_info"]["formulation"])


# ------------------------------------------------------------------------------ ASAB


def test_asab_measures_conductivity_and_density_of_what_it_actually_mixed(
    sim: LabBroker,
) -> None:
    kappa_ids = [sim.request("conductivity", "two_electrode", measured()) for _ in range(3)]
    rho_id = sim.request("density", "vibrating_tube_densimetry", measured(0.4, 0.52, 0.08))
    asab = ASAB(seed=3, clock=FAST, **sim.options("ASAB"))
    stats = asab.run_once()
    assert stats.handled == 4 and stats.failed == 0
    requested = Composition(0.3, 0.61, 0.09)
    for rid in kappa_ids:
        result = sim.result(rid)
        data = result["data"]
        valid("conductivity", "two_electrode", data)
        actual = reported(data)
        assert actual != requested  # the robot never hits the target exactly ...
        assert actual.x_lipf6 == pytest.approx(0.09, rel=0.05)  # ... but comes close
        block = data["conductivity"]
        assert block["temperature"] == pytest.approx(CELL_TEMPERATURE_K, abs=0.5)
        truth = physics.conductivity(actual, block["temperature"])
        assert 0.5 < truth < 1.2  # S/m
        assert len(block["values"]) <= 3
        for value in block["values"]:
            assert value == pytest.approx(truth, rel=0.12)
    data = sim.result(rho_id)["data"]
    valid("density", "vibrating_tube_densimetry", data)
    assert len(data["density"]["values"]) <= 3
    for rho in data["density"]["values"]:
        assert 1.1 < rho < 1.35
    for eta in data["viscosity"]["values"]:
        assert 1.5 < eta < 6.0


def test_asab_repeats_three_times_with_scatter_and_sometimes_fails_a_fit() -> None:
    rng = random.Random(7)
    outcomes = [ASAB._repeats(0.9, 5, rng) for _ in range(600)]
    counts = [len(values) for values, _ in outcomes]
    assert counts.count(3) > 500
    partial = [meta for values, meta in outcomes if 0 < len(values) < 3]
    failed = [meta for values, meta in outcomes if not values]
    assert partial and all(meta["rating"] <= 2 and meta["success"] for meta in partial)
    assert failed and all(meta == {"success": False, "rating": 0} for meta in failed)
    full = [values for values, _ in outcomes if len(values) == 3]
    spreads = [(max(v) - min(v)) / 0.9 for v in full]
    assert 0.005 < sorted(spreads)[len(spreads) // 2] < 0.08


def test_asab_is_only_handed_what_its_stock_solutions_reach(sim: LabBroker) -> None:
    too_salty = sim.request("conductivity", "two_electrode", measured(0.3, 0.5, 0.2))
    too_much_ec = sim.request("conductivity", "two_electrode", measured(0.7, 0.25, 0.05))
    fine = sim.request("conductivity", "two_electrode", measured(0.25, 0.65, 0.1))
    stats = ASAB(seed=1, clock=FAST, **sim.options("ASAB")).run_once()
    assert stats.handled == 1
    assert sim.status(fine) == "resolved"
    assert sim.status(too_salty) == sim.status(too_much_ec) == "pending"


def test_asab_flow_fills_one_of_its_vials_and_refuses_when_they_are_full(sim: LabBroker) -> None:
    flow = {"electrolyte": {"formulation": formulation(0.3, 0.61, 0.09)}, "volume": 2.5}
    ids = [sim.request("electrolyte", "flow", flow) for _ in range(3)]
    asab = ASAB(seed=2, clock=FAST, vials=2, **sim.options("ASAB"))
    stats = asab.run_once()
    assert stats.handled == 2 and stats.failed == 1 and asab.free_vials == 0
    resolved = [rid for rid in ids if sim.status(rid) == "resolved"]
    vials = set()
    for rid in resolved:
        data = sim.result(rid)["data"]
        valid("electrolyte", "flow", data)
        vials.add(data["electrolyte"]["location"]["detail_2"])
        assert data["electrolyte"]["volume"] == pytest.approx(2.5, rel=0.05)
    assert {v.split(":")[0] for v in vials} == {"Vial 1", "Vial 2"}
    # Each vial is labelled with what it holds: the slot and the electrolyte's reference.
    assert vials == {
        f"Vial {i}: {sim.result(rid)['data']['run_info']['internal_reference']}"
        for i, rid in zip((1, 2), sorted(resolved, key=lambda r: vial_of(sim, r)), strict=True)
    }
    asab.collect(1)
    assert asab.free_vials == 1
    assert ASAB(seed=2, clock=FAST).free_vials == 8


def vial_of(sim: LabBroker, request_id: str) -> str:
    return str(sim.result(request_id)["data"]["electrolyte"]["location"]["detail_2"])


def test_asab_frees_a_vial_once_a_courier_has_carried_it_away(sim: LabBroker) -> None:
    """ASAB's rack is full: of two trips from it, one is lost on the way (the vial stays)
    and one arrives; the next electrolyte goes into the slot the arrived vial left."""
    cap = capabilities.get("transport", "transport_service")
    sim.broker.add_capability(
        "transport", "transport_service", cap.request_schema(), cap.result_schema()
    )
    courier_key = sim.broker.add_user(
        "bot-transport", role=Role.TENANT, tenant_id=sim.broker.add_tenant("transport")
    )
    flow = {"electrolyte": {"formulation": formulation(0.3, 0.61, 0.09)}, "volume": 2.5}
    filled = [sim.request("electrolyte", "flow", flow) for _ in range(2)]
    asab = ASAB(seed=2, clock=FAST, vials=2, **sim.options("ASAB"))
    assert asab.run_once().handled == 2 and asab.free_vials == 0
    where = {vial_of(sim, rid).split(":")[0]: rid for rid in filled}
    to_autobass = {"address": "KIT", "detail_1": "AutoBASS", "detail_2": "electrolyte port"}
    for vial in ("Vial 1", "Vial 2"):  # the first trip is lost, the second arrives
        origin = sim.result(where[vial])["data"]["electrolyte"]["location"]
        sim.request(
            "transport", "transport_service", {"origin": origin, "destination": to_autobass}
        )
    courier = Courier(seed=1, clock=FAST, lose_next=1, server=sim.broker.url, api_key=courier_key)
    assert courier.run_once().handled == 2 and courier.lost == 1

    third = sim.request("electrolyte", "flow", flow)
    assert asab.run_once().handled == 1
    assert vial_of(sim, third).startswith("Vial 2: ")  # Vial 1 was never carried away
    assert asab.free_vials == 0


# ------------------------------------------------------------------------------ MD and model


def test_molecular_dynamics_is_slow_biased_and_noisy(sim: LabBroker) -> None:
    ids = [sim.request("conductivity", "molecular_dynamics", measured()) for _ in range(4)]
    md = MolecularDynamics(
        seed=5, clock=LabClock(scale=0.05 / 3600), **sim.options("molecular_dynamics")
    )
    started = time.monotonic()
    stats = md.run_once()
    elapsed = time.monotonic() - started
    assert stats.handled == 4
    assert elapsed >= 3 * 0.05  # at least one 3-hour job, at 50 ms per lab hour
    values = []
    for rid in ids:
        data = sim.result(rid)["data"]
        valid("conductivity", "molecular_dynamics", data)
        assert data["conductivity"]["meta"]["rating"] == 3
        assert sum(data["number_molecules_per_component"].values()) == pytest.approx(600, abs=2)
        values.append(data["conductivity"]["values"][0])
    truth = physics.conductivity(reported(sim.result(ids[0])["data"]), 298.15)
    assert len(set(values)) == 4  # noisy
    assert all(0.4 * truth < v < 2.6 * truth for v in values)


def test_low_fidelity_model_is_instant_deterministic_and_rated_2(sim: LabBroker) -> None:
    ids = [
        sim.request("conductivity", "polynomial_interpolation", measured(x, 0.91 - x, 0.09))
        for x in (0.1, 0.3, 0.5)
    ]
    model = LowFidelityModel(seed=0, clock=LabClock(scale=0), **sim.options("low_fidelity_model"))
    started = time.monotonic()
    assert model.run_once().handled == 3
    assert time.monotonic() - started < 5
    for rid, x in zip(ids, (0.1, 0.3, 0.5), strict=True):
        data = sim.result(rid)["data"]
        valid("conductivity", "polynomial_interpolation", data)
        block = data["conductivity"]
        assert block["meta"] == {"success": True, "rating": 2}
        expected = physics.low_fidelity_conductivity(Composition(x, 0.91 - x, 0.09), 298.15)
        assert block["values"] == [pytest.approx(expected, rel=1e-4)]
        assert 0.05 < block["values"][0] < 2  # S/m


def test_the_clock_keeps_order_and_overlap_of_jobs(sim: LabBroker) -> None:
    # model ~0 s, ASAB 0.6-1.2 s, MD 3.6-9.6 s: margins wide enough for a loaded CI machine
    clock = LabClock(scale=1.2 / 3600)
    tenants = [
        MolecularDynamics(seed=1, clock=clock, **sim.options("molecular_dynamics")),
        ASAB(seed=1, clock=clock, **sim.options("ASAB")),
        LowFidelityModel(seed=1, clock=clock, **sim.options("low_fidelity_model")),
    ]
    kwargs = {"handle_signals": False, "configure_logging": False}
    threads = [threading.Thread(target=t.run, kwargs=kwargs) for t in tenants]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 40
        while not all(t.tenant.tenant_id for t in tenants):
            assert time.monotonic() < deadline, "the tenants did not start"
            time.sleep(0.02)
        md_id = sim.request("conductivity", "molecular_dynamics", measured())
        asab_id = sim.request("conductivity", "two_electrode", measured())
        model_id = sim.request("conductivity", "polynomial_interpolation", measured())
        ids = (md_id, asab_id, model_id)
        while not all(sim.status(rid) == "resolved" for rid in ids):
            assert time.monotonic() < deadline, "the jobs did not finish"
            time.sleep(0.05)
    finally:
        for t in tenants:
            t.stop()
        for thread in threads:
            thread.join(timeout=20)
    posted = {rid: sim.result(rid)["created_at"] for rid in ids}
    assert posted[model_id] < posted[asab_id] < posted[md_id]


# ------------------------------------------------------------------------------ CLI


def test_finales_tenant_run_serves_the_module_level_asab(sim: LabBroker) -> None:
    rid = sim.request("conductivity", "two_electrode", measured())
    env = {"FINALES_LAB_SEED": "4", "FINALES_LAB_TIME_SCALE": str(0.02 / 3600)}
    args = ["tenant", "run", "finales.lab.asab:tenant", "--server", sim.broker.url]
    result = CliRunner().invoke(
        app, [*args, "--api-key", sim.keys["ASAB"], "--until-idle"], env=env
    )
    assert result.exit_code == 0, (result.output, result.exception)
    assert sim.status(rid) == "resolved"
    valid("conductivity", "two_electrode", sim.result(rid)["data"])


def test_limitations_name_the_three_chemicals_by_inchikey() -> None:
    keys = {lim["chemical"]["InChIKey"] for lim in ASAB.formulation_limitations()}
    assert keys == {EC_KEY, EMC_KEY, LIPF6_KEY}
