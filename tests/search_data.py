"""Results for the search tests: capabilities of the built-in library registered at runtime
(as an admin would), so that the results' values carry ontology classes and units."""

from __future__ import annotations

import copy
from typing import Any

from finales.capabilities import get as builtin
from finales.capabilities.examples import EC, EMC, EXAMPLES, LIPF6
from tests.conftest import Lab

CONDUCTIVITY = ("conductivity", "polynomial_interpolation")
DENSITY = ("density", "vibrating_tube_densimetry")
IONIC_CONDUCTIVITY_IRI = (
    "https://w3id.org/emmo/domain/electrochemistry#"
    "electrochemistry_25dabdc2_68bf_4a38_8cbe_11be017358bc"
)
COUNT_RESULTS = (
    "PREFIX finales: <urn:finales:vocab#> "
    "SELECT (COUNT(DISTINCT ?r) AS ?n) WHERE { ?r a finales:Result }"
)


def formulation(x_li: float) -> list[dict[str, Any]]:
    parts = [(LIPF6, x_li), (EC, 0.3), (EMC, round(0.7 - x_li, 6))]
    return [{"chemical": dict(c), "fraction": f, "fraction_type": "molPerMol"} for c, f in parts]


def body(
    pair: tuple[str, str], *, x_li: float, temperature_k: float, value: float
) -> dict[str, Any]:
    example = copy.deepcopy(EXAMPLES[pair])
    params = {"formulation": formulation(x_li), "temperature": temperature_k}
    data = example["result"]
    data["run_info"]["formulation"] = formulation(x_li)
    data[pair[0]]["values"] = [value]
    data[pair[0]]["temperature"] = temperature_k
    return {"quantity": pair[0], "method": pair[1], "parameters": params, "data": data}


def register(lab: Lab, pair: tuple[str, str]) -> None:
    cap = builtin(*pair)
    r = lab.admin.post(
        "/capabilities",
        json={
            "quantity": pair[0],
            "method": pair[1],
            "request_schema": cap.request_schema(),
            "result_schema": cap.result_schema(),
        },
    )
    assert r.status_code == 201, r.text


def post(lab: Lab, who: str, pair: tuple[str, str], **kw: Any) -> dict[str, Any]:
    r = lab.client(who).post("/results", json=body(pair, **kw))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def populate_search(lab: Lab) -> dict[str, dict[str, Any]]:
    """Two capabilities of the library and five results: four conductivities at LiPF6
    fractions 0.05, 0.09, 0.12 and 0.2 (tenants a and b, 20-40 °C), one density."""
    register(lab, CONDUCTIVITY)
    register(lab, DENSITY)
    return {
        "c05": post(lab, "a", CONDUCTIVITY, x_li=0.05, temperature_k=293.15, value=0.61),
        "c09": post(lab, "a", CONDUCTIVITY, x_li=0.09, temperature_k=298.15, value=0.86),
        "c12": post(lab, "b", CONDUCTIVITY, x_li=0.12, temperature_k=303.15, value=0.93),
        "c20": post(lab, "b", CONDUCTIVITY, x_li=0.20, temperature_k=313.15, value=0.71),
        "d09": post(lab, "a", DENSITY, x_li=0.09, temperature_k=298.15, value=1.2),
    }
