"""Workflows on the broker: labels on requests, trees (GET /requests/{id}/tree, ?root=), the
retract cascade and inputs - on both databases."""

from __future__ import annotations

from typing import Any

from finales.domain.workflows import MAX_TREE_DEPTH
from tests.conftest import ErrorCheck, Lab


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
