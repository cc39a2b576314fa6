"""The search graph stays equal to the database when results arrive elsewhere: through another
server process on the same database, and (PostgreSQL) in transactions that commit out of the
order of their event numbers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finales.db.engine import Database
from finales.domain.principals import Principal, Role
from finales.domain.validation import ValidatorCache
from finales.services import results
from finales.services.unit_of_work import Transactions
from finales.testing import LocalBroker
from tests.conftest import Clock, Lab
from tests.search_data import CONDUCTIVITY, body, populate_search, post


@pytest.fixture
def second_server(served_lab: Lab, tmp_path: Path, clock: Clock) -> Iterator[LocalBroker]:
    """A second server on the lab's very database, with its own app state and graph, as a
    second server process has (``finales serve --workers 2`` on PostgreSQL)."""
    url = served_lab.broker.state.db.url
    with LocalBroker(tmp_path / "second", database_url=url, clock=clock) as other:
        yield other


def _found(broker: LocalBroker, key: str, **params: Any) -> set[str]:
    with broker.http({"Authorization": f"Bearer {key}"}) as http:
        r = http.get("/search", params=params)
    assert r.status_code == 200, r.text
    return {h["id"] for h in r.json()["items"]}


def test_each_server_sees_results_posted_through_the_other(
    served_lab: Lab, second_server: LocalBroker
) -> None:
    lab = served_lab
    posted = populate_search(lab)
    key = lab.keys["reader"]
    everything = {p["id"] for p in posted.values()}
    assert _found(second_server, key) == everything  # built from the database
    assert _found(lab.broker, key) == everything
    late = post(lab, "b", CONDUCTIVITY, x_li=0.1, temperature_k=298.15, value=1.05)
    assert late["id"] in _found(second_server, key, where="ionic conductivity:1..1.1 S/m")
    fixed = body(CONDUCTIVITY, x_li=0.1, temperature_k=298.15, value=0.99)["data"]
    amended = lab.b.post(f"/results/{late['id']}/amend", json={"data": fixed}).json()
    assert _found(second_server, key, where="ionic conductivity:0.95..1.1 S/m") == {amended["id"]}
    assert lab.admin.post(f"/results/{amended['id']}/delete", json={}).status_code == 200
    assert _found(second_server, key, where="ionic conductivity:0.95..1.1 S/m") == set()


# PostgreSQL only: SQLite runs one write transaction at a time, so events commit in order.
@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_transaction_committing_after_a_later_one_is_not_skipped(served_lab: Lab) -> None:
    lab = served_lab
    populate_search(lab)
    key = lab.keys["reader"]
    assert len(_found(lab.broker, key)) == 5
    me = lab.a.get("/auth/me").json()
    robot = Principal(id=me["id"], name=me["name"], role=Role.TENANT, tenant_id=lab.tenant_a)
    slow = body(CONDUCTIVITY, x_li=0.11, temperature_k=298.15, value=0.42)
    inserted, release = threading.Event(), threading.Event()
    out: dict[str, Any] = {}
    db = Database(lab.broker.state.db.url)

    def post_slowly() -> None:
        with Transactions(db).write() as uow:
            out["result"] = results.post_result(
                uow,
                principal=robot,
                request_id=None,
                validators=ValidatorCache(),
                **slow,
            )
            inserted.set()
            release.wait(30)  # hold the transaction open: its event number is taken

    writer = threading.Thread(target=post_slowly)
    writer.start()
    try:
        assert inserted.wait(30)
        # A later-numbered result commits first, and a search sees it...
        quick = post(lab, "b", CONDUCTIVITY, x_li=0.11, temperature_k=298.15, value=0.43)
        assert _found(lab.broker, key, where="ionic conductivity:0.4..0.45 S/m") == {quick["id"]}
    finally:
        release.set()
        writer.join(30)
        db.dispose()
    # ...and the earlier-numbered one, committed now, is still found.
    found = _found(lab.broker, key, where="ionic conductivity:0.4..0.45 S/m")
    assert found == {quick["id"], out["result"].id}
