"""A full lifecycle never updates or deletes record or event rows; the projections it does
update match a rebuild from the events."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event

from finales.db.tables import EVENT_TABLES, PROJECTION_TABLES, RECORD_TABLES
from finales.services.integrity import projection_mismatches
from tests.conftest import Lab

WRITE = re.compile(r"^\s*(UPDATE|DELETE\s+FROM)\s+\"?(\w+)\"?", re.IGNORECASE)


def test_lifecycle_is_append_only(lab: Lab) -> None:
    statements: list[str] = []
    engine = lab.broker.state.db.engine

    def capture(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        req = lab.post_request(methods=("two_electrode", "molecular_dynamics"))
        assert lab.claim(req["id"], "a", lease=5).status_code == 200
        assert lab.a.post(f"/requests/{req['id']}/heartbeat").status_code == 200
        lab.clock.advance(600)
        assert lab.claim(req["id"], "b").status_code == 200
        assert (
            lab.b.post(f"/requests/{req['id']}/release", json={"message": "x"}).status_code == 200
        )
        assert lab.claim(req["id"], "a").status_code == 200
        res = lab.post_result(req["id"], who="a").json()
        new = lab.a.post(f"/results/{res['id']}/amend", json={"data": {"conductivity": 1.0}})
        assert lab.a.post(f"/results/{new.json()['id']}/delete").status_code == 200
        lab.post_result(None, who="b")
        other = lab.post_request()
        assert lab.admin.post(f"/requests/{other['id']}/retract").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", capture)

    targets = {m.group(2).lower() for s in statements if (m := WRITE.match(s))}
    assert targets, "the lifecycle should have updated the projections"
    assert targets <= set(PROJECTION_TABLES), targets
    assert not targets & (set(RECORD_TABLES) | set(EVENT_TABLES))
    with lab.broker.state.db.read() as s:
        assert projection_mismatches(s) == []
