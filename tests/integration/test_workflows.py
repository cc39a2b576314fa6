"""Workflows on the broker: labels on requests, trees (GET /requests/{id}/tree, ?root=), the
retract cascade and inputs - on both databases."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finales.domain.workflows import MAX_TREE_DEPTH
from tests.conftest import Clock, ErrorCheck, Lab, local_broker, populate


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["id"] for i in items]


def listing(lab: Lab, **query: Any) -> list[dict[str, Any]]:
    r = lab.reader.get("/requests", params=query)
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------ labels


def test_labels_stored_returned_and_filtered(lab: Lab) -> None:
    step = {"workflow_step": "mix", "index": "0", "attempt": "1"}
    first = lab.post_request(labels=step)
    second = lab.post_request(labels={**step, "index": "1"})
    plain = lab.post_request()
    assert first["labels"] == step
    assert plain["labels"] == {}
    assert lab.reader.get(f"/requests/{second['id']}").json()["labels"]["index"] == "1"

    assert ids(listing(lab, label="workflow_step:mix")) == [first["id"], second["id"]]
    # Repeated: all of them (AND).
    both = listing(lab, label=["workflow_step:mix", "index:1"])
    assert ids(both) == [second["id"]]
    assert listing(lab, label=["workflow_step:mix", "index:2"]) == []
    # The value may contain the separator: the key ends at the first ':'.
    odd = lab.post_request(labels={"note": "a:b"})
    assert ids(listing(lab, label="note:a:b")) == [odd["id"]]

    # The work hand-out carries them.
    items = lab.a.get("/work", params={"limit": 100}).json()
    assert {i["id"]: i["labels"] for i in items}[first["id"]] == step

    # And the SDK.
    client = lab.broker.client(api_key=lab.keys["a"])
    made = client.submit_request(
        "conductivity",
        ["two_electrode"],
        {"two_electrode": {"temperature": 300.0, "fraction": 0.1}},
        labels={"workflow_step": "sdk"},
    )
    found = client.list_requests(labels={"workflow_step": "sdk"}).items
    assert [r.id for r in found] == [made.id]
    assert found[0].labels == {"workflow_step": "sdk"}


def test_labels_refused_naming_the_key(lab: Lab, expect_error: ErrorCheck) -> None:
    base = {
        "quantity": "conductivity",
        "methods": ["two_electrode"],
        "parameters": {"two_electrode": {"temperature": 300.0, "fraction": 0.1}},
    }
    cases = [
        ({"a/b": "x"}, "/labels/a~1b"),
        ({"a:b": "x"}, "/labels/a:b"),
        ({"k": "x" * 201}, "/labels/k"),
        ({f"k{i}": "v" for i in range(17)}, "/labels"),
        ({"k": 1}, "/labels/k"),
    ]
    for labels, pointer in cases:
        r = lab.a.post("/requests", json={**base, "labels": labels})
        expect_error(r, 422, code="invalid_payload", pointer=pointer)
    r = lab.reader.get("/requests", params={"label": "nocolon"})
    expect_error(r, 422, pointer="/label")


# ------------------------------------------------------------------------------ trees


def make_tree(lab: Lab) -> dict[str, Any]:
    """root -> c0, c1, c2; c0 -> g0, g1; c1 -> g2; g0 -> h0 (8 requests, depth 3)."""
    root = lab.post_request(who="a")
    made: dict[str, Any] = {"root": root}
    for i in range(3):
        made[f"c{i}"] = lab.post_request(who="a", parent_request_id=root["id"])
    for i, parent in enumerate(("c0", "c0", "c1")):
        made[f"g{i}"] = lab.post_request(who="a", parent_request_id=made[parent]["id"])
    made["h0"] = lab.post_request(who="a", parent_request_id=made["g0"]["id"])
    return made


def test_tree_pages_by_depth_then_creation(lab: Lab, expect_error: ErrorCheck) -> None:
    made = make_tree(lab)
    lab.post_request(who="a")  # another tree, not part of this one
    assert lab.claim(made["c1"]["id"], "a").status_code == 200
    res = lab.post_result(made["c1"]["id"], who="a").json()

    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        q: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = lab.reader.get(f"/requests/{made['root']['id']}/tree", params=q)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= 3
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    order = ["root", "c0", "c1", "c2", "g0", "g1", "g2", "h0"]
    assert ids(seen) == [made[k]["id"] for k in order]
    assert [n["depth"] for n in seen] == [0, 1, 1, 1, 2, 2, 2, 3]
    by_id = {n["id"]: n for n in seen}
    c1 = by_id[made["c1"]["id"]]
    assert c1["status"] == "resolved"
    assert c1["reserved_by"] == lab.tenant_a
    assert c1["result_ids"] == [res["id"]]
    assert c1["parent_request_id"] == made["root"]["id"]
    assert by_id[made["h0"]["id"]]["parent_request_id"] == made["g0"]["id"]
    assert {"labels", "created_at", "updated_at", "quantity", "methods"} <= set(c1)

    # A subtree, and the SDK following the cursor.
    client = lab.broker.client(api_key=lab.keys["reader"])
    sub = client.request_tree(made["c0"]["id"], page_size=2)
    assert [n.id for n in sub] == [made[k]["id"] for k in ("c0", "g0", "g1", "h0")]
    assert [n.depth for n in sub] == [0, 1, 1, 2]

    expect_error(lab.reader.get("/requests/nope/tree"), 404, code="not_found")
    bad = lab.reader.get(f"/requests/{made['root']['id']}/tree", params={"cursor": "zzz"})
    expect_error(bad, 422, pointer="/cursor")


def test_root_filter_lists_descendants_with_filters(lab: Lab) -> None:
    made = make_tree(lab)
    lab.post_request(who="a")  # elsewhere
    below = listing(lab, root=made["root"]["id"])
    expected = [made[k]["id"] for k in ("c0", "c1", "c2", "g0", "g1", "g2", "h0")]
    assert ids(below) == expected  # creation order, the root itself left out
    assert ids(listing(lab, root=made["c0"]["id"])) == [made[k]["id"] for k in ("g0", "g1", "h0")]
    assert lab.claim(made["g2"]["id"], "a").status_code == 200
    reserved = listing(lab, root=made["root"]["id"], status="reserved")
    assert ids(reserved) == [made["g2"]["id"]]
    paged = listing(lab, root=made["root"]["id"], limit=2)
    assert ids(paged) == expected[:2]
    client = lab.broker.client(api_key=lab.keys["reader"])
    assert [r.id for r in client.list_requests(root=made["c1"]["id"]).items] == [made["g2"]["id"]]
    assert listing(lab, root="unknown") == []


def test_tree_depth_is_bounded(lab: Lab, expect_error: ErrorCheck) -> None:
    chain = [lab.post_request(who="a")]
    for _ in range(MAX_TREE_DEPTH):
        chain.append(lab.post_request(who="a", parent_request_id=chain[-1]["id"]))
    r = lab.a.post(
        "/requests",
        json={
            "quantity": "conductivity",
            "methods": ["two_electrode"],
            "parameters": {"two_electrode": {"temperature": 300.0, "fraction": 0.1}},
            "parent_request_id": chain[-1]["id"],
        },
    )
    body = expect_error(r, 422, code="invalid_payload", pointer="/parent_request_id")
    assert str(MAX_TREE_DEPTH) in body["detail"]
    tree = lab.broker.client(api_key=lab.keys["reader"]).request_tree(chain[0]["id"])
    assert len(tree) == MAX_TREE_DEPTH + 1
    assert tree[-1].depth == MAX_TREE_DEPTH


# ------------------------------------------------------------------------------ cascade


def history(lab: Lab, request_id: str) -> list[dict[str, Any]]:
    return lab.reader.get(f"/requests/{request_id}/history").json()  # type: ignore[no-any-return]


def status(lab: Lab, request_id: str) -> str:
    return lab.reader.get(f"/requests/{request_id}").json()["status"]  # type: ignore[no-any-return]


def cascade_tree(lab: Lab) -> dict[str, str]:
    """root -> c0 (pending) -> g0 (reserved by b) -> h0 (pending, lease of its own elsewhere);
    root -> c1 (resolved) -> g1 (resolved); c1 -> g2 (pending, under a resolved branch)."""
    made: dict[str, str] = {"root": lab.post_request(who="a")["id"]}

    def child(name: str, parent: str) -> None:
        made[name] = lab.post_request(who="a", parent_request_id=made[parent])["id"]

    child("c0", "root")
    child("g0", "c0")
    child("h0", "g0")
    child("c1", "root")
    child("g1", "c1")
    child("g2", "c1")
    assert lab.claim(made["g0"], "b").status_code == 200
    for name in ("c1", "g1"):
        assert lab.claim(made[name], "a").status_code == 200
        assert lab.post_result(made[name], who="a").status_code == 201
    return made


def test_retract_cascades_to_open_descendants(lab: Lab, expect_error: ErrorCheck) -> None:
    made = cascade_tree(lab)
    r = lab.admin.post(f"/requests/{made['root']}/retract", json={"message": "budget cut"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "retracted"
    for name in ("c0", "g0", "h0", "g2"):
        assert status(lab, made[name]) == "retracted", name
        last = history(lab, made[name])[-1]
        assert last["message"] == f"retracted with its ancestor {made['root']}: budget cut"
        assert last["actor"] == "admin"
        assert last["to_status"] == "retracted"
    assert history(lab, made["g0"])[-1]["from_status"] == "reserved"
    for name in ("c1", "g1"):  # resolved: they stay
        assert status(lab, made[name]) == "resolved", name
    # The tenant holding g0 learns at its next heartbeat or result.
    expect_error(lab.b.post(f"/requests/{made['g0']}/heartbeat"), 409)
    expect_error(lab.post_result(made["g0"], who="b"), 409)
    # Retracting a subtree's top cascades only below it.
    other = cascade_tree(lab)
    assert lab.a.post(f"/requests/{other['c0']}/retract").status_code == 200
    assert [status(lab, other[k]) for k in ("root", "c0", "g0", "h0", "g2")] == [
        "pending",
        "retracted",
        "retracted",
        "retracted",
        "pending",
    ]
    assert history(lab, other["h0"])[-1]["message"] == f"retracted with its ancestor {other['c0']}"


def test_retract_cascade_through_the_finales2_door(lab: Lab) -> None:
    made = cascade_tree(lab)
    door = lab.root("a")
    r = door.post(
        f"/requests/{made['c0']}/update_status/",
        params={"new_status": "retracted", "status_change_message": "stop"},
    )
    assert r.status_code == 200, r.text
    assert status(lab, made["g0"]) == "retracted"
    assert history(lab, made["h0"])[-1]["message"] == (
        f"retracted with its ancestor {made['c0']}: stop"
    )
    assert history(lab, made["h0"])[-1]["actor"] == "bot-a"
    assert status(lab, made["root"]) == "pending"


def test_retract_cascade_expires_a_run_out_lease_first(lab: Lab) -> None:
    root = lab.post_request(who="a")["id"]
    child = lab.post_request(who="a", parent_request_id=root)["id"]
    assert lab.claim(child, "b", lease=5).status_code == 200
    lab.clock.advance(60)
    assert lab.a.post(f"/requests/{root}/retract").status_code == 200
    steps = [(e["from_status"], e["to_status"]) for e in history(lab, child)]
    assert steps[-2:] == [("reserved", "pending"), ("pending", "retracted")]


@pytest.fixture
def quiet_lab(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[Lab]:
    """Long-polls that re-check only every 30 s: a waiter woken sooner was woken by the
    changes the retracting unit of work published."""
    with local_broker(
        database_url, tmp_path, clock, long_poll_recheck_s=30.0
    ).start_in_process() as b:
        yield populate(b, clock)


def test_retract_cascade_wakes_result_waiters(quiet_lab: Lab) -> None:
    lab = quiet_lab
    root = lab.post_request(who="a")["id"]
    child = lab.post_request(who="a", parent_request_id=root)["id"]
    grandchild = lab.post_request(who="a", parent_request_id=child)["id"]
    got: dict[str, Any] = {}

    def wait() -> None:
        t0 = time.monotonic()
        r = lab.client("a2").get(f"/requests/{grandchild}/results", params={"wait": 20})
        got["elapsed"], got["body"] = time.monotonic() - t0, r.json()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)
    assert lab.a.post(f"/requests/{root}/retract").status_code == 200
    waiter.join(timeout=25)
    assert got["body"] == []
    assert got["elapsed"] < 10  # woken by the cascade, not by the 20 s deadline
