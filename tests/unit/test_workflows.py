"""Workflow files and the orchestrator's planner, without a broker: the file model, the
checks `finales workflow validate` prints, and `plan` driven through whole runs against a
simulated tree (time is a parameter, so timeouts and backoff need no sleeping)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from finales.capabilities import EXAMPLES, result_schema
from finales.workflows import (
    Catalogue,
    WorkflowInvalid,
    builtin_catalogue,
    check_capabilities,
    compile_workflow,
    load,
    parse,
    read_yaml,
)
from finales.workflows.check import CompiledWorkflow
from finales.workflows.plan import Attempt, Plan, Refusal, Snapshot, plan

ROOT = Path(__file__).resolve().parents[2]
EOL = ROOT / "examples" / "workflows" / "eol.yaml"
T0 = datetime(2024, 5, 1, tzinfo=UTC)


def workflow(text: str) -> CompiledWorkflow:
    return compile_workflow(parse(read_yaml(text)))


def problems_of(text: str, catalogue: Catalogue | None = None) -> list[str]:
    try:
        compiled = workflow(text)
    except WorkflowInvalid as exc:
        return [str(p) for p in exc.problems]
    return [str(p) for p in check_capabilities(compiled, catalogue or builtin_catalogue())]


class Sim:
    """A tree in memory: submissions become attempts; ``answer`` decides each one's fate."""

    def __init__(self, compiled: CompiledWorkflow, parameters: dict[str, Any]) -> None:
        self.compiled = compiled
        self.parameters = parameters
        self.now = T0
        self.attempts: dict[tuple[str, int], list[Attempt]] = {}
        self.results: dict[str, tuple[str, dict[str, Any]]] = {}
        self.refusals: dict[tuple[str, int], list[Refusal]] = {}
        self.retracted: list[tuple[str, str]] = []
        self.reasons: dict[str, str] = {}
        self.posted: list[tuple[str, int, int, dict[str, Any]]] = []
        self.n = 0

    def snapshot(self) -> Snapshot:
        return Snapshot(
            "parent",
            self.parameters,
            self.attempts,
            self.results,
            self.refusals,
            self.reasons,
            self.now,
        )

    def _set(self, rid: str, status: str) -> None:
        for versions in self.attempts.values():
            for i, a in enumerate(versions):
                if a.request_id == rid and a.status in ("pending", "reserved"):
                    versions[i] = Attempt(
                        rid, a.step, a.index, a.attempt, status, a.created_at, self.now
                    )

    def run(
        self, answer: Callable[[str, int, int, dict[str, Any]], Any], rounds: int = 200
    ) -> Plan:
        """Plan until an outcome; ``answer(step, index, attempt, parameters)`` returns result
        data, None (the sub-request stays open) or "refuse" (the broker refuses it)."""
        for _ in range(rounds):
            decided = plan(self.compiled, self.snapshot())
            for rid, reason in decided.retract:
                self.retracted.append((rid, reason))
                self.reasons[rid] = f"retracted: {reason}"  # as the engine records it
                self._set(rid, "retracted")
            if decided.outcome is not None:
                return decided
            for s in decided.submit:
                self.posted.append((s.step, s.index, s.attempt, s.parameters))
                data = answer(s.step, s.index, s.attempt, s.parameters)
                if data == "refuse":
                    self.refusals.setdefault((s.step, s.index), []).append(
                        Refusal(s.attempt, "422 at /parameters", self.now)
                    )
                    continue
                self.n += 1
                rid = f"r{self.n}"
                status = "pending" if data is None else "resolved"
                attempt = Attempt(rid, s.step, s.index, s.attempt, status, self.now, self.now)
                self.attempts.setdefault((s.step, s.index), []).append(attempt)
                if data is not None:
                    self.results[rid] = (f"res-{rid}", data)
            if not decided.submit:
                assert decided.wake_at is not None, "nothing to do and nothing to wait for"
                self.now = max(self.now + timedelta(seconds=0.001), decided.wake_at)
        raise AssertionError("no outcome")


# ------------------------------------------------------------------ the EOL example


def eol_answer(cells: int, fail: Callable[[str, int, int], bool] = lambda *_: False) -> Any:
    def answer(step: str, index: int, attempt: int, parameters: dict[str, Any]) -> Any:
        if fail(step, index, attempt):
            return None if step != "channels" else {"success": False}
        key = {
            "channels": ("cycling_channel", "service"),
            "electrolyte": ("electrolyte", "flow"),
            "carry_electrolyte": ("transport", "transport_service"),
            "assemble": ("cell_assembly", "autobass_assembly"),
            "carry_cells": ("transport", "transport_service"),
            "cycle": ("capacity", "cycling"),
            "predict": ("degradationEOL", "degradation_model"),
        }[step]
        data = copy.deepcopy(EXAMPLES[key]["result"])
        if step == "assemble":
            one = data["batch_output"][0]
            data["batch_output"] = []
            for i in range(parameters["batch_volume"]):
                cell = copy.deepcopy(one)
                cell["cell_info"]["uuid"] = f"CELL-{i}"
                data["batch_output"].append(cell)
        if step == "cycle":
            data["cell_info"] = parameters["cell_info"]
        if step == "predict":
            data["degradationEOL"]["cell_info"] = parameters["cell_info"]
        return data

    return answer


def test_eol_example_passes_the_offline_checks() -> None:
    compiled = compile_workflow(load(EOL))
    catalogue = builtin_catalogue()
    assert check_capabilities(compiled, catalogue) == []
    assert catalogue.unknown == []
    assert compiled.order[0] == "channels" and compiled.order[-1] == "predict"


def test_eol_runs_to_a_result_that_fits_the_served_schema() -> None:
    compiled = compile_workflow(load(EOL))
    sim = Sim(
        compiled, copy.deepcopy(EXAMPLES[("degradationEOL", "degradation_workflow")]["request"])
    )
    decided = sim.run(eol_answer(cells=8))
    assert decided.outcome is not None and decided.outcome.kind == "done"
    data = decided.outcome.data
    Draft202012Validator(result_schema("degradationEOL", "degradation_workflow")).validate(data)
    assert [p["cell_info"]["uuid"] for p in data["degradationEOL"]] == [
        f"CELL-{i}" for i in range(8)
    ]
    steps = [s for s, *_ in sim.posted]
    assert steps.count("cycle") == 8 and steps.count("predict") == 8 and len(steps) == 21
    cycle = next(p for s, _, _, p in sim.posted if s == "cycle")
    assert cycle["reservation_number"] == "res-0815"  # from the channels step's result
    assert len(decided.outcome.inputs) == 21  # provenance: every sub-result used


def test_eol_partial_result_names_the_lost_cells() -> None:
    compiled = compile_workflow(load(EOL))
    sim = Sim(
        compiled, copy.deepcopy(EXAMPLES[("degradationEOL", "degradation_workflow")]["request"])
    )
    # cells 2 and 5 never come back from the cycler: 25 days later they time out
    decided = sim.run(eol_answer(8, fail=lambda s, i, _: s == "cycle" and i in (2, 5)))
    outcome = decided.outcome
    assert outcome is not None and outcome.kind == "done"
    assert len(outcome.data["degradationEOL"]) == 6
    assert [(f.step, f.index) for f in outcome.failures] == [("cycle", 2), ("cycle", 5)]
    ref = outcome.data["run_info"]["internal_reference"]
    assert "partial: cycle[2]: retracted: no result within 25 d (attempt 1 of 1); cycle[5]" in ref
    assert sum(1 for _, why in sim.retracted if why.startswith("no result within")) == 2


def test_eol_fails_cleanly_when_no_channel_is_ever_free() -> None:
    compiled = compile_workflow(load(EOL))
    sim = Sim(
        compiled, copy.deepcopy(EXAMPLES[("degradationEOL", "degradation_workflow")]["request"])
    )
    decided = sim.run(eol_answer(8, fail=lambda s, *_: s == "channels"))
    outcome = decided.outcome
    assert outcome is not None and outcome.kind == "failed"
    assert [p[:3] for p in sim.posted] == [("channels", 0, k) for k in range(1, 7)]  # 1 + 5 retries
    Draft202012Validator(result_schema("degradationEOL", "degradation_workflow")).validate(
        outcome.data
    )
    assert outcome.data["degradationEOL"] == []
    assert (
        "failed: channels: came back with success: false"
        in outcome.data["run_info"]["internal_reference"]
    )
    # backoff 30 s, 60 s, 120 s, 240 s, 480 s between the six attempts
    assert sim.now - T0 == timedelta(seconds=30 + 60 + 120 + 240 + 480)


# ------------------------------------------------------------------ the planner's rules

SMALL = """
name: small
serves: {quantity: q, method: top}
defaults: {timeout: 10, retries: 2, backoff: {initial: 1, factor: 2}}
steps:
  a:
    quantity: x
    methods: [m]
    parameters: {n: "{{ parameters.n }}"}
  b:
    needs: [a]
    for_each: "{{ range(steps.a.result.k) | list }}"
    quantity: x
    methods: [m]
    parameters: {n: "{{ item * 10 }}", label: "item {{ index }}"}
    on_failure: continue
result:
  total: "{{ steps.b.results | map(attribute='v') | sum }}"
  failed: "{{ failures | length }}"
failure: {total: -1, failed: "{{ failures | length }}"}
"""


def test_fan_out_computes_parameters_per_item_and_sums() -> None:
    sim = Sim(workflow(SMALL), {"n": 3})

    def answer(step: str, index: int, attempt: int, p: dict[str, Any]) -> Any:
        return {"k": p["n"]} if step == "a" else {"v": p["n"]}

    decided = sim.run(answer)
    assert decided.outcome is not None and decided.outcome.data == {"total": 30, "failed": 0}
    assert [p for s, _, _, p in sim.posted if s == "b"] == [
        {"n": 0, "label": "item 0"},
        {"n": 10, "label": "item 1"},
        {"n": 20, "label": "item 2"},
    ]


def test_a_refused_submission_is_retried_then_fails_the_workflow() -> None:
    sim = Sim(workflow(SMALL), {"n": 3})
    decided = sim.run(lambda *_: "refuse")
    assert decided.outcome is not None and decided.outcome.kind == "failed"
    assert [(s, k) for s, _, k, _ in sim.posted] == [("a", 1), ("a", 2), ("a", 3)]
    assert decided.outcome.failures[0].reason == "422 at /parameters"
    assert decided.outcome.failures[1].reason == "skipped: it needs a, which failed"
    assert decided.outcome.data == {"total": -1, "failed": 2}


def test_a_timed_out_attempt_is_retracted_and_retried_after_backoff() -> None:
    sim = Sim(workflow(SMALL), {"n": 1})

    def answer(step: str, index: int, attempt: int, p: dict[str, Any]) -> Any:
        if step == "a":
            return None if attempt == 1 else {"k": 1}
        return {"v": 5}

    decided = sim.run(answer)
    assert decided.outcome is not None and decided.outcome.data == {"total": 5, "failed": 0}
    assert sim.retracted == [("r1", "no result within 10 s (attempt 1 of 3)")]
    # attempt 2 posted 10 s (timeout) + 1 s (backoff) after the first
    assert sim.now - T0 == timedelta(seconds=11)


def test_continue_gives_a_partial_result_with_the_failures() -> None:
    sim = Sim(workflow(SMALL), {"n": 3})

    def answer(step: str, index: int, attempt: int, p: dict[str, Any]) -> Any:
        if step == "a":
            return {"k": 3}
        return {"v": p["n"], "success": index != 1}

    decided = sim.run(answer)
    assert decided.outcome is not None and decided.outcome.kind == "done"
    assert decided.outcome.data == {"total": 20, "failed": 1}
    assert [(s, i, k) for s, i, k, _ in sim.posted if i == 1] == [
        ("b", 1, 1),
        ("b", 1, 2),
        ("b", 1, 3),
    ]


def test_a_stale_open_attempt_is_retracted_and_duplicates_are_not_reposted() -> None:
    compiled = workflow(SMALL)
    old = Attempt("r1", "a", 0, 1, "pending", T0, T0)
    new = Attempt("r2", "a", 0, 2, "pending", T0, T0)
    snap = Snapshot("parent", {"n": 1}, {("a", 0): [old, new]}, {}, {}, {}, T0)
    decided = plan(compiled, snap)
    assert decided.submit == []
    assert decided.retract == [("r1", "superseded by attempt 2")]
    assert [a.request_id for a in decided.open] == ["r2"]


# ------------------------------------------------------------------ validate's errors

HEAD = "name: w\nserves: {quantity: q, method: top}\nresult: {}\nfailure: {}\nsteps:\n"


def test_cycle_is_named_with_its_steps() -> None:
    text = HEAD + (
        "  a: {quantity: x, methods: [m], needs: [c]}\n"
        "  b: {quantity: x, methods: [m], needs: [a]}\n"
        "  c: {quantity: x, methods: [m], needs: [b]}\n"
    )
    assert problems_of(text) == ["step 'a', field needs: cycle: a -> c -> b -> a"]


def test_unknown_step_in_needs_and_in_an_expression() -> None:
    text = HEAD + (
        "  a: {quantity: x, methods: [m], needs: [ghost]}\n"
        "  b: {quantity: x, methods: [m], parameters: {v: '{{ steps.a.result.v }}'}}\n"
        "  c: {quantity: x, methods: [m], needs: [a], parameters: {v: '{{ steps.nope.result }}'}}\n"
    )
    assert problems_of(text) == [
        "step 'a', field needs[0]: unknown step 'ghost'",
        "step 'b', field parameters.v: reads steps.a but does not need it (add it to needs)",
        "step 'c', field parameters.v: reads steps.nope: no such step",
    ]


def test_unknown_capability_against_a_broker_catalogue() -> None:
    text = HEAD + "  a: {quantity: transport, methods: [teleport]}\n"
    catalogue = Catalogue({("q", "top"): ({}, {}, True)}, authoritative=True, source="broker")
    assert problems_of(text, catalogue) == [
        "step 'a', field methods[0]: unknown capability transport/teleport (broker)"
    ]
    offline = builtin_catalogue()
    assert problems_of(text, offline) == []  # offline: not known is not an error...
    assert "transport/teleport" in offline.unknown  # ...but reported as not checked


def test_bad_constant_parameters_name_the_field() -> None:
    text = HEAD + (
        "  a:\n"
        "    quantity: cycling_channel\n"
        "    methods: [service]\n"
        "    parameters: {number_required_channels: 0, colour: red,\n"
        "                 number_cycles: '{{ parameters.n }}'}\n"
        "  b:\n"
        "    quantity: transport\n"
        "    methods: [transport_service]\n"
        "    parameters: {origin: {detail_1: Lab}, destination: '{{ parameters.to }}'}\n"
    )
    assert problems_of(text) == [
        "step 'a', field parameters.colour: unexpected field 'colour' "
        "(for cycling_channel/service)",
        "step 'a', field parameters.number_required_channels: 0 is less than the minimum of 1 "
        "(for cycling_channel/service)",
        "step 'b', field parameters.origin.address: required, missing "
        "(for transport/transport_service)",
    ]


def test_expression_errors_name_step_and_field() -> None:
    text = HEAD + (
        "  a: {quantity: x, methods: [m], parameters: {v: '{{ 1 + }}'}}\n"
        "  b: {quantity: x, methods: [m], parameters: {v: '{{ secret }}'}}\n"
        "  c: {quantity: x, methods: [m], for_each: 'plain', retries: -1}\n"
    )
    found = problems_of(text)
    assert found[0] == "step 'c', field retries: Input should be greater than or equal to 0"
    text = text.replace(", retries: -1", "")
    found = problems_of(text)
    assert found[0].startswith("step 'a', field parameters.v: expression syntax error")
    assert found[1].startswith("step 'b', field parameters.v: unknown name 'secret'")
    assert found[2] == "step 'c', field for_each: must be one {{ expression }}"


def test_a_failure_result_is_required_when_a_step_may_fail_the_workflow() -> None:
    text = "name: w\nserves: {quantity: q, method: top}\nresult: {}\n"
    text += "steps:\n  a: {quantity: x, methods: [m]}\n"
    assert problems_of(text) == [
        "workflow, field failure: steps a may fail the workflow (on_failure: fail): say what "
        "the parent request gets then with a 'failure' result"
    ]


def test_duplicate_keys_and_durations() -> None:
    with pytest.raises(WorkflowInvalid, match="given twice"):
        read_yaml("steps:\n  a: {}\n  a: {}\n")
    compiled = workflow(HEAD + "  a: {quantity: x, methods: [m], timeout: 14d}\n")
    assert compiled.workflow.policy("a").timeout_s == 14 * 86400


def test_the_sandbox_refuses_private_attributes() -> None:
    sim = Sim(
        workflow(
            HEAD
            + "  a: {quantity: x, methods: [m], parameters: {v: '{{ parameters.__class__ }}'}}\n"
        ),
        {"n": 1},
    )
    decided = sim.run(lambda *_: {"ok": True})
    assert decided.outcome is not None and decided.outcome.kind == "failed"
    assert "parameters.v" in decided.outcome.failures[0].reason
    assert sim.posted == []
