"""Waiting long-polls learn of changes this server process did not make itself.

A waiting ``GET /work`` does not re-query on a timer; changes written to the database by
someone else (another server process, the CLI) reach it through the change watcher
(``finales.server.wakeups``), which looks every ``long_poll_recheck_s`` (0.5 s here).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from finales.domain.views import OfferView
from finales.services import auth, tenants
from finales.services import requests as request_svc
from finales.services.unit_of_work import Transactions
from tests.conftest import LIMITS_B, Lab, params

WAIT_S = 20.0
WOKEN_WITHIN_S = 8.0  # generous for a loaded machine; the watcher looks every 0.5 s


def _poll(lab: Lab, who: str, out: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        headers = {"Authorization": f"Bearer {lab.keys[who]}"}
        with lab.broker.http(headers) as c:
            started = time.monotonic()
            out["response"] = c.get("/work", params={"wait": WAIT_S})
            out["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.7)  # let it reach its wait
    assert thread.is_alive(), "the long-poll returned before there was work"
    return thread


def test_request_written_elsewhere_wakes_the_poll(lab: Lab) -> None:
    out: dict[str, Any] = {}
    poll = _poll(lab, "a", out)
    posted = time.monotonic()
    # As another server process would: a unit of work that publishes to nobody here.
    with Transactions(lab.broker.state.db).write() as uow:
        req = request_svc.submit_request(
            uow,
            principal=auth.get_principal_by_name(uow.conn, "admin"),
            quantity="conductivity",
            methods=["two_electrode"],
            parameters={"two_electrode": params()},
            validators=lab.broker.state.validators,
        )
    poll.join(timeout=WAIT_S + 10)
    assert [w["id"] for w in out["response"].json()] == [req.id]
    assert time.monotonic() - posted < WOKEN_WITHIN_S


def test_offers_changed_elsewhere_wake_the_poll(lab: Lab) -> None:
    wide = lab.post_request(p=params(temperature=350.0))  # outside tenant-a's limitations
    out: dict[str, Any] = {}
    poll = _poll(lab, "a", out)
    changed = time.monotonic()
    with Transactions(lab.broker.state.db).write() as uow:  # as the CLI would
        tenants.set_offers(
            uow,
            principal=auth.get_principal_by_name(uow.conn, "admin"),
            tenant_id=lab.tenant_a,
            offers=[OfferView("conductivity", "two_electrode", LIMITS_B)],
        )
    poll.join(timeout=WAIT_S + 10)
    assert [w["id"] for w in out["response"].json()] == [wide["id"]]
    assert time.monotonic() - changed < WOKEN_WITHIN_S
