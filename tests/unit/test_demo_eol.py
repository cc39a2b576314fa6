"""`finales demo eol` pieces that need no broker: the workflow rescaled to the lab clock, a
request's history as timeline bars, and the demo group's options."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from finales.cli import app
from finales.demo.eol import at_time_scale, resolve_acquisition, workflow_text
from finales.demo.eol_plots import intervals
from finales.demo.eol_report import EOLCampaign, Node, losses
from finales.workflows import parse, read_yaml
from tests.conftest import require_botorch

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_workflow_timeouts_become_lab_durations_plus_an_allowance() -> None:
    workflow = parse(read_yaml(workflow_text()))
    scale = 0.02 / 3600  # a lab hour in 20 ms
    scaled = at_time_scale(workflow, time_scale=scale, allowance_s=20.0)
    # cycling: 25 lab days are 12 s here, plus the allowance
    assert scaled.policy("cycle").timeout_s == pytest.approx(25 * 24 * 0.02 + 20.0)
    # the degradation model: 10 lab minutes would be 3 ms; its fits do not scale
    assert scaled.policy("predict").timeout_s == pytest.approx(10 / 60 * 0.02 + 20.0)
    # a step without a timeout of its own takes the scaled default (2 h)
    assert scaled.policy("electrolyte").timeout_s == pytest.approx(2 * 0.02 + 20.0)
    backoff = scaled.policy("channels").backoff
    assert backoff.initial == pytest.approx(30 * scale) and backoff.max == pytest.approx(
        600 * scale
    )
    # retries and failure policies are untouched
    for step in workflow.steps:
        before, after = workflow.policy(step), scaled.policy(step)
        assert (before.retries, before.on_failure) == (after.retries, after.on_failure)


def _node(events: list[tuple[int, str, str | None]]) -> Node:
    return Node(
        id="r",
        parent_id="p",
        step="cycle",
        index=0,
        attempt=1,
        quantity="capacity",
        method="cycling",
        status=events[-1][1],
        created_at=T0,
        events=[
            {"at": T0 + timedelta(seconds=s), "to_status": to, "tenant": who, "message": ""}
            for s, to, who in events
        ],
        data=None,
    )


def test_a_history_becomes_waiting_and_working_bars() -> None:
    history = [
        (0, "pending", None),
        (2, "reserved", "cycler"),
        (3, "reserved", "cycler"),  # a lease renewed: still the same work
        (5, "pending", "cycler"),  # released (no channel free)
        (6, "reserved", "cycler"),
        (9, "resolved", "cycler"),
    ]
    bars = [
        (kind, who, (a - T0).seconds, (b - T0).seconds)
        for kind, who, a, b in intervals(_node(history))
    ]
    assert bars == [
        ("waiting", None, 0, 2),
        ("working", "cycler", 2, 5),
        ("waiting", None, 5, 6),
        ("working", "cycler", 6, 9),
    ]


def test_a_request_retracted_while_waiting_is_one_waiting_bar() -> None:
    bars = intervals(_node([(0, "pending", None), (4, "retracted", None)]))
    assert [(k, (b - a).seconds) for k, _, a, b in bars] == [("waiting", 4)]


def test_conductivity_options_before_a_campaign_name_are_refused_in_one_line() -> None:
    result = CliRunner().invoke(app, ["demo", "--budget", "3", "eol"])
    assert result.exit_code == 1
    assert "options before 'eol' belong to the conductivity campaign" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_acquisition_botorch_without_the_extra_is_one_line_naming_the_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "botorch", None)  # as if not installed
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["demo", "eol", "--acquisition", "botorch", "--out", str(out)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 1, result.output
    assert "--acquisition botorch needs the botorch extra" in result.output
    assert "pip install 'finales[botorch]'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()  # refused before anything was made
    # auto falls back to the believer, and says so in the report
    assert resolve_acquisition("auto") == "kriging-believer"
    assert resolve_acquisition("kriging-believer") == "kriging-believer"


def test_auto_is_botorch_where_the_extra_is_installed() -> None:
    require_botorch()
    assert resolve_acquisition("auto") == "botorch" == resolve_acquisition("botorch")


def test_the_demo_group_lists_both_campaigns() -> None:
    result = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "conductivity" in result.output and "eol" in result.output
    assert "--budget" in result.output  # the conductivity campaign's options stay on `demo`


def _sub(
    step: str,
    data: dict[str, Any] | None,
    *,
    attempt: int = 1,
    status: str = "resolved",
    why: str = "",
) -> Node:
    return Node(
        id=f"{step}-{attempt}",
        parent_id="wf",
        step=step,
        index=0,
        attempt=attempt,
        quantity="q",
        method="m",
        status=status,
        created_at=T0,
        events=[{"at": T0, "to_status": status, "tenant": "t", "message": why}],
        data=data,
    )


def test_what_was_lost_is_counted_from_the_records() -> None:
    cell = {"cell_info": {"uuid": "c1"}, "meta": {"success": True}}
    failed = {"cell_info": {"uuid": "c2"}, "meta": {"success": False}}
    lost_cell = {"cell_info": {"uuid": "c1", "cell_location": {"detail_2": "lost: channel 3"}}}
    refused = "the broker refused the result: NUL in /run_info/internal_reference"
    nodes = [
        _sub("assemble", {"batch_output": [cell, failed]}),
        _sub("carry_electrolyte", {"success": False}),
        _sub("carry_electrolyte", {"success": True}, attempt=2),
        _sub("cycle", lost_cell),
        _sub("predict", None, status="pending", why=refused),
        _sub("predict", None, attempt=2, status="retracted", why="no result within 20s"),
    ]
    workflow = Node(
        "wf",
        None,
        "workflow",
        0,
        1,
        "degradationEOL",
        "degradation_workflow",
        "resolved",
        T0,
        [],
        {"run_info": {"internal_reference": "eol-wf partial: x"}},
    )
    campaign = EOLCampaign(
        seed=0,
        budget=1,
        reason="budget",
        elapsed_s=1.0,
        started_at=T0,
        time_scale=1.0,
        batch_size=1,
        workflows=[workflow],
        nodes=nodes,
    )
    assert losses(campaign) == {
        "cells_ordered": 2,
        "assembly_failures": 1,
        "channel_faults": 1,
        "lost_transports": 1,
        "invalid_predictions": 1,
        "timeouts": 1,
        "retries": 2,
        "retries_by_step": {"carry_electrolyte": 1, "predict": 1},
        "workflows": {"partial": 1},
    }
