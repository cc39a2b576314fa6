"""Routes /tenants: register, list, read, and PUT offers (with limitations checked)."""

from __future__ import annotations

import uuid

from tests.conftest import LIMITS_A, LIMITS_B, ErrorCheck, Lab, params


def offer(method: str = "two_electrode", limitations: object = None) -> dict:
    return {
        "quantity": "conductivity",
        "method": method,
        "limitations": LIMITS_A if limitations is None else limitations,
    }


def test_add_tenant(lab: Lab) -> None:
    body = {"name": "tenant-c", "description": "a third robot", "contact": "c@example.org"}
    r = lab.admin.post("/tenants", json=body)
    assert r.status_code == 201, r.text
    t = r.json()
    assert uuid.UUID(t["id"])
    assert (t["name"], t["description"], t["contact"]) == (
        "tenant-c",
        "a third robot",
        "c@example.org",
    )
    assert t["offers"] == []
    got = lab.reader.get(f"/tenants/{t['id']}")
    assert got.status_code == 200
    assert got.json() == t
    # a principal can now be bound to it
    r = lab.admin.post("/users", json={"name": "bot-c", "role": "tenant", "tenant_id": t["id"]})
    assert r.status_code == 201, r.text


def test_add_tenant_errors(lab: Lab, expect_error: ErrorCheck) -> None:
    r = lab.admin.post("/tenants", json={"name": "tenant-a"})
    body = expect_error(r, 409, code="conflict")
    assert "tenant-a" in body["detail"]
    for bad, pointer in [
        ({"name": "no/slashes"}, "/name"),
        ({"name": ""}, "/name"),
        ({"name": "x" * 201}, "/name"),
        ({}, "/name"),
        ({"name": "ok", "tenant_uuid": "x"}, "/tenant_uuid"),
        ({"name": "ok", "description": 5}, "/description"),
    ]:
        expect_error(lab.admin.post("/tenants", json=bad), 422, pointer=pointer)
    for who in ("a", "reader", "archiver"):
        expect_error(
            lab.client(who).post("/tenants", json={"name": "rogue"}), 403, code="forbidden"
        )
    names = [t["name"] for t in lab.reader.get("/tenants").json()]
    assert sorted(names) == ["tenant-a", "tenant-b"]


def test_list_and_get_tenants(lab: Lab, expect_error: ErrorCheck) -> None:
    for who in ("reader", "a", "archiver", "admin"):
        r = lab.client(who).get("/tenants")
        assert r.status_code == 200, r.text
        by_name = {t["name"]: t for t in r.json()}
        assert set(by_name) == {"tenant-a", "tenant-b"}
    assert by_name["tenant-a"]["id"] == lab.tenant_a
    assert by_name["tenant-a"]["offers"] == [offer(limitations=LIMITS_A)]
    b_methods = sorted(o["method"] for o in by_name["tenant-b"]["offers"])
    assert b_methods == ["molecular_dynamics", "two_electrode"]

    r = lab.b.get(f"/tenants/{lab.tenant_a}")
    assert r.status_code == 200
    assert r.json()["name"] == "tenant-a"
    assert r.json()["offers"][0]["limitations"] == LIMITS_A

    expect_error(lab.reader.get(f"/tenants/{uuid.uuid4()}"), 404, code="not_found")


def test_put_offers(lab: Lab) -> None:
    wide = {"temperature": [{"min": 200, "max": 400}], "fraction": [{"min": 0, "max": 1}]}
    r = lab.a.put(f"/tenants/{lab.tenant_a}/offers", json=[offer(limitations=wide)])
    assert r.status_code == 200, r.text
    assert r.json()["offers"] == [offer(limitations=wide)]
    assert lab.reader.get(f"/tenants/{lab.tenant_a}").json()["offers"] == [offer(limitations=wide)]

    # the new limitations decide what work tenant-a gets
    req = lab.post_request(p=params(fraction=0.9))
    assert [w["id"] for w in lab.a.get("/work").json()] == [req["id"]]

    # a second principal of the same tenant may set them too
    r = lab.a2.put(
        f"/tenants/{lab.tenant_a}/offers",
        json=[offer(limitations=LIMITS_A), offer("molecular_dynamics", {})],
    )
    assert r.status_code == 200, r.text
    assert [o["method"] for o in r.json()["offers"]] == ["two_electrode", "molecular_dynamics"]
    assert lab.a.get("/work").json() == []

    # an admin may set any tenant's offers, including none
    r = lab.admin.put(f"/tenants/{lab.tenant_b}/offers", json=[])
    assert r.status_code == 200, r.text
    assert r.json()["offers"] == []
    assert lab.b.get("/work").json() == []

    # limitations as a list of alternatives, and an empty object (no restriction)
    alternatives = [{"fraction": [{"max": 0.2}]}, {"fraction": [0.9]}]
    r = lab.admin.put(f"/tenants/{lab.tenant_b}/offers", json=[offer(limitations=alternatives)])
    assert r.status_code == 200, r.text
    assert [w["id"] for w in lab.b.get("/work").json()] == [req["id"]]


def test_put_offers_forbidden(lab: Lab, expect_error: ErrorCheck) -> None:
    before = lab.reader.get(f"/tenants/{lab.tenant_a}").json()["offers"]
    r = lab.b.put(f"/tenants/{lab.tenant_a}/offers", json=[offer(limitations=LIMITS_B)])
    expect_error(r, 403, code="forbidden")
    for who in ("reader", "archiver"):
        r = lab.client(who).put(f"/tenants/{lab.tenant_a}/offers", json=[offer()])
        expect_error(r, 403, code="forbidden")
    assert lab.reader.get(f"/tenants/{lab.tenant_a}").json()["offers"] == before
    r = lab.admin.put(f"/tenants/{uuid.uuid4()}/offers", json=[offer()])
    expect_error(r, 404, code="not_found")


def test_put_offers_invalid(lab: Lab, expect_error: ErrorCheck) -> None:
    url = f"/tenants/{lab.tenant_a}/offers"
    before = lab.reader.get(f"/tenants/{lab.tenant_a}").json()["offers"]

    r = lab.a.put(url, json=[offer("nmr")])
    expect_error(r, 422, code="invalid_payload", pointer="/0/method")
    r = lab.a.put(url, json=[offer(), {**offer(), "quantity": "density"}])
    expect_error(r, 422, code="invalid_payload", pointer="/1/method")

    r = lab.a.put(url, json=[offer(limitations={"bogus": [1]})])
    expect_error(r, 422, code="invalid_payload", pointer="/0/limitations/bogus")
    r = lab.admin.put(url, json=[offer(limitations={"temperature": [{"min": 5, "max": 1}]})])
    expect_error(r, 422, pointer="/0/limitations/temperature/0/min")
    r = lab.a.put(url, json=[offer(limitations={"solvent": [{"min": 1}]})])
    expect_error(r, 422, pointer="/0/limitations/solvent/0")
    r = lab.a.put(url, json=[offer(limitations={"fraction": "lots"})])
    expect_error(r, 422, pointer="/0/limitations/fraction")
    r = lab.a.put(url, json=[offer(), offer()])
    expect_error(r, 422, pointer="/1")

    r = lab.a.put(url, json=[{"quantity": "conductivity"}])
    expect_error(r, 422, pointer="/0/method")
    r = lab.a.put(url, json=[{**offer(), "tenant_id": lab.tenant_b}])
    expect_error(r, 422, pointer="/0/tenant_id")
    r = lab.a.put(url, json=offer())
    expect_error(r, 422)

    assert lab.reader.get(f"/tenants/{lab.tenant_a}").json()["offers"] == before
