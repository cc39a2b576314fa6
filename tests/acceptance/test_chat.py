"""`finales chat` as a person uses it: the real command in a pseudo-terminal (pexpect), a
served broker on both databases, requests posted and checked with the SDK.

Each test is one terminal session running through several tasks, so that the process starts
(about a second) only twice per database.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pexpect
import pytest

from finales.capabilities import registry
from finales.client import FinalesClient
from finales.domain.principals import Role
from finales.testing import LocalBroker
from tests.conftest import Clock

ROOT = Path(__file__).resolve().parents[2]
TRANSPORT_FILE = ROOT / "examples" / "people" / "transport.yaml"
WAIT_S = 30  # generous upper bound on each expected line (typically well under a second)

SITE = "KIT HIU Ulm"
ASAB = {"address": SITE, "detail_1": "ASAB", "detail_2": "8 vials"}
AUTOBASS = {"address": SITE, "detail_1": "AutoBASS"}


@dataclass
class Session:
    """A `finales chat` in a pseudo-terminal, and the requester's client."""

    term: pexpect.spawn
    requester: FinalesClient

    def expect(self, text: str) -> None:
        self.term.expect_exact(text, timeout=WAIT_S)

    def say(self, line: str) -> None:
        self.term.sendline(line)

    def exit_status(self) -> int | None:
        self.term.expect(pexpect.EOF, timeout=WAIT_S)
        self.term.close()
        status = self.term.exitstatus
        return None if status is None else int(status)

    def transcript(self) -> str:
        """What the terminal showed, for a failing assertion's message."""
        log = self.term.logfile_read
        return log.getvalue() if isinstance(log, io.StringIO) else ""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINALES_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    # Rich takes COLUMNS over the terminal's size (pytest-xdist workers inherit one): wide
    # enough that no expected line wraps.
    env["COLUMNS"], env["LINES"] = "220", "50"
    return env


@pytest.fixture
def start_chat(broker: LocalBroker) -> Iterator[Any]:
    """Start `finales chat` for a new tenant bound to a new key; returns the session."""
    admin = broker.add_user("requester", role=Role.ADMIN)
    requester = broker.client(api_key=admin)
    terms: list[pexpect.spawn] = []

    def start(task_file: Path, tenant: str, *extra: str) -> Session:
        key = broker.add_user(
            f"{tenant}-person", role=Role.TENANT, tenant_id=broker.add_tenant(tenant)
        )
        args = ["-m", "finales.cli", "chat", "--file", str(task_file), "--tenant", tenant]
        args += ["--server", broker.url, "--api-key", key, "--person", "Leon", "--poll", "2"]
        term = pexpect.spawn(
            sys.executable,
            [*args, *extra],
            env=_env(),
            encoding="utf-8",
            dimensions=(50, 220),
            timeout=WAIT_S,
        )
        term.logfile_read = io.StringIO()
        terms.append(term)
        session = Session(term, requester)
        session.expect("waiting for work")
        return session

    yield start
    for term in terms:
        if term.isalive():
            term.terminate(force=True)


def _add_capability(broker: LocalBroker, quantity: str, method: str) -> None:
    cap = registry.get(quantity, method)
    broker.add_capability(quantity, method, cap.request_schema(), cap.result_schema())


def _transport(
    requester: FinalesClient, origin: dict[str, Any], destination: dict[str, Any]
) -> str:
    params = {"transport_service": {"origin": origin, "destination": destination}}
    return requester.submit_request(
        quantity="transport", methods=["transport_service"], parameters=params
    ).id


def _history_messages(requester: FinalesClient, request_id: str) -> list[str]:
    return [e.message for e in requester.request_history(request_id)]


def test_a_person_serves_transport_from_a_terminal(broker: LocalBroker, start_chat: Any) -> None:
    _add_capability(broker, "transport", "transport_service")
    chat: Session = start_chat(TRANSPORT_FILE, "transport")
    api = chat.requester

    # done [note]: the task in plain words, then the result built from the done template.
    first = _transport(api, ASAB, AUTOBASS)
    chat.expect("Carry 8 vials from ASAB to AutoBASS.")
    chat.expect(f"request {first}")
    chat.say("done delivered")
    chat.expect(f"posted for request {first}")
    assert api.get_request(first).status == "resolved"
    [result] = api.request_results(first)
    assert result.data == {
        "success": True,
        "actual_new_location": AUTOBASS,
        "executant": "Leon (delivered)",
    }

    # Unknown words get a one-line hint; failed needs a reason; failed REASON posts a failure.
    second = _transport(api, {**ASAB, "detail_2": "cell 3"}, {**AUTOBASS, "detail_2": "Tray: 7"})
    chat.expect("Carry cell 3 from ASAB to AutoBASS (Tray: 7).")
    chat.say("carried it")
    chat.expect("unknown command 'carried'")
    chat.say("failed")
    chat.expect("say why")
    chat.say("failed broke a vial")
    chat.expect(f"posted for request {second}")
    [failure] = api.request_results(second)
    assert failure.data["success"] is False
    assert failure.data["executant"] == "Leon (broke a vial)"
    assert failure.data["actual_new_location"] == {**ASAB, "detail_2": "cell 3"}

    # release [reason]: pending again, the reason in its history, and not shown again here.
    third = _transport(api, ASAB, AUTOBASS)
    chat.expect(f"request {third}")
    chat.say("release too heavy for me")
    chat.expect(f"request {third} released")
    assert api.get_request(third).status == "pending"
    assert any("too heavy for me" in m for m in _history_messages(api, third))

    # quit gives back what is held, and the process ends cleanly.
    fourth = _transport(api, ASAB, AUTOBASS)
    chat.expect(f"request {fourth}")
    chat.say("quit")
    assert chat.exit_status() == 0, chat.transcript()
    assert api.get_request(fourth).status == "pending"
    assert any("Leon quit the terminal session" in m for m in _history_messages(api, fourth))
    assert api.get_request(third).status == "pending"
    assert len(api.list_results().items) == 2


WEIGHING_FILE = """
tenant: weigher
offers:
  - quantity: mass
    method: balance
    task: "Weigh {{ sample }} and type: done GRAMS"
    done: {success: true, mass_g: "{{ note | number }}"}
    failed: {success: false, mass_g: 0}
"""
WEIGHING_RESULT = {
    "type": "object",
    "properties": {"success": {"type": "boolean"}, "mass_g": {"type": "number", "minimum": 0}},
    "required": ["success", "mass_g"],
    "additionalProperties": False,
}


def test_a_bad_answer_is_refused_a_lost_lease_is_told_and_ctrl_c_releases(
    broker: LocalBroker, start_chat: Any, tmp_path: Path, clock: Clock
) -> None:
    broker.add_capability(
        "mass",
        "balance",
        {"type": "object", "properties": {"sample": {"type": "string"}}},
        WEIGHING_RESULT,
    )
    task_file = tmp_path / "weigher.yaml"
    task_file.write_text(WEIGHING_FILE)
    chat: Session = start_chat(task_file, "weigher", "--lease", "3")
    api = chat.requester
    rid = api.submit_request(
        quantity="mass", methods=["balance"], parameters={"balance": {"sample": "vial 3"}}
    ).id
    chat.expect("Weigh vial 3 and type: done GRAMS")

    chat.say("done heavy")  # the template refuses it
    chat.expect("'heavy' is not a number")
    chat.expect("nothing was posted")
    chat.say("done -2")  # a number, but the result schema refuses it
    chat.expect("/data/mass_g")
    chat.expect("nothing was posted")
    assert api.request_results(rid) == []
    assert api.get_request(rid).status == "reserved"

    # The lease runs out (the broker's clock moves on): the person is told to stop.
    clock.advance(600)
    chat.expect(f"request {rid} is no longer yours")
    chat.say("done 3")
    chat.expect("no task to done")
    assert api.request_results(rid) == []

    second = api.submit_request(
        quantity="mass", methods=["balance"], parameters={"balance": {"sample": "vial 4"}}
    ).id
    chat.expect("Weigh vial 4 and type: done GRAMS")
    chat.say("help")
    chat.expect("release [reason]")
    chat.term.sendintr()  # Ctrl-C at the terminal
    assert chat.exit_status() == 0, chat.transcript()
    assert api.get_request(second).status == "pending"
    assert any("(Ctrl-C)" in m for m in _history_messages(api, second))
    assert api.request_results(second) == []


def test_a_bad_task_file_is_one_line_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "tenant: t\noffers:\n  - {quantity: q, method: m, task: '{{ y', done: {}, failed: {}}\n"
    )
    args = ["chat", "--file", str(bad), "--server", "http://127.0.0.1:9", "--api-key", "k"]
    done = subprocess.run(
        [sys.executable, "-m", "finales.cli", *args],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert done.returncode == 1
    [line] = done.stderr.splitlines()
    assert re.search(r"^error: .*bad\.yaml: /offers/0/task: ", line), line
