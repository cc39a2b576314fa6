"""`finales workflow` as users run it: validate against a running broker, an orchestrator
process killed with SIGKILL mid-workflow and restarted, and `show` on the finished tree.
The broker is served on a free port (both databases); the worker tenant runs in a thread."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from finales.capabilities import CAPABILITIES
from finales.testing import LocalBroker
from tests.integration.test_workflow_orchestrator import INNER, OUTER, chain, wait_for
from tests.workflow_stack import Stack, attempts, running, setup_stack

ROOT = Path(__file__).resolve().parents[2]
FINALES = [sys.executable, "-m", "finales.cli"]


@pytest.fixture
def stack(served_broker: LocalBroker) -> Iterator[Stack]:
    with running(
        setup_stack(served_broker, [("chain", "wf"), ("inner", "wf"), ("outer", "wf")])
    ) as s:
        yield s


def cli(*args: str, key: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FINALES_SERVER_URL": url, "FINALES_API_KEY": key}
    return subprocess.run(
        [*FINALES, "workflow", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_validate_against_the_catalogue_of_a_running_broker(stack: Stack, tmp_path: Path) -> None:
    for cap in CAPABILITIES:
        stack.broker.add_capability(
            cap.quantity, cap.method, cap.request_schema(), cap.result_schema()
        )
    key = stack.orch_key  # any principal may read the catalogue
    ok = cli("validate", str(ROOT / "examples/workflows/eol.yaml"), key=key, url=stack.broker.url)
    assert ok.returncode == 0, ok.stderr
    assert "eol serves degradationEOL/degradation_workflow, 7 steps" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nserves: {quantity: degradationEOL, method: degradation_workflow}\n"
        "result: {}\nfailure: {}\nsteps:\n"
        "  a: {quantity: transport, methods: [teleport]}\n"
        "  b: {quantity: cycling_channel, methods: [service], needs: [c],\n"
        "      parameters: {number_required_channels: 'many'}}\n"
        "  c: {quantity: cycling_channel, methods: [service], needs: [b]}\n"
    )
    found = cli("validate", str(bad), key=key, url=stack.broker.url)
    assert found.returncode == 1
    assert found.stderr.splitlines() == [f"{bad}: step 'b', field needs: cycle: b -> c -> b"]
    bad.write_text(bad.read_text().replace("needs: [c],", "").replace(", needs: [b]", ""))
    found = cli("validate", str(bad), key=key, url=stack.broker.url)
    assert found.returncode == 1
    lines = found.stderr.splitlines()
    assert (
        f"{bad}: step 'a', field methods[0]: unknown capability transport/teleport (not in the "
        f"catalogue of {stack.broker.url})"
    ) in lines
    assert (
        f"{bad}: step 'b', field parameters.number_required_channels: 'many' is not of type "
        "'integer' (for cycling_channel/service)"
    ) in lines
    assert (
        f"{bad}: step 'c', field parameters.number_required_channels: required, missing "
        "(for cycling_channel/service)"
    ) in lines
    assert f"{bad}: workflow, field result.run_info: required, missing" in lines
    assert all(
        re.match(rf"{re.escape(str(bad))}: (step '\w+'|workflow), field \S+: ", x) for x in lines
    )


def test_an_orchestrator_killed_mid_workflow_is_restarted_and_finishes_it(
    stack: Stack, tmp_path: Path
) -> None:
    path = tmp_path / "chain.yaml"
    path.write_text(chain(timeout=30, retries=1))
    stack.start_worker()
    run = ["run", str(path), "--lease", "2", "--poll", "0.5", "--log-level", "warning"]
    first = subprocess.Popen(
        [*FINALES, "workflow", *run, "--server", stack.broker.url, "--api-key", stack.orch_key],
        stderr=subprocess.PIPE,
        text=True,
    )
    parent = stack.submit("chain", "wf", {"a": "ok", "b": "slow", "c": "slow"})
    try:
        wait_for(
            lambda: any(
                n.labels.get("workflow_step") == "b" for n in stack.admin.request_tree(parent)
            ),
            "step b to be posted",
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        first.stderr.close()
    time.sleep(0.5)  # step b finishes while no orchestrator runs
    second = subprocess.Popen(
        [*FINALES, "workflow", *run, "--server", stack.broker.url, "--api-key", stack.orch_key],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        results = stack.admin.wait_for_results(parent, timeout_s=60, poll_s=5)
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    assert results[0].data == {"total": 6, "failed": []}
    tree = stack.admin.request_tree(parent)
    counts = attempts(tree)
    assert set(counts.values()) == {1} and len(counts) == 5  # a, b[0..2], c: none twice
    history = stack.admin.request_history(parent)
    assert [e.to_status for e in history].count("reserved") >= 2  # claimed again
    assert any(e.message == "lease expired" or "expired" in e.message for e in history)

    shown = cli("show", parent, key=stack.orch_key, url=stack.broker.url)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("resolved") and "chain/wf" in lines[0]
    assert sum("leaf/compute" in line for line in lines) == 5
    assert any("b[2] #1" in line and "worker" in line for line in lines)
    assert "5 below: 5 resolved" in shown.stdout


def test_fan_out_of_8_over_three_levels_with_every_tenant_in_its_own_process(
    stack: Stack, tmp_path: Path
) -> None:
    """The issue's scenario as a lab runs it: the leaf tenant (`finales tenant run`) and the
    orchestrator (`finales workflow run`, both files) are processes of their own."""
    files = []
    for name, text in (("inner", INNER), ("outer", OUTER)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        files.append(str(path))
    url = stack.broker.url
    worker = subprocess.Popen(
        [
            *FINALES,
            "tenant",
            "run",
            "tests.workflow_stack:worker",
            "--server",
            url,
            "--api-key",
            stack.worker_key,
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    orchestrator = subprocess.Popen(
        [
            *FINALES,
            "workflow",
            "run",
            *files,
            "--server",
            url,
            "--api-key",
            stack.orch_key,
            "--lease",
            "5",
            "--poll",
            "0.5",
            "--log-level",
            "warning",
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        parent = stack.submit("outer", "wf", {})
        results = stack.admin.wait_for_results(parent, timeout_s=120, poll_s=5)
    finally:
        for proc in (orchestrator, worker):
            proc.send_signal(signal.SIGTERM)
        errors = [proc.communicate(timeout=30)[1] for proc in (orchestrator, worker)]
    assert [p.returncode for p in (orchestrator, worker)] == [0, 0], errors
    assert results[0].data == {"total": 8 * 100 * 28 + 8 * 28, "failed": []}
    tree = stack.admin.request_tree(parent)
    assert len(tree) == 1 + 8 + 64 and max(n.depth for n in tree) == 2
    assert {str(n.status) for n in tree} == {"resolved"}
    assert set(attempts(tree).values()) == {1}  # nothing posted twice
