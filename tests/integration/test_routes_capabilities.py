"""Routes /capabilities: list, read (with ?version=), register (versions), (de)activate."""

from __future__ import annotations

import copy
from typing import Any

from tests.conftest import REQUEST_SCHEMA, RESULT_SCHEMA, ErrorCheck, Lab, params


def cap_body(quantity: str = "viscosity", method: str = "rheometer", **extra: Any) -> dict:
    return {
        "quantity": quantity,
        "method": method,
        "request_schema": copy.deepcopy(REQUEST_SCHEMA),
        "result_schema": copy.deepcopy(RESULT_SCHEMA),
        "description": "test capability",
        **extra,
    }


def test_list_and_get(lab: Lab, expect_error: ErrorCheck) -> None:
    for who in ("reader", "a", "archiver", "admin"):
        r = lab.client(who).get("/capabilities")
        assert r.status_code == 200, r.text
        pairs = {(c["quantity"], c["method"]) for c in r.json()}
        assert pairs == {("conductivity", "two_electrode"), ("conductivity", "molecular_dynamics")}
    caps = lab.reader.get("/capabilities").json()
    for c in caps:
        assert c["version"] == 1
        assert c["versions"] == [1]
        assert c["active"] is True
        assert c["request_schema"] == REQUEST_SCHEMA
        assert c["result_schema"] == RESULT_SCHEMA

    r = lab.reader.get("/capabilities", params={"method": "molecular_dynamics"})
    assert [c["method"] for c in r.json()] == ["molecular_dynamics"]
    assert lab.reader.get("/capabilities", params={"quantity": "nothing"}).json() == []

    r = lab.a.get("/capabilities/conductivity/two_electrode")
    assert r.status_code == 200, r.text
    assert (r.json()["quantity"], r.json()["method"]) == ("conductivity", "two_electrode")
    assert r.json()["request_schema"] == REQUEST_SCHEMA

    r = lab.reader.get("/capabilities/conductivity/nmr")
    body = expect_error(r, 404, code="not_found")
    assert "conductivity/nmr" in body["detail"]
    expect_error(lab.reader.get("/capabilities/density/two_electrode"), 404, code="not_found")
    r = lab.reader.get("/capabilities/conductivity/two_electrode", params={"version": 2})
    expect_error(r, 404, code="not_found")
    r = lab.reader.get("/capabilities/conductivity/two_electrode", params={"version": 0})
    expect_error(r, 422, pointer="/version")


def test_register_versions(lab: Lab) -> None:
    r = lab.admin.post("/capabilities", json=cap_body())
    assert r.status_code == 201, r.text
    v1 = r.json()
    assert (v1["quantity"], v1["method"], v1["version"]) == ("viscosity", "rheometer", 1)
    assert v1["versions"] == [1]
    assert v1["active"] is True
    assert v1["description"] == "test capability"

    # the same body again adds no version
    r = lab.admin.post("/capabilities", json=cap_body())
    assert r.status_code in (200, 201), r.text
    assert r.json()["version"] == 1
    assert r.json()["id"] == v1["id"]
    assert lab.reader.get("/capabilities/viscosity/rheometer").json()["versions"] == [1]

    # a changed schema makes version 2
    schema2 = copy.deepcopy(REQUEST_SCHEMA)
    schema2["properties"]["pressure"] = {"type": "number"}
    r = lab.admin.post("/capabilities", json=cap_body(request_schema=schema2))
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["version"] == 2
    assert v2["versions"] == [1, 2]
    assert v2["id"] != v1["id"]
    assert v2["request_schema"] == schema2

    # a changed result schema makes version 3
    result3 = copy.deepcopy(RESULT_SCHEMA)
    result3["required"] = ["conductivity", "success"]
    r = lab.admin.post(
        "/capabilities", json=cap_body(request_schema=schema2, result_schema=result3)
    )
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 3

    latest = lab.reader.get("/capabilities/viscosity/rheometer").json()
    assert latest["version"] == 3
    assert latest["versions"] == [1, 2, 3]
    old = lab.reader.get("/capabilities/viscosity/rheometer", params={"version": 1}).json()
    assert old["version"] == 1
    assert old["id"] == v1["id"]
    assert "pressure" not in old["request_schema"]["properties"]
    mid = lab.reader.get("/capabilities/viscosity/rheometer", params={"version": 2}).json()
    assert "pressure" in mid["request_schema"]["properties"]

    listed = {(c["quantity"], c["method"]): c for c in lab.reader.get("/capabilities").json()}
    assert listed[("viscosity", "rheometer")]["version"] == 3
    assert listed[("viscosity", "rheometer")]["versions"] == [1, 2, 3]

    # requests are validated against the latest version: "pressure" is known now
    r = lab.admin.post(
        "/requests",
        json={
            "quantity": "viscosity",
            "methods": ["rheometer"],
            "parameters": {"rheometer": params(pressure=1.0)},
        },
    )
    assert r.status_code == 201, r.text


def test_register_invalid(lab: Lab, expect_error: ErrorCheck) -> None:
    bad_type = copy.deepcopy(REQUEST_SCHEMA)
    bad_type["properties"]["temperature"]["type"] = "kelvin"
    body = expect_error(
        lab.admin.post("/capabilities", json=cap_body(request_schema=bad_type)),
        422,
        code="invalid_payload",
    )
    pointers = [e["pointer"] for e in body["errors"]]
    assert pointers and all(p.startswith("/request_schema") for p in pointers), body

    r = lab.admin.post(
        "/capabilities", json=cap_body(result_schema={"type": "object", "required": 5})
    )
    body = expect_error(r, 422, code="invalid_payload")
    assert all(e["pointer"].startswith("/result_schema") for e in body["errors"]), body

    r = lab.admin.post("/capabilities", json=cap_body(request_schema={"type": "array"}))
    expect_error(r, 422, code="invalid_payload", pointer="/request_schema/type")

    for missing in ("quantity", "method", "request_schema", "result_schema"):
        b = cap_body()
        del b[missing]
        expect_error(lab.admin.post("/capabilities", json=b), 422, pointer=f"/{missing}")
    expect_error(
        lab.admin.post("/capabilities", json=cap_body(quantity="bad/quantity")),
        422,
        pointer="/quantity",
    )
    expect_error(lab.admin.post("/capabilities", json=cap_body(version=7)), 422, pointer="/version")

    # nothing was registered
    assert lab.reader.get("/capabilities", params={"quantity": "viscosity"}).json() == []


def test_register_needs_admin(lab: Lab, expect_error: ErrorCheck) -> None:
    for who in ("a", "b", "reader", "archiver"):
        r = lab.client(who).post("/capabilities", json=cap_body())
        expect_error(r, 403, code="forbidden")
    # nor may a tenant add a version to an existing pair
    changed = cap_body("conductivity", "two_electrode", description="hijacked")
    expect_error(lab.a.post("/capabilities", json=changed), 403, code="forbidden")
    assert lab.reader.get("/capabilities", params={"quantity": "viscosity"}).json() == []
    cap = lab.reader.get("/capabilities/conductivity/two_electrode").json()
    assert cap["versions"] == [1]


def test_deactivate_and_activate(lab: Lab, expect_error: ErrorCheck) -> None:
    r = lab.admin.post(
        "/capabilities/conductivity/two_electrode/deactivate", json={"message": "broken cell"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False

    assert lab.reader.get("/capabilities/conductivity/two_electrode").json()["active"] is False
    inactive = lab.reader.get("/capabilities", params={"active": False}).json()
    assert [(c["quantity"], c["method"]) for c in inactive] == [("conductivity", "two_electrode")]
    active = lab.reader.get("/capabilities", params={"active": True}).json()
    assert [c["method"] for c in active] == ["molecular_dynamics"]

    # a request for a deactivated capability is refused, naming the method
    body = {
        "quantity": "conductivity",
        "methods": ["two_electrode"],
        "parameters": {"two_electrode": params()},
    }
    r = lab.admin.post("/requests", json=body)
    expect_error(r, 422, code="invalid_payload", pointer="/methods/0")
    multi = {
        "quantity": "conductivity",
        "methods": ["molecular_dynamics", "two_electrode"],
        "parameters": {"molecular_dynamics": params(), "two_electrode": params()},
    }
    expect_error(lab.a.post("/requests", json=multi), 422, pointer="/methods/1")

    # deactivating twice is harmless
    r = lab.admin.post("/capabilities/conductivity/two_electrode/deactivate")
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False

    r = lab.admin.post("/capabilities/conductivity/two_electrode/activate")
    assert r.status_code == 200, r.text
    assert r.json()["active"] is True
    assert lab.admin.post("/requests", json=body).status_code == 201


def test_deactivated_capability_hides_existing_work(lab: Lab) -> None:
    req = lab.post_request()
    assert [w["id"] for w in lab.a.get("/work").json()] == [req["id"]]
    lab.admin.post("/capabilities/conductivity/two_electrode/deactivate")
    assert lab.a.get("/work").json() == []
    # the request itself is kept
    assert lab.reader.get(f"/requests/{req['id']}").json()["status"] == "pending"
    lab.admin.post("/capabilities/conductivity/two_electrode/activate")
    assert [w["id"] for w in lab.a.get("/work").json()] == [req["id"]]


def test_activate_errors(lab: Lab, expect_error: ErrorCheck) -> None:
    for action in ("deactivate", "activate"):
        url = f"/capabilities/conductivity/two_electrode/{action}"
        for who in ("a", "reader", "archiver"):
            expect_error(lab.client(who).post(url), 403, code="forbidden")
        r = lab.admin.post(f"/capabilities/conductivity/nmr/{action}")
        expect_error(r, 404, code="not_found")
        r = lab.admin.post(url, json={"message": "x", "extra": 1})
        expect_error(r, 422, pointer="/extra")
    # the tenants' attempts changed nothing
    assert lab.reader.get("/capabilities/conductivity/two_electrode").json()["active"] is True
