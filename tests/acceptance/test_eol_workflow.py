"""The demonstrator's end-of-life workflow end to end: `examples/workflows/eol.yaml` run by the
orchestrator over every simulated tenant of the cell lab (ASAB, the courier, AutoBASS, the
cycler, the degradation model) against a real broker, on both databases, on a scaled clock."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from finales import capabilities
from finales.capabilities import CAPABILITIES, examples, to_finales
from finales.domain.principals import Role
from finales.lab import ASAB, AutoBASS, Courier, Cycler, LabClock
from finales.lab.degradation import DegradationModel, observed_life
from finales.testing import LocalBroker
from finales.workflows import Orchestrator, compile_workflow, parse, read_yaml

ROOT = Path(__file__).resolve().parents[2]
TENANTS = ("ASAB", "transport", "AutoBASS", "cycler", "degradation_model", "orchestrator")


@pytest.fixture
def eol_lab(broker: LocalBroker) -> Iterator[tuple[LocalBroker, dict[str, str]]]:
    for cap in CAPABILITIES:
        c = to_finales(cap)
        broker.add_capability(c["quantity"], c["method"], c["request_schema"], c["result_schema"])
    keys = {"admin": broker.add_user("admin", role=Role.ADMIN)}
    for name in TENANTS:
        tenant_id = broker.add_tenant(name)
        keys[name] = broker.add_user(f"bot-{name}", role=Role.TENANT, tenant_id=tenant_id)
    clock = LabClock(scale=0.002 / 3600)  # a lab hour in 2 ms: 40 cycles in about 0.3 s

    def opts(who: str) -> dict[str, Any]:
        return {"server": broker.url, "api_key": keys[who], "poll_s": 0.5}

    runners: list[Any] = [
        ASAB(seed=3, clock=clock, **opts("ASAB")),
        Courier(seed=3, clock=clock, **opts("transport")),
        AutoBASS(seed=3, clock=clock, **opts("AutoBASS")),
        Cycler(seed=3, clock=clock, **opts("cycler")),
        DegradationModel(seed=3, clock=clock, **opts("degradation_model")),
    ]
    workflow = compile_workflow(
        parse(read_yaml((ROOT / "examples/workflows/eol.yaml").read_text()))
    )
    client = broker.client(api_key=keys["orchestrator"])
    runners.append(Orchestrator([workflow], client=client, concurrency=4, lease_s=5, poll_s=0.5))
    kwargs = {"handle_signals": False, "configure_logging": False}
    threads = [threading.Thread(target=r.run, kwargs=kwargs, daemon=True) for r in runners]
    for thread in threads:
        thread.start()
    try:
        yield broker, keys
    finally:
        for runner in runners:
            runner.stop()
        for thread in threads:
            thread.join(timeout=15)
        client.close()


def test_the_eol_workflow_runs_over_the_simulated_cell_lab(
    eol_lab: tuple[LocalBroker, dict[str, str]],
) -> None:
    broker, keys = eol_lab
    with broker.client(api_key=keys["admin"]) as admin:
        params = examples.EXAMPLES[("degradationEOL", "degradation_workflow")]["request"]
        parent = admin.submit_request(
            "degradationEOL", ["degradation_workflow"], {"degradation_workflow": params}
        ).id
        results = admin.wait_for_results(parent, timeout_s=120, poll_s=5)
        tree = admin.request_tree(parent)
        cycled = {
            (d := admin.get_result(n.result_ids[-1]).data)["cell_info"]["uuid"]: d["capacity_list"]
            for n in tree
            if n.labels.get("workflow_step") == "cycle" and n.result_ids
        }
    data = results[0].data
    jsonschema.validate(data, capabilities.result_schema("degradationEOL", "degradation_workflow"))
    steps = Counter(n.labels.get("workflow_step") for n in tree if n.depth == 1)
    # Every step ran; a cell lost in assembly or on a channel is not cycled or predicted.
    assert {"channels", "electrolyte", "carry_electrolyte", "assemble", "carry_cells"} <= set(steps)
    assert 1 <= steps["predict"] <= steps["cycle"] <= 8
    assert len(data["degradationEOL"]) == sum(
        1
        for n in tree
        if n.labels.get("workflow_step") == "predict" and str(n.status) == "resolved"
    )
    for prediction in data["degradationEOL"]:
        uuid = prediction["cell_info"]["uuid"]
        if prediction["meta"]["rating"] == 5:  # died within its cycles: observed, not predicted
            assert prediction["end_of_life_uncertainty"] == 0
            assert prediction["end_of_life"] == observed_life(cycled[uuid][1::2])
        else:
            assert prediction["end_of_life"] > 40 and prediction["end_of_life_uncertainty"] > 0
            assert observed_life(cycled[uuid][1::2]) is None
    keys_posted = Counter(
        (n.labels.get("workflow_step"), n.labels.get("index"), n.labels.get("attempt"))
        for n in tree
        if n.depth == 1
    )
    assert set(keys_posted.values()) == {1}  # no sub-request posted twice
    assert results[0].inputs  # the answer names the sub-results it was made from
