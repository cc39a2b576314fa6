"""A lab with a built-in capability of the library (annotated with concepts and units) and
a result of it: what the JSON-LD tests need beyond the seeded lab."""

from __future__ import annotations

from typing import Any

from finales.capabilities import EXAMPLES, get
from tests.conftest import Lab

QM = ("density", "vibrating_tube_densimetry")


def register_builtin(lab: Lab) -> dict[str, Any]:
    """The library's density / vibrating_tube_densimetry, served by tenant b."""
    cap = get(*QM)
    body = {
        "quantity": cap.quantity,
        "method": cap.method,
        "request_schema": cap.request_schema(),
        "result_schema": cap.result_schema(),
    }
    r = lab.admin.post("/capabilities", json=body)
    assert r.status_code == 201, r.text
    offers = lab.admin.get(f"/tenants/{lab.tenant_b}").json()["offers"]
    offers.append({"quantity": QM[0], "method": QM[1], "limitations": {}})
    assert lab.admin.put(f"/tenants/{lab.tenant_b}/offers", json=offers).status_code == 200
    return r.json()  # type: ignore[no-any-return]


def measured(lab: Lab) -> tuple[str, str]:
    example = EXAMPLES[QM]
    body = {"quantity": QM[0], "methods": [QM[1]], "parameters": {QM[1]: example["request"]}}
    req = lab.a.post("/requests", json=body)
    assert req.status_code == 201, req.text
    rid = req.json()["id"]
    assert lab.claim(rid, "b").status_code == 200
    res = lab.b.post(
        "/results",
        json={
            "request_id": rid,
            "quantity": QM[0],
            "method": QM[1],
            "parameters": example["request"],
            "data": example["result"],
        },
    )
    assert res.status_code == 201, res.text
    return rid, res.json()["id"]
